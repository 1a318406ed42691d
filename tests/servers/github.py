"""A GitHub-compatible REST server on loopback, serving Actions data from an in-memory model.

Deterministic and general enough for the tests, the benchmarks and the chaos work:
run listings by ``created`` filter with ``total_count``, ``per_page``/``page`` and the
1,000-result cap; single runs, attempts and paged attempt job lists; workflows and
organisation repositories; ETags honoured with 304 (free, like GitHub); a primary rate
limit with ``x-ratelimit-*`` headers; queued fault replies; and a count of every request
by kind.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import LoopbackServer, Reply, Request

JSON = "application/json; charset=utf-8"
CAP = 1000


@dataclass
class RepoModel:
    owner: str
    name: str
    archived: bool = False
    attempts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """run id -> attempt bodies, attempt 1 first."""
    jobs: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)
    workflows: list[dict[str, Any]] = field(default_factory=list)

    def latest(self) -> list[dict[str, Any]]:
        return [bodies[-1] for bodies in self.attempts.values()]


@dataclass
class GitHubModel:
    repos: dict[tuple[str, str], RepoModel] = field(default_factory=dict)

    def repo(self, owner: str, name: str) -> RepoModel:
        return self.repos.setdefault((owner, name), RepoModel(owner, name))

    def add_attempt(
        self, owner: str, name: str, run: dict[str, Any], jobs: list[dict[str, Any]]
    ) -> None:
        """Add (or replace) attempt ``run["run_attempt"]`` of a run, with its job list."""
        repo = self.repo(owner, name)
        bodies = repo.attempts.setdefault(run["id"], [])
        index = run["run_attempt"] - 1
        if index < len(bodies):
            bodies[index] = run
        else:
            assert index == len(bodies), "attempts are added in order"
            bodies.append(run)
        repo.jobs[(run["id"], run["run_attempt"])] = jobs


Fault = tuple[Callable[[Request], bool], Reply]


class GitHubServer:
    def __init__(self, model: GitHubModel, rate_limit: int = 5000, reset_epoch: int = 0) -> None:
        self.model = model
        self.counts: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.rate_limit = rate_limit
        self.remaining = rate_limit
        self.reset_epoch = reset_epoch or 4_102_444_800  # 2100-01-01
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def reset_counts(self) -> None:
        self.counts.clear()

    # ---- dispatch ------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        with self._lock:
            for index, (matches, reply) in enumerate(self.faults):
                if matches(request):
                    del self.faults[index]
                    self.counts["fault"] += 1
                    return reply
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = _route(parts.path)
        if route is None:
            return self._reply(request, "unknown", 404, {"message": "Not Found"})
        kind, args = route
        with self._lock:
            if self.remaining <= 0:
                self.counts["rate_limited"] += 1
                return Reply(
                    403,
                    json.dumps({"message": "API rate limit exceeded"}).encode(),
                    {"Content-Type": JSON, **self._rate_headers()},
                )
        handler = getattr(self, f"_{kind}")
        status, body = handler(query, *args)
        return self._reply(request, kind, status, body)

    def _reply(self, request: Request, kind: str, status: int, body: Any) -> Reply:
        raw = json.dumps(body, separators=(",", ":")).encode()
        etag = f'W/"{hashlib.sha256(raw).hexdigest()[:32]}"'
        with self._lock:
            if status == 200 and request.headers.get("if-none-match") == etag:
                self.counts[f"{kind}_304"] += 1
                return Reply(304, b"", {"ETag": etag, **self._rate_headers()})
            self.counts[kind] += 1
            if status != 404:
                self.remaining -= 1
            headers = {"Content-Type": JSON, "ETag": etag, **self._rate_headers()}
        return Reply(status, raw, headers)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(self.remaining, 0)),
            "x-ratelimit-reset": str(self.reset_epoch),
            "x-ratelimit-used": str(self.rate_limit - max(self.remaining, 0)),
            "x-ratelimit-resource": "core",
        }

    # ---- endpoints -----------------------------------------------------------------

    def _repo(self, owner: str, name: str) -> RepoModel | None:
        return self.model.repos.get((owner, name))

    def _list(self, query: dict[str, str], owner: str, name: str) -> tuple[int, Any]:
        return self._listing(query, owner, name, None)

    def _workflow_list(
        self, query: dict[str, str], owner: str, name: str, workflow: str
    ) -> tuple[int, Any]:
        return self._listing(query, owner, name, workflow)

    def _listing(
        self, query: dict[str, str], owner: str, name: str, workflow: str | None
    ) -> tuple[int, Any]:
        repo = self._repo(owner, name)
        if repo is None:
            return 404, {"message": "Not Found"}
        runs = repo.latest()
        if workflow is not None:
            runs = [
                r for r in runs if workflow in (str(r["workflow_id"]), r["path"].rsplit("/", 1)[-1])
            ]
            known = [
                w
                for w in repo.workflows
                if workflow in (str(w["id"]), str(w.get("path", "")).rsplit("/", 1)[-1])
            ]
            if not runs and not known:  # GitHub: no such workflow file or id
                return 404, {"message": "Not Found"}
        if "branch" in query:
            runs = [r for r in runs if r["head_branch"] == query["branch"]]
        if "status" in query:
            runs = [r for r in runs if query["status"] in (r["status"], r["conclusion"])]
        if "created" in query:
            low, high = _created_range(query["created"])
            runs = [r for r in runs if low <= _ms(r["created_at"]) <= high]
        runs.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        per_page, page = _paging(query)
        if (page - 1) * per_page >= CAP:
            return 422, {"message": "Only the first 1000 search results are available"}
        chunk = runs[(page - 1) * per_page : page * per_page]
        return 200, {"total_count": len(runs), "workflow_runs": chunk}

    def _run(self, query: dict[str, str], owner: str, name: str, run_id: str) -> tuple[int, Any]:
        repo = self._repo(owner, name)
        bodies = repo.attempts.get(int(run_id)) if repo else None
        return (200, bodies[-1]) if bodies else (404, {"message": "Not Found"})

    def _attempt(
        self, query: dict[str, str], owner: str, name: str, run_id: str, attempt: str
    ) -> tuple[int, Any]:
        repo = self._repo(owner, name)
        bodies = repo.attempts.get(int(run_id)) if repo else None
        if not bodies or not 1 <= int(attempt) <= len(bodies):
            return 404, {"message": "Not Found"}
        return 200, bodies[int(attempt) - 1]

    def _jobs(
        self, query: dict[str, str], owner: str, name: str, run_id: str, attempt: str
    ) -> tuple[int, Any]:
        repo = self._repo(owner, name)
        jobs = repo.jobs.get((int(run_id), int(attempt))) if repo else None
        if jobs is None:
            return 404, {"message": "Not Found"}
        per_page, page = _paging(query)
        return 200, {
            "total_count": len(jobs),
            "jobs": jobs[(page - 1) * per_page : page * per_page],
        }

    def _workflows(self, query: dict[str, str], owner: str, name: str) -> tuple[int, Any]:
        repo = self._repo(owner, name)
        if repo is None:
            return 404, {"message": "Not Found"}
        per_page, page = _paging(query)
        items = repo.workflows[(page - 1) * per_page : page * per_page]
        return 200, {"total_count": len(repo.workflows), "workflows": items}

    def _repository(self, query: dict[str, str], owner: str, name: str) -> tuple[int, Any]:
        repo = self._repo(owner, name)
        if repo is None:
            return 404, {"message": "Not Found"}
        return 200, {"name": name, "full_name": f"{owner}/{name}", "owner": {"login": owner}}

    def _org_repos(self, query: dict[str, str], org: str) -> tuple[int, Any]:
        repos = [
            {
                "id": index + 1,
                "name": r.name,
                "full_name": f"{r.owner}/{r.name}",
                "owner": {"login": r.owner},
                "archived": r.archived,
            }
            for index, r in enumerate(sorted(self.model.repos.values(), key=lambda r: r.name))
            if r.owner == org
        ]
        if not repos:
            return 404, {"message": "Not Found"}
        per_page, page = _paging(query)
        return 200, repos[(page - 1) * per_page : page * per_page]


_ROUTES = [
    ("jobs", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/attempts/(\d+)/jobs$")),
    ("attempt", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/attempts/(\d+)$")),
    ("run", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)$")),
    ("list", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs$")),
    ("workflow_list", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/runs$")),
    ("workflows", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows$")),
    ("org_repos", re.compile(r"^/orgs/([^/]+)/repos$")),
    ("repository", re.compile(r"^/repos/([^/]+)/([^/]+)$")),
]


def _route(path: str) -> tuple[str, tuple[str, ...]] | None:
    for kind, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return kind, match.groups()
    return None


def _paging(query: dict[str, str]) -> tuple[int, int]:
    return min(int(query.get("per_page", "30")), 100), max(int(query.get("page", "1")), 1)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _bound(text: str, upper: bool) -> int:
    """A date means its whole day; a time is exact to the second (inclusive)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
        return _ms(day.isoformat()) + (86_400_000 - 1 if upper else 0)
    return _ms(text) + (999 if upper else 0)


def _created_range(text: str) -> tuple[int, int]:
    """GitHub's search qualifiers: ``A..B``, ``>=A``, ``>A``, ``<=B``, ``<B``, ``A``."""
    lowest, highest = -(2**62), 2**62
    if ".." in text:
        low, high = text.split("..", 1)
        return (
            _bound(low, False) if low != "*" else lowest,
            _bound(high, True) if high != "*" else highest,
        )
    for prefix, make in (
        (">=", lambda v: (_bound(v, False), highest)),
        ("<=", lambda v: (lowest, _bound(v, True))),
        (">", lambda v: (_bound(v, True) + 1, highest)),
        ("<", lambda v: (lowest, _bound(v, False) - 1)),
    ):
        if text.startswith(prefix):
            return make(text[len(prefix) :])
    return _bound(text, False), _bound(text, True)


@contextmanager
def running_github(model: GitHubModel, **options: Any) -> Iterator[GitHubServer]:
    server = GitHubServer(model, **options)
    with server.server:
        yield server
