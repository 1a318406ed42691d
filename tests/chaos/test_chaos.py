"""Seeded fault schedules against the real CLI: nothing lost, nothing doubled.

Each schedule picks a platform (GitHub, Jenkins, CircleCI, in turn), a history, a batch
size and a fault plan from its seed: 5xx, 429 with Retry-After, GitHub 403 rate limits,
dropped connections, answers later than --timeout, truncated JSON, runs deleted between
list and fetch, Trunk refusing a body (400) or losing its answer, and SIGKILL of the
collector at a random request. The collector is re-run until it exits 0 (then once more,
as cron would); see `harness.run_schedule` for what is checked. Re-run one schedule with
``pytest -m slow tests/chaos --schedules 1 --chaos-seed SEED``.
"""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from tests.chaos.conftest import TALLIES
from tests.chaos.harness import Tally

pytestmark = pytest.mark.slow


def test_schedule(schedule_seed: int, schedules: dict[int, Future[Tally]]) -> None:
    tally = schedules[schedule_seed].result(timeout=600)
    TALLIES.append(tally)
    assert tally.problems == [], "\n".join(tally.problems)
    assert tally.lost == 0 and tally.duplicated == 0
