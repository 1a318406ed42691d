"""The benchmark's servers, in their own process: GitHub, Jenkins, CircleCI and a Trunk receiver.

Run by `run.py` (``python benchmarks/serve.py SPEC``); prints one JSON line with the
base URLs, then serves until its stdin closes. A process of its own, so the servers never
compete for the interpreter lock with what is being measured.

GitHub, Jenkins and CircleCI are the test suite's servers (`tests/servers/github.py`,
`tests/servers/jenkins.py`, `tests/servers/circleci.py`: same routes, paging, ``tree=``
filtering, ETags, page tokens) behind a
`Front` that renders each URL once and then serves the stored bytes, answers
``If-None-Match`` with 304 and counts requests by kind. Every client sees the same
pre-rendered bytes, so rendering cost is in no measurement.

The Trunk receiver is deliberately light: it checks the token, parses each body and
counts events and bytes. The strict stand-in of the tests validates every body with
pydantic; at tens of thousands of events a second that validation, not the uploader,
would be what is measured (the bodies' correctness is the test suite's job).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent / "src"),
    str(Path(__file__).resolve().parent.parent),
]

from circleci_history import CircleCIShape, circleci_templates, circleci_world  # noqa: E402
from fasthttp import serve, server_url  # noqa: E402
from history import (  # noqa: E402
    GitHubShape,
    JenkinsShape,
    add_github_history,
    add_jenkins_history,
    github_templates,
    jenkins_templates,
)

from tests.servers.base import Reply, Request  # noqa: E402
from tests.servers.circleci import API_PREFIX  # noqa: E402
from tests.servers.github import CAP, GitHubModel, GitHubServer, _created_range, _paging  # noqa: E402
from tests.servers.github import _route as github_route  # noqa: E402
from tests.servers.jenkins import JenkinsStandIn  # noqa: E402

TOKEN = "bench-trunk-token-0123456789"
TRACK_EVENTS = "/v1/metrics/trackEvents"
OTLP_TRACES = "/v1/traces"


# ---- the caching, counting front ---------------------------------------------------


@dataclass
class Front:
    """Serves `handle`'s replies from a cache keyed by URL; 304 on a matching ETag."""

    handle: Callable[[Request], Reply]
    classify: Callable[[Request], str]
    counts: Counter[str] = field(default_factory=Counter)
    cache: dict[str, Reply] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def __call__(self, request: Request) -> Reply:
        if request.path.startswith("/_bench/"):
            return self._control(request)
        kind = self.classify(request)
        if request.method != "GET":
            self.counts[kind] += 1
            return self.handle(request)
        self.paths.append(request.path)
        reply = self.cache.get(request.path)
        if reply is None:
            plain = {k: v for k, v in request.headers.items() if k != "if-none-match"}
            reply = self.handle(replace(request, headers=plain))
            if reply.status == 200:
                self.cache[request.path] = reply
        etag = reply.headers.get("ETag")
        if etag is not None and request.headers.get("if-none-match") == etag:
            self.counts[f"{kind}_304"] += 1
            return Reply(304, b"", {k: v for k, v in reply.headers.items() if k != "Content-Type"})
        self.counts[kind] += 1
        return reply

    def _control(self, request: Request) -> Reply:
        what = request.path.removeprefix("/_bench/")
        if what == "counts":
            return Reply(200, json.dumps(dict(self.counts)).encode())
        if what == "paths":
            return Reply(200, json.dumps(self.paths).encode())
        if what == "reset":
            self.counts.clear()
            self.paths.clear()
            return Reply(200, b"{}")
        return Reply(404, b"{}")


# ---- GitHub: the test server, with a listing that scales to 20,000 runs --------------


class BenchGitHub(GitHubServer):
    """`GitHubServer` whose unfiltered listing bisects a sorted index instead of
    scanning and re-sorting every run on every request."""

    def __init__(self, model: GitHubModel) -> None:
        super().__init__(model, rate_limit=10**9)
        self._index: dict[tuple[str, str], tuple[list[int], list[dict[str, Any]]]] = {}

    def _listing(
        self, query: dict[str, str], owner: str, name: str, workflow: str | None
    ) -> tuple[int, Any]:
        if workflow is not None or "branch" in query or "status" in query:
            return super()._listing(query, owner, name, workflow)
        repo = self._repo(owner, name)
        if repo is None:
            return 404, {"message": "Not Found"}
        stamps, runs = self._sorted(owner, name)
        low, high = _created_range(query.get("created", "*..*"))
        first, last = bisect.bisect_left(stamps, low), bisect.bisect_right(stamps, high)
        chosen = runs[first:last][::-1]  # newest first, like GitHub
        per_page, page = _paging(query)
        if (page - 1) * per_page >= CAP:
            return 422, {"message": "Only the first 1000 search results are available"}
        return 200, {
            "total_count": len(chosen),
            "workflow_runs": chosen[(page - 1) * per_page : page * per_page],
        }

    def _sorted(self, owner: str, name: str) -> tuple[list[int], list[dict[str, Any]]]:
        if (owner, name) not in self._index:
            runs = sorted(
                self.model.repos[(owner, name)].latest(), key=lambda r: (r["created_at"], r["id"])
            )
            stamps = [_ms(r["created_at"]) for r in runs]
            self._index[(owner, name)] = (stamps, runs)
        return self._index[(owner, name)]

    def _reply(self, request: Request, kind: str, status: int, body: Any) -> Reply:
        raw = json.dumps(body, separators=(",", ":")).encode()
        etag = f'W/"{hashlib.sha256(raw).hexdigest()[:32]}"'
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "ETag": etag,
            **self._rate_headers(),
        }
        return Reply(status, raw, headers)


