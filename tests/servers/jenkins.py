"""A deterministic Jenkins look-alike on loopback, served from an in-memory model.

It answers what the collector (and any client using the same endpoints) asks for, in
the shapes real Jenkins sends: ``crumbIssuer``, folder/job ``api/json`` with ``tree=``
filtering and ``{M,N}`` ranges (``_class`` always kept, unrequested objects reduced to
``{"_class": ...}`` or ``{}``), Stage View ``wfapi/describe`` and Blue Ocean ``nodes``.
Builds are plain dicts, so tests can put any real-shaped (or broken) body in them.
Every request is logged and classified, so tests can count requests per build.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .base import LoopbackServer, Reply, Request

FREESTYLE_JOB = "hudson.model.FreeStyleProject"
FREESTYLE_BUILD = "hudson.model.FreeStyleBuild"
PIPELINE_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
PIPELINE_BUILD = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
ORG_FOLDER = "jenkins.branch.OrganizationFolder"
CRUMB = {
    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
    "crumb": "0f3c1d2e4b5a69788796a5b4c3d2e1f0",
    "crumbRequestField": "Jenkins-Crumb",
}

# ---- the tree= language ------------------------------------------------------------


@dataclass
class TreeField:
    name: str
    children: list[TreeField] | None = None
    range: tuple[int | None, int | None] | None = None


def parse_tree(text: str) -> list[TreeField]:
    fields, rest = _parse_fields(text, 0)
    if rest != len(text):
        raise ValueError(f"bad tree at {rest}: {text!r}")
    return fields


def _parse_fields(text: str, pos: int) -> tuple[list[TreeField], int]:
    fields: list[TreeField] = []
    while pos < len(text):
        match = re.compile(r"[\w*$.\-]+").match(text, pos)
        if match is None:
            break
        current = TreeField(match.group(0))
        pos = match.end()
        if pos < len(text) and text[pos] == "[":
            current.children, pos = _parse_fields(text, pos + 1)
            if pos >= len(text) or text[pos] != "]":
                raise ValueError(f"unclosed [ in {text!r}")
            pos += 1
        if pos < len(text) and text[pos] == "{":
            end = text.index("}", pos)
            spec = text[pos + 1 : end]
            if "," in spec:
                low, high = spec.split(",", 1)
                current.range = (int(low) if low else None, int(high) if high else None)
            else:
                current.range = (int(spec), int(spec) + 1)
            pos = end + 1
        fields.append(current)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return fields, pos


def apply_tree(value: Any, fields: list[TreeField] | None) -> Any:
    """What Jenkins renders of `value` for this part of a ``tree=`` query."""
    if fields is None:
        return value
    if isinstance(value, list):
        return [apply_tree(item, fields) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    if "_class" in value:
        out["_class"] = value["_class"]
    for spec in fields:
        names = [k for k in value if k != "_class"] if spec.name == "*" else [spec.name]
        for name in names:
            if name not in value:
                continue
            item = value[name]
            if spec.range is not None and isinstance(item, list):
                item = item[spec.range[0] : spec.range[1]]
            out[name] = apply_tree(item, spec.children) if spec.name != "*" else item
    return out


# ---- the model ---------------------------------------------------------------------


@dataclass
class Build:
    """One build: `body` is its api/json; `stages`/`blue_nodes` its Pipeline views."""

    body: dict[str, Any]
    stages: list[dict[str, Any]] | None = None
    blue_nodes: list[dict[str, Any]] | None = None
    describe_extra: dict[str, Any] = field(default_factory=dict)
    gone: bool = False
    """Listed, but deleted (404) by the time anything else about it is asked."""
    raw_describe: bytes | None = None
    """Serve these bytes as wfapi/describe (malformed-body tests)."""

    @property
    def number(self) -> int:
        return int(self.body["number"])


@dataclass
class Job:
    path: str
    pipeline: bool = True
    builds: list[Build] = field(default_factory=list)
    project_url: str | None = None


class JenkinsStandIn:
    """The model plus its HTTP face; build with `folder`, `job`, `add_build`."""

    def __init__(self, user: str | None = None, token: str | None = None) -> None:
        self.user, self.token = user, token
        self.containers: dict[str, str] = {}
        self.jobs: dict[str, Job] = {}
        self.blue_ocean = True
        self.crumb = True
        self.html = False
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)
        self.kinds: Counter[str] = Counter()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> int:
        return len(self.server.requests)

    # ---- building the model ---------------------------------------------------------

    def folder(self, path: str, cls: str = FOLDER) -> None:
        self.containers[path] = cls

    def job(self, path: str, pipeline: bool = True, project_url: str | None = None) -> Job:
        job = Job(path, pipeline, project_url=project_url)
        self.jobs[path] = job
        return job

    def add_build(self, path: str, build: Build) -> Build:
        self.jobs[path].builds.append(build)
        return build

    def build(self, path: str, number: int) -> Build:
        return next(b for b in self.jobs[path].builds if b.number == number)

    # ---- rendering ------------------------------------------------------------------

    def _job_url(self, path: str) -> str:
        return self.url + "/" + "".join(f"job/{quote(n, safe='')}/" for n in path.split("/"))

    def _children(self, prefix: str) -> list[str]:
        names = set(self.containers) | set(self.jobs)
        depth = 0 if not prefix else prefix.count("/") + 1
        return sorted(
            name
            for name in names
            if name.count("/") == depth and (not prefix or name.startswith(prefix + "/"))
        )

    def _item(self, path: str) -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1]
        if path in self.containers:
            return {
                "_class": self.containers[path],
                "name": name,
                "url": self._job_url(path),
                "jobs": [self._item(child) for child in self._children(path)],
            }
        return self._job_summary(self.jobs[path])

    def _job_summary(self, job: Job) -> dict[str, Any]:
        return {
            "_class": PIPELINE_JOB if job.pipeline else FREESTYLE_JOB,
            "name": job.path.rsplit("/", 1)[-1],
            "url": self._job_url(job.path),
            "color": "blue",
        }

    def _job_body(self, job: Job) -> dict[str, Any]:
        builds = sorted(job.builds, key=lambda b: -b.number)
        body = self._job_summary(job)
        props: list[dict[str, Any]] = []
        if job.project_url:
            props.append(
                {
                    "_class": "com.coravy.hudson.plugins.github.GithubProjectProperty",
                    "projectUrl": job.project_url,
                }
            )
        body["property"] = props
        body["allBuilds"] = [b.body for b in builds]
        body["builds"] = [b.body for b in builds[:100]]
        return body

    def _describe(self, job: Job, build: Build) -> dict[str, Any]:
        base = urlsplit(self._job_url(job.path)).path
        start, duration = build.body["timestamp"], build.body["duration"]
        stages = []
        for stage in build.stages or []:
            stages.append(
                {
                    "_links": {
                        "self": {
                            "href": f"{base}{build.number}/execution/node/"
                            f"{stage['id']}/wfapi/describe"
                        }
                    },
                    **stage,
                }
            )
        result = build.body.get("result")
        status = {"FAILURE": "FAILED", None: "IN_PROGRESS"}.get(result, result)
        body = {
            "_links": {"self": {"href": f"{base}{build.number}/wfapi/describe"}},
            "id": str(build.number),
            "name": f"#{build.number}",
            "status": status,
            "startTimeMillis": start,
            "endTimeMillis": start + duration,
            "durationMillis": duration,
            "queueDurationMillis": 0,
            "pauseDurationMillis": sum(s.get("pauseDurationMillis", 0) for s in stages),
            "stages": stages,
        }
        body.update(build.describe_extra)
        return body

    # ---- HTTP -----------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        if self.user is None:
            return True
        expected = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _handle(self, request: Request) -> Reply:
        parts = urlsplit(request.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        kind, reply = self._route(request, parts.path, path, query)
        if kind != "html":  # real Jenkins names itself on every answer, errors included
            reply.headers = {"X-Jenkins": "2.452.2", **reply.headers}
        with self._lock:
            self.kinds[kind] += 1
        return reply

    def _route(
        self, request: Request, raw_path: str, path: str, query: dict[str, list[str]]
    ) -> tuple[str, Reply]:
        if self.html:
            return "html", Reply(
                200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"}
            )
        if not self._authorised(request):
            return "denied", Reply(401, b"<html>Unauthorized</html>", {"Content-Type": "text/html"})
        if path == "/crumbIssuer/api/json":
            return "crumb", (_json(CRUMB) if self.crumb else _not_found())
        if path.startswith("/blue/rest/"):
            return "blue", self._blue(raw_path)
        segments = [unquote(s) for s in raw_path.strip("/").split("/")]
        names: list[str] = []
        while len(segments) >= 2 and segments[0] == "job":
            names.append(segments[1])
            segments = segments[2:]
        job_path = "/".join(names)
        tree = parse_tree(query["tree"][0]) if "tree" in query else None
        if segments == ["api", "json"]:
            if job_path in self.jobs:
                return "builds", _json(apply_tree(self._job_body(self.jobs[job_path]), tree))
            if job_path in self.containers or not job_path:
                item = (
                    {
                        "_class": "hudson.model.Hudson",
                        "jobs": [self._item(c) for c in self._children("")],
                    }
                    if not job_path
                    else self._item(job_path)
                )
                return "jobs", _json(apply_tree(item, tree))
            return "missing", _not_found()
        if len(segments) == 3 and segments[1:] == ["wfapi", "describe"] and job_path in self.jobs:
            build = self._find(job_path, segments[0])
            if build is None or build.gone:
                return "describe", _not_found()
            if build.raw_describe is not None:
                return "describe", Reply(200, build.raw_describe)
            return "describe", _json(self._describe(self.jobs[job_path], build))
        return "missing", _not_found()

    def _find(self, job_path: str, number: str) -> Build | None:
        if not number.isdigit():
            return None
        return next((b for b in self.jobs[job_path].builds if b.number == int(number)), None)

    def _blue(self, raw_path: str) -> Reply:
        if not self.blue_ocean:
            return _not_found()
        match = re.fullmatch(
            r"/blue/rest/organizations/jenkins/((?:(?:pipelines|branches)/[^/]+/)+)"
            r"runs/(\d+)/nodes/?",
            raw_path,
        )
        if match is None:
            return _not_found()
        parts = match.group(1).strip("/").split("/")
        names = [unquote(parts[i + 1]) for i in range(0, len(parts), 2)]
        kinds = [parts[i] for i in range(0, len(parts), 2)]
        job_path = "/".join(names)
        if job_path not in self.jobs:
            return _not_found()
        parent = job_path.rsplit("/", 1)[0] if "/" in job_path else ""
        is_branch = self.containers.get(parent) in {MULTIBRANCH}
        if (kinds[-1] == "branches") != is_branch:
            return _not_found()
        build = self._find(job_path, match.group(2))
        if build is None or build.gone or build.blue_nodes is None:
            return _not_found()
        return _json(build.blue_nodes)


def _json(value: Any) -> Reply:
    return Reply(200, json.dumps(value).encode())


def _not_found() -> Reply:
    return Reply(404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})


@contextmanager
def running_jenkins(user: str | None = None, token: str | None = None) -> Iterator[JenkinsStandIn]:
    stand_in = JenkinsStandIn(user, token)
    with stand_in.server:
        yield stand_in
