"""--org: one rate budget shared fairly, --min-remaining headroom, the budget per repository."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc
from tests.sources.github.chains import chains

ORG = "acme"


def recent() -> int:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    return now_ms - now_ms % sc.HOUR - 30 * sc.HOUR


def org_model(sizes: dict[str, int]) -> GitHubModel:
    model = GitHubModel()
    for index, (name, runs) in enumerate(sorted(sizes.items())):
        spacing = max(sc.MIN, 24 * sc.HOUR // max(runs, 1))
        sc.bulk(model, runs, recent(), spacing, first_id=1_000_000 * (index + 1), name=name)
    return model


def poll(
    server: GitHubServer, trunk: TrunkStandIn, state: Path, *extra: str, concurrency: int = 8
) -> tuple[int, str]:
    done = run_cli(
        "github",
        "--org",
        ORG,
        "--state",
        str(state),
        *extra,
        env={
            "GITHUB_TOKEN": "ghp_org-budget-token-123456",
            "GITHUB_API_URL": server.url,
            "TRUNK_API_TOKEN": TOKEN,
            "TRUNK_API_URL": trunk.url,
            "CI_COLLECTOR_CONCURRENCY": str(concurrency),
        },
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize("repos", [3, 12])
def test_an_org_poll_costs_the_same_requests_at_any_concurrency(
    repos: int, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    counts: dict[int, list[dict[str, int]]] = {}
    for concurrency in (1, 8):
        sizes = {f"repo{n:02d}": 2 + n % 3 for n in range(repos)}
        with running_github(org_model(sizes)) as server:
            state = tmp_path / f"state-{concurrency}.sqlite"
            rounds = []
            for _ in range(2):  # the first poll delivers, the second finds nothing new
                server.reset_counts()
                code, stderr = poll(server, trunk, state, concurrency=concurrency)
                assert code == 0, stderr
                rounds.append(dict(server.counts))
            counts[concurrency] = rounds
    assert counts[1] == counts[8]
    assert counts[8][1] == {"org_repos": 1, "list_304": repos}


def test_a_busy_repository_cannot_starve_the_others(tmp_path: Path, trunk: TrunkStandIn) -> None:
    # "big" sorts first: polled one after another, its backfill would spend the whole budget
    sizes = {"big": 450, "small1": 3, "small2": 4}
    with running_github(org_model(sizes), rate_limit=200) as server:
        code, stderr = poll(server, trunk, tmp_path / "s.sqlite", "--min-remaining", "40")
        spent = Counter(r.path.split("/")[3] for r in server.requests if "/repos/" in r.path)
    assert code == 75, stderr
    delivered = Counter(tags_repo(key) for key in chains(trunk.all_events()))
    assert delivered["small1"] == 3 and delivered["small2"] == 4
    assert 0 < delivered["big"] < 450
    assert spent["small1"] == 4 and spent["small2"] == 5  # one list page + a jobs page each


def tags_repo(key: tuple[int, int]) -> str:
    run_id = key[0]
    return {1: "big", 2: "small1", 3: "small2"}[run_id // 1_000_000]


@pytest.mark.parametrize("reserve", [10, 60, 150])
def test_min_remaining_leaves_the_headroom_and_names_the_reset(
    reserve: int, tmp_path: Path, trunk: TrunkStandIn
) -> None:
    with running_github(org_model({"one": 120, "two": 90}), rate_limit=200) as server:
        code, stderr = poll(server, trunk, tmp_path / "s.sqlite", "--min-remaining", str(reserve))
        remaining = server.remaining
    assert code == 75, stderr
    assert remaining >= reserve  # never dipped into the headroom, whatever was in flight
    assert f"--min-remaining {reserve}" in stderr and "2100-01-01" in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("ci-collector")]) <= 1


def test_verbose_ends_with_the_budget_used_per_repository(
    tmp_path: Path, trunk: TrunkStandIn
) -> None:
    with running_github(org_model({"alpha": 5, "beta": 2, "gamma": 1})) as server:
        code, stderr = poll(server, trunk, tmp_path / "s.sqlite", "-v")
    assert code == 0, stderr
    used = dict(re.findall(r"budget used by acme/(\w+): (\d+) requests", stderr))
    assert used == {"alpha": "6", "beta": "3", "gamma": "2"}
