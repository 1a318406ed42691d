"""Real collectors (GitHub stand-in) with OTLP added to a Trunk setup later: the history
OTLP has not received goes to OTLP only; ETags and cursors do not hide it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.servers.github import GitHubServer, running_github
from tests.servers.otlp import API_KEY_HEADER, running_receiver
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc

HEADERS = f"{API_KEY_HEADER}=otlp-test-key%2Fwith%3Dodd%2Cchars"


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now_ms - now_ms % sc.HOUR - 10 * sc.HOUR
    with running_github(sc.catalogue(base)) as server:
        yield server


def test_github_history_goes_to_otlp_when_added_and_trunk_is_not_resent(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = str(tmp_path / "state.sqlite")
    env = {
        "GITHUB_TOKEN": "ghp_cli-secret-token-abcdef123456",
        "GITHUB_API_URL": github.url,
        "TRUNK_API_TOKEN": TOKEN,
        "TRUNK_API_URL": trunk.url,
    }
    first = run_cli("github", "--repo", f"{sc.OWNER}/{sc.NAME}", "--state", state, env=env)
    assert first.returncode == 0, first.stderr
    trunk_posts, events = trunk.posts, len(trunk.events)
    again = run_cli("github", "--repo", f"{sc.OWNER}/{sc.NAME}", "--state", state, env=env)
    assert again.returncode == 0 and trunk.posts == trunk_posts  # ETags: nothing new
    with running_receiver() as receiver:
        otlp_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        otlp_env["OTEL_EXPORTER_OTLP_HEADERS"] = HEADERS
        both = run_cli("github", "--repo", f"{sc.OWNER}/{sc.NAME}", "--state", state, env=otlp_env)
        assert both.returncode == 0, both.stderr
        assert trunk.posts == trunk_posts  # Trunk had every run already
        assert len(receiver.spans) == events  # OTLP got the whole history
        posts = receiver.posts
        last = run_cli("github", "--repo", f"{sc.OWNER}/{sc.NAME}", "--state", state, env=otlp_env)
        assert last.returncode == 0 and receiver.posts == posts and trunk.posts == trunk_posts
