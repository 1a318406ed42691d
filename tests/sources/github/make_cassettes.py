"""Write ``cassettes/github/*.yaml``: ``python -m tests.sources.github.make_cassettes``.

Records the collector against the loopback GitHub server serving `scenarios.catalogue`,
then files every request under the one test host ``https://api.github.test`` with the
Authorization header scrubbed and volatile response headers dropped, so regenerating
gives the same bytes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import vcr

from ci_collector.pipeline import SkipPolicy, deliver
from ci_collector.sinks import JsonlSink
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.state import State
from tests.conftest import CASSETTES
from tests.servers.github import running_github
from tests.servers.github_bodies import API
from tests.sources.github.scenarios import NAME, OWNER, RERUN_RUN, catalogue

CASSETTE_DIR = CASSETTES / "github"
POLL_NOW = datetime(2025, 1, 2, tzinfo=timezone.utc)
TOKEN = "ghp_cassette-recording-token-000000"
KEEP_RESPONSE_HEADERS = {
    "content-type",
    "etag",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "x-ratelimit-resource",
}


def recorder(server_url: str) -> vcr.VCR:
    def request(req: Any) -> Any:
        req.uri = req.uri.replace(server_url, API)
        return req

    def response(resp: dict[str, Any]) -> dict[str, Any]:
        resp["headers"] = {
            k: v for k, v in resp["headers"].items() if k.lower() in KEEP_RESPONSE_HEADERS
        }
        return resp

    return vcr.VCR(
        record_mode="all",
        filter_headers=["authorization", "user-agent"],
        before_record_request=request,
        before_record_response=response,
        decode_compressed_response=True,
    )


def record(name: str, query: GitHubQuery) -> Path:
    path = CASSETTE_DIR / f"{name}.yaml"
    path.unlink(missing_ok=True)
    with running_github(catalogue()) as server, recorder(server.url).use_cassette(str(path)):
        client = GitHubClient(server.url, TOKEN)
        collector = GitHubCollector(client, query, now=POLL_NOW)
        skip = SkipPolicy()
        sink = JsonlSink("/dev/null")
        deliver(collector(State(":memory:"), skip), sink, skip=skip)
        sink.close()
        client.close()
    return path


def main() -> None:
    CASSETTE_DIR.mkdir(parents=True, exist_ok=True)
    repo = f"{OWNER}/{NAME}"
    print(record("poll", GitHubQuery(repos=(repo,))))
    print(record("rerun_run_id", GitHubQuery(repos=(repo,), run_id=RERUN_RUN)))


if __name__ == "__main__":
    main()
