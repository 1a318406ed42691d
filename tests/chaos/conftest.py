"""``--schedules N`` (default 10) and ``--chaos-seed S``; the tally of every schedule run.

The tally is printed at the end of the session and written as JSON to
``$TMPDIR/ci-collector-chaos-tally.json`` (or ``--chaos-tally PATH``).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import Tally, run_schedule
from tests.chaos.worlds import PLATFORMS

TALLIES: list[Tally] = []
DEFAULT_SCHEDULES = 10
DEFAULT_SEED = 20_240_601
PARALLEL = 4
"""Schedules run side by side: each has its own servers and state, and mostly waits."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos")
    group.addoption(
        "--schedules",
        type=int,
        default=DEFAULT_SCHEDULES,
        help="How many seeded chaos schedules to run (default 10).",
    )
    group.addoption(
        "--chaos-seed",
        type=int,
        default=DEFAULT_SEED,
        help="Seed of the first schedule; schedule i uses seed + i.",
    )
    group.addoption(
        "--chaos-tally", default=None, help="Where to write the JSON tally of the chaos schedules."
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every chaos schedule is in the slow tier (`pytest -m slow`), whichever file holds it."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "schedule_seed" in metafunc.fixturenames:
        count = _option(metafunc.config, "schedules", DEFAULT_SCHEDULES)
        first = _option(metafunc.config, "chaos_seed", DEFAULT_SEED)
        metafunc.parametrize(
            "schedule_seed",
            [first + i for i in range(count)],
            ids=[f"seed{first + i}" for i in range(count)],
        )


def platform_of(seed: int) -> str:
    return PLATFORMS[seed % len(PLATFORMS)]


@pytest.fixture(scope="session")
def schedules(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[int, Future[Tally]]]:
    """Every schedule of the session, started at once on a small pool; tests wait for theirs."""
    count = _option(request.config, "schedules", DEFAULT_SCHEDULES)
    first = _option(request.config, "chaos_seed", DEFAULT_SEED)
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            seed: pool.submit(
                run_schedule, seed, platform_of(seed), tmp_path_factory.mktemp(f"seed{seed}")
            )
            for seed in range(first, first + count)
        }
        yield futures
        for future in futures.values():
            future.cancel()


def _option(config: pytest.Config, name: str, default: Any) -> Any:
    try:
        return config.getoption(name)
    except ValueError:  # this conftest was not loaded early enough to add options
        return default


def summary() -> dict[str, Any]:
    faults: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    for tally in TALLIES:
        faults.update(tally.faults)
        exits.update({str(k): v for k, v in tally.exits.items()})
    return {
        "schedules": len(TALLIES),
        "by_platform": dict(Counter(t.platform for t in TALLIES)),
        "invocations": sum(t.invocations for t in TALLIES),
        "kills": sum(t.kills for t in TALLIES),
        "faults_injected": sum(faults.values()),
        "faults_by_kind": dict(sorted(faults.items())),
        "exit_codes": dict(sorted(exits.items())),
        "events_expected": sum(t.events_expected for t in TALLIES),
        "lost": sum(t.lost for t in TALLIES),
        "duplicated": sum(t.duplicated for t in TALLIES),
        "resent_identical": sum(t.resent for t in TALLIES),
        "runs_deleted_mid_poll": sum(t.deleted_runs for t in TALLIES),
        "schedules_with_problems": [t.seed for t in TALLIES if t.problems],
        "schedules_detail": [t.as_dict() for t in TALLIES],
    }


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not TALLIES:
        return
    data = summary()
    path = Path(
        _option(config, "chaos_tally", None)
        or Path(tempfile.gettempdir()) / "ci-collector-chaos-tally.json"
    )
    path.write_text(json.dumps(data, indent=1))
    brief = {k: v for k, v in data.items() if k != "schedules_detail"}
    terminalreporter.write_sep("-", "chaos tally")
    terminalreporter.write_line(json.dumps(brief))
    terminalreporter.write_line(f"(per schedule: {path})")
