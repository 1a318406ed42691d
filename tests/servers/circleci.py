"""A CircleCI API v2 stand-in on loopback: an in-memory project the tests can change.

It serves the four endpoints the collector uses, with CircleCI's ``{items,
next_page_token}`` envelope, newest-first pipelines, the ``Circle-Token`` check, and a
request log (`requests_to`) so tests can count what a poll cost. Items are built in the
shape of the real recordings in shared/fixtures/circleci.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import LoopbackServer, Reply, Request

TOKEN = "circle-test-token-abcdef0123456789"
API_PREFIX = "/api/v2"

_PIPELINES = re.compile(r"^/project/(?P<slug>[^/]+/[^/]+/[^/]+)/pipeline$")
_JOB_DETAILS = re.compile(r"^/project/(?P<slug>[^/]+/[^/]+/[^/]+)/job/(?P<number>\d+)$")
_WORKFLOWS = re.compile(r"^/pipeline/(?P<id>[^/]+)/workflow$")
_JOBS = re.compile(r"^/workflow/(?P<id>[^/]+)/job$")
_ALIASES = {"github": "gh", "bitbucket": "bb"}


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ids(seed: str) -> str:
    """A stable UUID for a readable seed, so tests can name workflows and jobs."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, seed))


class CircleCIWorld:
    """One project's pipelines, workflows and jobs, and the server that shows them."""

    def __init__(self, slug: str = "gh/acme/widgets", page_size: int = 2) -> None:
        self.slug = slug
        self.page_size = page_size
        self.pipelines: list[dict[str, Any]] = []
        self.workflows: dict[str, list[dict[str, Any]]] = {}
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.job_details: dict[int, dict[str, Any]] = {}
        self.faults: list[Reply] = []
        self.broken: dict[str, bytes] = {}
        self.slow: dict[str, float] = {}
        """Seconds to stall before answering any path containing the key."""
        self._job_number = 0
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    # ---- building the world ---------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.server.url + API_PREFIX

    def add_pipeline(
        self, number: int, created: datetime, branch: str = "main", state: str = "created"
    ) -> dict[str, Any]:
        _, org, name = self.slug.split("/")
        pipeline = {
            "id": ids(f"pipeline-{number}"),
            "errors": [],
            "project_slug": self.slug,
            "updated_at": iso(created),
            "number": number,
            "state": state,
            "created_at": iso(created),
            "trigger": {
                "received_at": iso(created - timedelta(milliseconds=180)),
                "type": "webhook",
                "actor": {"login": "octocat", "avatar_url": "https://avatars.example/u/1?v=4"},
            },
            "vcs": {
                "origin_repository_url": f"https://github.com/{org}/{name}",
                "target_repository_url": f"https://github.com/{org}/{name}",
                "revision": f"{number:040x}",
                "provider_name": "GitHub",
                "commit": {"body": "", "subject": f"change {number}"},
                "branch": branch,
            },
        }
        self.pipelines.append(pipeline)
        self.pipelines.sort(key=lambda p: p["created_at"], reverse=True)
        self.workflows[pipeline["id"]] = []
        return pipeline

    def add_workflow(
        self,
        pipeline: dict[str, Any],
        seed: str,
        name: str,
        status: str,
        created: datetime,
        stopped: datetime | None,
    ) -> dict[str, Any]:
        workflow = {
            "pipeline_id": pipeline["id"],
            "id": ids(seed),
            "name": name,
            "project_slug": self.slug,
            "status": status,
            "started_by": ids("user-octocat"),
            "pipeline_number": pipeline["number"],
            "created_at": iso(created),
            "stopped_at": iso(stopped) if stopped else None,
        }
        self.workflows[pipeline["id"]].append(workflow)
        self.jobs[workflow["id"]] = []
        return workflow

    def add_job(
        self,
        workflow: dict[str, Any],
        name: str,
        status: str,
        started: datetime | None,
        stopped: datetime | None,
        kind: str = "build",
    ) -> dict[str, Any]:
        job: dict[str, Any] = {
            "dependencies": [job["id"] for job in self.jobs[workflow["id"]]][-1:],
            "id": ids(f"{workflow['id']}-{name}"),
            "started_at": iso(started) if started else None,
            "name": name,
            "project_slug": self.slug,
            "status": status,
            "type": kind,
            "stopped_at": iso(stopped) if stopped else None,
        }
        if kind == "approval":
            job["approval_request_id"] = job["id"]
            if status == "success":
                job["approved_by"] = ids("user-approver")
        else:
            self._job_number += 1
            job["job_number"] = self._job_number
            job["created_at"] = iso(started - timedelta(seconds=2)) if started else None
        self.jobs[workflow["id"]].append(job)
        return job

    # ---- serving --------------------------------------------------------------------

    def requests_to(self, fragment: str) -> int:
        return sum(1 for request in self.server.requests if fragment in request.path)

    @property
    def request_count(self) -> int:
        return len(self.server.requests)

    def _handle(self, request: Request) -> Reply:
        reply = self._answer(request)
        for fragment, seconds in self.slow.items():
            if fragment in request.path:
                reply.delay = seconds
        return reply

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
        if request.headers.get("circle-token") != TOKEN:
            return _json(401, {"message": "You must log in first."})
        url = urlsplit(request.path)
        path = unquote(url.path).removeprefix(API_PREFIX)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if path in self.broken:
            return Reply(200, self.broken[path])
        if match := _PIPELINES.match(path):
            if _canonical(match["slug"]) != self.slug:
                return _json(404, {"message": "Project not found"})
            items = [
                p
                for p in self.pipelines
                if "branch" not in query or p["vcs"]["branch"] == query["branch"]
            ]
            return self._page(items, query)
        if match := _WORKFLOWS.match(path):
            if match["id"] not in self.workflows:
                return _json(404, {"message": "Pipeline not found"})
            return self._page(self.workflows[match["id"]], query)
        if match := _JOBS.match(path):
            if match["id"] not in self.jobs:
                return _json(404, {"message": "Workflow not found"})
            return self._page(self.jobs[match["id"]], query)
        if match := _JOB_DETAILS.match(path):
            details = self.job_details.get(int(match["number"]))
            if details is None:
                return _json(404, {"message": "Job not found"})
            return _json(200, details)
        return _json(404, {"message": "Not found"})

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        token = query.get("page-token")
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        end = start + self.page_size
        following = base64.urlsafe_b64encode(str(end).encode()).decode()
        return _json(
            200,
            {
                "next_page_token": following if end < len(items) else None,
                "items": items[start:end],
            },
        )


def _canonical(slug: str) -> str:
    vcs, org, name = slug.split("/")
    return f"{_ALIASES.get(vcs, vcs)}/{org}/{name}"


def _json(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode())


@contextmanager
def running_circleci(world: CircleCIWorld) -> Iterator[CircleCIWorld]:
    with world.server:
        yield world