def _ms(text: str) -> int:
    from ci_collector.times import iso_to_ms

    value = iso_to_ms(text)
    assert value is not None
    return value


def github_kind(request: Request) -> str:
    route = github_route(urlsplit(request.path).path)
    return route[0] if route else "unknown"


# ---- Jenkins: the test stand-in, told its real address ------------------------------


class BenchJenkins(JenkinsStandIn):
    def __init__(self) -> None:
        super().__init__()
        self.public_url = ""

    @property
    def url(self) -> str:  # type: ignore[override]
        return self.public_url

    def handle(self, request: Request) -> Reply:
        parts = urlsplit(request.path)
        from urllib.parse import unquote

        return self._route(request, parts.path, unquote(parts.path), parse_qs(parts.query))[1]


def jenkins_kind(request: Request) -> str:
    path = urlsplit(request.path).path
    if path.startswith("/crumbIssuer/"):
        return "crumb"
    if path.startswith("/blue/"):
        return "blue"
    if path.endswith("/wfapi/describe"):
        return "describe"
    if path.endswith("/api/json"):
        return "builds" if "allBuilds" in request.path else "jobs"
    return "other"


# ---- CircleCI: the test model, its history built from real items --------------------


def circleci_kind(request: Request) -> str:
    """pipelines, workflows (a pipeline's list), jobs (a workflow's list) or details."""
    path = urlsplit(request.path).path.removeprefix(API_PREFIX)
    if path.startswith("/project/"):
        return "details" if "/job/" in path else "pipelines"
    if path.startswith("/pipeline/"):
        return "workflows"
    return "jobs" if path.startswith("/workflow/") else "other"


# ---- Trunk: a light receiver ---------------------------------------------------------


@dataclass
class Receiver:
    events: int = 0
    bytes: int = 0
    bodies: int = 0

    def __call__(self, request: Request) -> Reply:
        if request.path.startswith("/_bench/"):
            if request.path == "/_bench/reset":
                self.events = self.bytes = self.bodies = 0
            return Reply(
                200,
                json.dumps(
                    {"events": self.events, "bytes": self.bytes, "bodies": self.bodies}
                ).encode(),
            )
        if request.method == "POST" and request.path == OTLP_TRACES:
            return self._otlp(request)
        if request.method != "POST" or request.path != TRACK_EVENTS:
            return Reply(404, b'{"error":"not found"}')
        if request.headers.get("x-api-token") != TOKEN:
            return Reply(401, b'{"error":"unauthorized"}')
        body = json.loads(request.body)
        self.events += len(body["events"])
        self.bytes += len(request.body)
        self.bodies += 1
        return Reply(200, b'{"ok":true}')

    def _otlp(self, request: Request) -> Reply:
        """An OTLP/HTTP traces endpoint: decodes each body, counts its spans as events."""
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp

        body = otlp.ExportTraceServiceRequest.FromString(request.body)
        self.events += sum(len(s.spans) for r in body.resource_spans for s in r.scope_spans)
        self.bytes += len(request.body)
        self.bodies += 1
        answer = otlp.ExportTraceServiceResponse().SerializeToString()
        return Reply(200, answer, {"Content-Type": "application/x-protobuf"})


# ---- the process -----------------------------------------------------------------------


async def _main(spec: dict[str, Any]) -> None:
    model = GitHubModel()
    templates = github_templates()
    for shape in spec.get("github", []):
        add_github_history(model, templates, GitHubShape(**shape))
    github = BenchGitHub(model)
    jenkins = BenchJenkins()
    github_front = Front(github._handle, github_kind)
    jenkins_front = Front(jenkins.handle, jenkins_kind)
    circleci_t = circleci_templates()
    shapes = [CircleCIShape(**shape) for shape in spec.get("circleci", [])]
    if len(shapes) > 1:
        raise SystemExit("serve.py: one CircleCI project (the test model serves one slug)")
    worlds = [circleci_world(circleci_t, shape) for shape in shapes]
    circleci_front = Front(worlds[0]._handle if worlds else _no_project, circleci_kind)
    delay = int(spec.get("delay_ms", 0))  # the sources answer late; the receiver does not
    servers = {
        "github": await serve(github_front, delay_ms=delay),
        "jenkins": await serve(jenkins_front, delay_ms=delay),
        "circleci": await serve(circleci_front, delay_ms=delay),
        "trunk": await serve(Receiver()),
    }
    jenkins.public_url = server_url(servers["jenkins"])
    jenkins_t = jenkins_templates()
    for shape in spec.get("jenkins", []):
        add_jenkins_history(jenkins, jenkins_t, JenkinsShape(**shape))
    urls = {name: server_url(server) for name, server in servers.items()}
    urls["templates"] = f"{templates.origin}; {jenkins_t.origin}; {circleci_t.origin}"
    print(json.dumps(urls), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stopped.set)), daemon=True
    ).start()
    await stopped.wait()


def _no_project(request: Request) -> Reply:
    return Reply(404, b'{"message":"Project not found"}')


if __name__ == "__main__":
    asyncio.run(_main(json.loads(sys.argv[1])))
