"""The real ``ci-collector github`` in a subprocess: loopback GitHub -> mapper -> uploader ->
Trunk stand-in, dry runs, exit codes, the Action output, and secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.servers.github import GitHubServer, running_github
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc
from tests.sources.github.chains import chains

GITHUB_TOKEN = "ghp_cli-secret-token-abcdef123456"
REPO = f"{sc.OWNER}/{sc.NAME}"


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now_ms - now_ms % sc.HOUR - 10 * sc.HOUR  # every run inside the look-back window
    with running_github(sc.catalogue(base)) as server:
        yield server


def collect(
    github: GitHubServer, *args: str, trunk: TrunkStandIn | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"GITHUB_TOKEN": GITHUB_TOKEN, "GITHUB_API_URL": github.url}
    if trunk is not None:
        env.update(TRUNK_API_TOKEN=TOKEN, TRUNK_API_URL=trunk.url)
    return run_cli("github", "--repo", REPO, *args, env=env)


def test_end_to_end_into_trunk_then_nothing_new(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = str(tmp_path / "state.sqlite")
    outputs = tmp_path / "github_output"
    result = collect(github, "--state", state, "--github-output", str(outputs), "-v", trunk=trunk)
    assert result.returncode == 0, result.stderr
    got = chains(trunk.all_events())
    assert len(got) == 7 and (sc.IN_PROGRESS_RUN, 1) not in got
    kinds = {key: dict(view.kinds()) for key, view in got.items()}
    assert kinds[(sc.MATRIX_RUN, 1)] == {"workflow": 1, "job": 4, "step": 16}
    assert kinds[(sc.RERUN_RUN, 2)] == {"workflow": 1, "job": 1, "step": 4}
    assert kinds[(sc.MANY_JOBS_RUN, 1)]["job"] == sc.MANY_JOBS
    assert kinds[(sc.STARTUP_FAILURE_RUN, 1)] == {"workflow": 1}
    assert got[(sc.OUTCOMES_RUN, 1)].root["conclusion"] == "FAILURE"
    assert outputs.read_text() == f"events={len(trunk.events)}\n"
    assert "GitHub API: 10 requests" in result.stderr  # the --verbose budget line
    assert trunk.conflicts == [] and trunk.rejected == []

    github.reset_counts()
    posts = trunk.posts
    again = collect(github, "--state", state, trunk=trunk)
    assert again.returncode == 0, again.stderr
    assert trunk.posts == posts
    assert dict(github.counts) == {"list_304": 1}


def test_dry_run_is_byte_identical_and_validates(github: GitHubServer, tmp_path: Path) -> None:
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for out in (first, second):
        result = collect(github, "--output", str(out))
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()
    events = [e for line in first.read_text().splitlines() for e in json.loads(line)["events"]]
    assert len(chains(events)) == 7
    checked = run_cli("validate", str(first))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_run_id_dry_run_yields_one_root_per_finished_attempt(
    github: GitHubServer, tmp_path: Path
) -> None:
    out = tmp_path / "run.jsonl"
    result = collect(github, "--run-id", str(sc.RERUN_RUN), "--output", str(out))
    assert result.returncode == 0, result.stderr
    events = [e for line in out.read_text().splitlines() for e in json.loads(line)["events"]]
    assert sorted(chains(events)) == [(sc.RERUN_RUN, 1), (sc.RERUN_RUN, 2)]
    assert run_cli("validate", str(out)).returncode == 0


def test_repo_without_a_slash_is_a_one_line_usage_error() -> None:
    result = run_cli("github", "--repo", "widgets", "--output", "-")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ci-collector: error: --repo 'widgets' must look like OWNER/NAME"
    ]


def test_token_never_reaches_logs_or_output(github: GitHubServer, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = collect(github, "--output", str(out), "-vv")
    assert result.returncode == 0, result.stderr
    assert "GET" in result.stderr or "github" in result.stderr.lower()
    assert GITHUB_TOKEN not in result.stderr + result.stdout
    assert GITHUB_TOKEN not in out.read_text()
    auth = [r.headers.get("authorization", "") for r in github.requests]
    assert auth and all(GITHUB_TOKEN in header for header in auth)  # it was really used


def test_rate_limit_far_away_exits_75_naming_the_reset(
    github: GitHubServer, tmp_path: Path
) -> None:
    github.remaining = 0
    github.reset_epoch = 4_102_444_800
    result = collect(github, "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode == 75
    assert "resets at 2100-01-01T00:00:00Z" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_poll_cut_short_by_the_rate_limit_says_what_got_through(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    github.remaining = 3  # the list page and two jobs pages, then limited for a long time
    github.reset_epoch = 4_102_444_800
    # One request at a time: with jobs pages fetched ahead, which two of them are answered
    # (and so whether the first run got through) depends on thread scheduling.
    result = collect(
        github, "--state", str(tmp_path / "state.sqlite"), "--concurrency", "1", trunk=trunk
    )
    assert result.returncode == 75
    delivered = len({event["chainId"] for event in trunk.all_events()})
    assert delivered >= 1
    assert f"of {delivered} runs" in result.stderr  # the summary line, before the error
    assert result.stderr.splitlines()[-1].startswith("ci-collector: error: ")


@pytest.mark.parametrize("token", [GITHUB_TOKEN, None])
def test_a_token_run_does_not_import_pygithub(
    github: GitHubServer, tmp_path: Path, token: str | None
) -> None:
    """PyGithub (0.17 s of CPU to import) is for GitHub Apps only; a token or anonymous
    run writes its own header and still delivers."""
    probe = (
        "import atexit, runpy, sys;"
        "atexit.register(lambda: print(sorted(m for m in sys.modules"
        " if m == 'github' or m.startswith('github.')), file=sys.stderr));"
        "sys.argv = ['ci-collector', *sys.argv[1:]];"
        "runpy.run_module('ci_collector', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GITHUB_API_URL": github.url}
    env.pop("GITHUB_TOKEN", None)
    if token:
        env["GITHUB_TOKEN"] = token
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", probe, "github", "--repo", REPO, "--output", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"  # no github.* module was loaded
    assert out.read_text().count('"events"') > 0
    if token:
        sent = [{k.lower(): v for k, v in r.headers.items()} for r in github.requests]
        assert sent and all(h.get("authorization") == f"token {token}" for h in sent)
