"""The chaos schedules with the OTLP sink (alone, and beside Trunk): 0 lost, 0 duplicated.

A slice of the chaos suite: one schedule per platform by default, same faults and
SIGKILLs, checked at the OTLP receiver (see `otlp_harness`). More with
``--otlp-schedules N``; one seed with ``--chaos-seed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.chaos.conftest import DEFAULT_SEED, PARALLEL, TALLIES, platform_of
from tests.chaos.harness import Tally
from tests.chaos.otlp_harness import run_otlp_schedule

SCHEDULES = 3
FIRST = DEFAULT_SEED + 1_000


@pytest.fixture(scope="module")
def otlp_schedules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Future[Tally]]]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            seed: pool.submit(
                run_otlp_schedule, seed, platform_of(seed), tmp_path_factory.mktemp(f"otlp{seed}")
            )
            for seed in range(FIRST, FIRST + SCHEDULES)
        }
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.parametrize("seed", range(FIRST, FIRST + SCHEDULES), ids=lambda s: f"otlp-seed{s}")
def test_otlp_schedule(seed: int, otlp_schedules: dict[int, Future[Tally]]) -> None:
    tally = otlp_schedules[seed].result(timeout=600)
    TALLIES.append(tally)
    assert tally.events_expected > 0
    assert tally.problems == [], "\n".join(tally.problems)
    assert tally.lost == 0 and tally.duplicated == 0
