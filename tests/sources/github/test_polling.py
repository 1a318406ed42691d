"""Polling, backfill, attempts and rate limits against the loopback GitHub server.

Each test runs the real collector through the real `collect` loop (state file, lock,
Trunk uploader) against real local HTTP servers; only the clock is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ci_collector.commands.common import DeliveryConfig, collect
from ci_collector.errors import ComeBackLater
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.fields import slim_run
from ci_collector.sources.github.listing import Window, walk
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.state import State
from tests.servers.base import Reply
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import T0, job_body, run_body, standard_steps
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc
from tests.sources.github.chains import chains, tags

REPO = f"{sc.OWNER}/{sc.NAME}"
NOW = datetime.fromtimestamp(T0 / 1000, tz=timezone.utc) + timedelta(days=1)
SOURCE = f"github:127.0.0.1/{REPO}"


def config(
    tmp_path: Path, trunk: TrunkStandIn | None, output: Path | None = None
) -> DeliveryConfig:
    return DeliveryConfig(
        trunk_token=TOKEN if trunk else None,
        trunk_url=trunk.url if trunk else "",
        output=str(output) if output else None,
        state_path=str(tmp_path / "state.sqlite"),
        batch_size=100,
        dead_letter=str(tmp_path / "dead.jsonl"),
        retry_seconds=5,
        timeout=10,
        insecure=False,
        fail_fast=False,
        wait=False,
    )


class Poller:
    """Runs `collect` the way the command does, with a fixed clock."""

    def __init__(self, server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn | None) -> None:
        self.server, self.tmp_path, self.trunk = server, tmp_path, trunk
        self.sleeps: list[float] = []

    def client(self, max_wait: float = 60) -> GitHubClient:
        return GitHubClient(
            self.server.url,
            "ghp_test-token-123456",
            max_wait=max_wait,
            sleep=self.sleeps.append,
            clock=lambda: NOW.timestamp(),
        )

    def run(
        self,
        now: datetime = NOW,
        output: Path | None = None,
        max_wait: float = 60,
        env: dict[str, str] | None = None,
        **query: object,
    ) -> GitHubCollector:
        query.setdefault("repos", (REPO,))
        collector = GitHubCollector(
            self.client(max_wait),
            GitHubQuery(**query),  # type: ignore[arg-type]
            now=now,
            env=env or {},
        )
        assert collect(config(self.tmp_path, self.trunk, output), collector) == 0
        return collector


@pytest.fixture
def catalogue_server() -> Iterator[GitHubServer]:
    with running_github(sc.catalogue()) as server:
        yield server


def test_cron_twice_with_nothing_new_costs_only_304s(
    catalogue_server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    poller = Poller(catalogue_server, tmp_path, trunk)
    poller.run()
    assert len(chains(trunk.all_events())) == 7
    posts = trunk.posts
    catalogue_server.reset_counts()

    poller.run(now=NOW + timedelta(minutes=5))
    assert trunk.posts == posts
    assert dict(catalogue_server.counts) == {"list_304": 1}


def test_rerun_of_an_older_run_is_sent_as_a_new_chain(
    catalogue_server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    poller = Poller(catalogue_server, tmp_path, trunk)
    poller.run()
    before = set(trunk.events)
    oldest = catalogue_server.model.repo(sc.OWNER, sc.NAME).attempts[sc.MATRIX_RUN][0]
    rerun = dict(
        oldest,
        run_attempt=2,
        run_started_at="2025-01-01T12:00:00Z",
        updated_at="2025-01-01T12:10:00Z",
    )
    job = job_body(
        sc.OWNER,
        sc.NAME,
        rerun,
        79_001,
        "test (3.11, ubuntu-latest)",
        created=T0 + 12 * sc.HOUR,
        started=T0 + 12 * sc.HOUR + 5000,
        completed=T0 + 12 * sc.HOUR + 65_000,
        steps=standard_steps(T0 + 12 * sc.HOUR),
    )
    catalogue_server.model.add_attempt(sc.OWNER, sc.NAME, rerun, [job])
    catalogue_server.reset_counts()

    poller.run(now=NOW + timedelta(minutes=5))
    new = chains(
        [e for i, e in ((i, json.loads(trunk.events[i])) for i in trunk.events) if i not in before]
    )
    assert list(new) == [(sc.MATRIX_RUN, 2)]
    assert new[(sc.MATRIX_RUN, 2)].kinds() == {"workflow": 1, "job": 1, "step": 4}
    assert max(trunk.deliveries.values()) == 1  # nothing sent twice
    assert dict(catalogue_server.counts) == {"list": 1, "jobs": 1}


@pytest.mark.slow  # 2,150 runs
def test_backfill_splits_windows_over_the_cap_and_loses_nothing(
    tmp_path: Path,
) -> None:
    model = GitHubModel()
    start = T0 - 20 * sc.DAY
    ids = sc.bulk(model, 2150, start, spacing_ms=7 * sc.MIN, jobs_per_run=1)
    out = tmp_path / "out.jsonl"
    with running_github(model) as server:
        poller = Poller(server, tmp_path, None)
        collector = poller.run(output=out, since=datetime.fromtimestamp(start / 1000, timezone.utc))
        counts = dict(server.counts)
    roots = [
        tags(e)["run_id"]
        for line in out.read_text().splitlines()
        for e in json.loads(line)["events"]
        if "parent" not in e
    ]
    assert sorted(int(r) for r in roots) == ids  # every run, exactly once
    assert counts["jobs"] == len(ids)
    listing = counts["list"]
    # deterministic: the probes of windows that were split, then each window's pages
    assert listing == 29
    per_attempt = (listing + counts["jobs"]) / len(ids)
    assert per_attempt <= 1.05
    assert collector.client.budget.requests == listing + counts["jobs"]
    assert collector.position == pytest.approx(1.0)  # the progress line's ETA reached the end


def test_backfill_resumes_from_the_cursor(tmp_path: Path, trunk: TrunkStandIn) -> None:
    model = GitHubModel()
    start = T0 - 10 * sc.DAY
    sc.bulk(model, 40, start, spacing_ms=6 * sc.HOUR, jobs_per_run=1)
    since = datetime.fromtimestamp(start / 1000, timezone.utc)
    with running_github(model) as server:
        poller = Poller(server, tmp_path, trunk)
        poller.run(since=since)  # its checkpoints were written as Trunk acknowledged
        with State(tmp_path / "state.sqlite") as state:
            cursor = state.cursor(SOURCE)
        assert cursor is not None and cursor["all"]["since"] == "2024-12-22T00:00:00Z"
        assert "pending" not in cursor["all"]
        server.server.requests.clear()
        poller.run(since=since)
        created = [r.path for r in server.requests if "/actions/runs?" in r.path]
    # the second backfill only re-lists the look-back window, not the ten days before it
    assert len(created) == 1 and "created=%3E%3D2024-12-30" in created[0]
    assert max(trunk.deliveries.values()) == 1


def test_rate_limit_near_reset_is_waited_out(
    catalogue_server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    reset = int(NOW.timestamp()) + 20
    limited = Reply(
        403,
        b'{"message":"API rate limit exceeded for installation"}',
        {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": str(reset),
        },
    )
    secondary = Reply(
        429, b'{"message":"You have exceeded a secondary rate limit"}', {"Retry-After": "7"}
    )
    catalogue_server.faults += [
        (lambda r: "/jobs" in r.path, limited),
        (lambda r: "/jobs" in r.path, secondary),
    ]
    poller = Poller(catalogue_server, tmp_path, trunk)
    poller.run()
    assert poller.sleeps == [21.0, 7.0]
    assert len(chains(trunk.all_events())) == 7


def test_rate_limit_far_from_reset_exits_to_come_back_later(
    catalogue_server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    poller = Poller(catalogue_server, tmp_path, trunk)
    catalogue_server.remaining = 3
    # budget for: the list page, the matrix run's jobs, attempt 1 of the re-run; then limited
    catalogue_server.reset_epoch = int(NOW.timestamp()) + 3600
    with pytest.raises(ComeBackLater, match="resets at 2025-01-02T01:00:00Z"):
        poller.run()
    with State(tmp_path / "state.sqlite") as state:
        delivered = state.delivered_count()
    # what was collected before the limit was flushed, delivered and remembered
    assert delivered == len(chains(trunk.all_events())) == 1
    catalogue_server.remaining = 5000
    poller.run()
    assert len(chains(trunk.all_events())) == 7
    assert max(trunk.deliveries.values()) == 1


def test_own_run_sends_finished_jobs_as_a_partial_chain(
    catalogue_server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    poller = Poller(catalogue_server, tmp_path, trunk)
    inside = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": str(sc.IN_PROGRESS_RUN),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ATTEMPT": "1",
    }
    poller.run(run_id=sc.IN_PROGRESS_RUN, env=inside)
    got = chains(trunk.all_events())
    partial = got[(sc.IN_PROGRESS_RUN, 1)]
    assert [j["sequence"]["name"] for j in partial.jobs()] == ["build"]
    assert tags(partial.root)["partial"] == "true"
    assert partial.root["finishedAt"] == partial.job("build")["finishedAt"]


def test_someone_elses_run_in_progress_is_not_sent(
    catalogue_server: GitHubServer, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    Poller(catalogue_server, tmp_path, trunk).run(run_id=sc.IN_PROGRESS_RUN)
    assert trunk.events == {}
    assert dict(catalogue_server.counts) == {"run": 1}


def test_malformed_run_is_skipped_with_a_warning_naming_it(
    catalogue_server: GitHubServer,
    tmp_path: Path,
    trunk: TrunkStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = catalogue_server.model.repo(sc.OWNER, sc.NAME).jobs
    jobs[(sc.SKIPPED_RUN, 1)][0]["steps"] = "not a list"
    jobs[(sc.OUTCOMES_RUN, 1)][0]["started_at"] = 12345
    Poller(catalogue_server, tmp_path, trunk).run()
    assert len(chains(trunk.all_events())) == 5
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"runs/{sc.SKIPPED_RUN}/attempts/1" in w and "steps" in w for w in warnings)
    assert any(f"runs/{sc.OUTCOMES_RUN}/attempts/1" in w and "started_at" in w for w in warnings)


def test_org_lists_only_live_repositories_and_workflow_filter(
    tmp_path: Path, trunk: TrunkStandIn
) -> None:
    model = GitHubModel()
    sc.bulk(model, 2, T0, sc.HOUR, first_id=1, name="live")
    sc.bulk(model, 2, T0, sc.HOUR, first_id=11, name="old")
    model.repo(sc.OWNER, "old").archived = True
    other = run_body(
        sc.OWNER,
        "live",
        3,
        created=T0 + 3 * sc.HOUR,
        workflow="Nightly",
        path=".github/workflows/nightly.yml",
        workflow_id=77002,
    )
    model.add_attempt(sc.OWNER, "live", other, [])
    model.repo(sc.OWNER, "live").workflows = [
        {"id": 77002, "name": "Nightly", "path": ".github/workflows/nightly.yml"}
    ]
    with running_github(model) as server:
        poller = Poller(server, tmp_path, trunk)
        poller.run(repos=(), orgs=(sc.OWNER,), workflow="Nightly")
    got = chains(trunk.all_events())
    assert list(got) == [(3, 1)]


class _DictCache:
    """The `EtagCache` protocol over a dict, to read what the client stored."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}

    def get(self, url: str) -> tuple[str, bytes] | None:
        return self.pages.get(url)

    def put(self, url: str, etag: str, body: bytes) -> None:
        self.pages[url] = (etag, body)


def test_a_run_list_answered_304_lists_what_the_fresh_page_listed(
    catalogue_server: GitHubServer, tmp_path: Path
) -> None:
    client = Poller(catalogue_server, tmp_path, None).client()
    path, window = f"/repos/{REPO}/actions/runs", Window(NOW - timedelta(days=30))
    cache = _DictCache()
    fresh = list(walk(client, path, {}, window, cache, NOW))
    assert sum(len(listed.runs) for listed in fresh) == 7
    catalogue_server.reset_counts()

    again = list(walk(client, path, {}, window, cache, NOW))
    assert dict(catalogue_server.counts) == {"list_304": 1}
    assert again == fresh
    # only what the listing reads is kept: each run as `slim_run` keeps it
    ((_, stored),) = cache.pages.values()
    page = json.loads(stored)
    assert page["total_count"] == 7
    assert page["workflow_runs"] == [slim_run(run) for run in page["workflow_runs"]]
    assert "head_commit" not in page["workflow_runs"][0]
