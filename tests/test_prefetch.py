"""`OrderedPrefetch` (results in submission order, bounded) and `Pacer` (one shared rate)."""

from __future__ import annotations

import logging
import random
import threading
import time

import pytest

from ci_collector.pacing import Pacer
from ci_collector.prefetch import OrderedPrefetch, concurrency_from_env


class Flaky(Exception):
    pass


@pytest.mark.parametrize("workers", [1, 2, 8, 16])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_results_come_in_submission_order_whatever_finishes_first(workers: int, seed: int) -> None:
    pauses = random.Random(seed)
    delays = {n: pauses.random() / 150 for n in range(60)}  # waits: worth workers

    def fetch(n: int) -> int:
        time.sleep(delays[n])  # later items often finish first
        return n * n

    with OrderedPrefetch(workers) as prefetch:
        assert list(prefetch.map(fetch, range(60))) == [n * n for n in range(60)]


@pytest.mark.parametrize("workers", [2, 4, 8])
def test_no_more_than_the_window_is_fetched_ahead(workers: int) -> None:
    consumed = 0
    ahead: list[int] = []
    lock = threading.Lock()

    def fetch(n: int) -> int:
        with lock:
            ahead.append(n - consumed)
        time.sleep(0.005)  # a fetch that waits: it is worth a worker
        return n

    with OrderedPrefetch(workers) as prefetch:
        for n in prefetch.map(fetch, range(100)):
            consumed = n + 1
            time.sleep(0.0005)
    assert max(ahead) <= 2 * workers
    assert max(ahead) >= 2  # it did run ahead


@pytest.mark.parametrize("failing", [0, 5, 39])
def test_an_exception_surfaces_where_its_result_would_have(failing: int) -> None:
    def fetch(n: int) -> int:
        if n == failing:
            raise Flaky(str(n))
        return n

    got: list[int] = []
    with OrderedPrefetch(8) as prefetch, pytest.raises(Flaky, match=str(failing)):
        for n in prefetch.map(fetch, range(40)):
            got.append(n)
    assert got == list(range(failing))


def test_the_item_iterator_and_the_results_stay_on_the_callers_thread() -> None:
    caller = threading.get_ident()
    seen: list[int] = []

    def items() -> object:
        for n in range(20):
            seen.append(threading.get_ident())  # where the state would be read
            yield n

    workers: set[int] = set()

    def fetch(n: object) -> object:
        workers.add(threading.get_ident())
        time.sleep(0.005)
        return n

    with OrderedPrefetch(4) as prefetch:
        list(prefetch.map(fetch, items()))  # type: ignore[arg-type]
    assert set(seen) == {caller}
    assert len(workers - {caller}) > 1


def test_one_worker_is_a_plain_loop_on_the_callers_thread() -> None:
    threads: set[int] = set()
    order: list[str] = []

    def items() -> object:
        for n in range(3):
            order.append(f"item {n}")
            yield n

    def fetch(n: object) -> object:
        threads.add(threading.get_ident())
        order.append(f"fetch {n}")
        return n

    with OrderedPrefetch(1) as prefetch:
        for n in prefetch.map(fetch, items()):  # type: ignore[arg-type]
            order.append(f"use {n}")
    assert threads == {threading.get_ident()}
    assert order == [f"{what} {n}" for n in range(3) for what in ("item", "fetch", "use")]


def test_stopping_early_cancels_what_was_queued() -> None:
    fetched: list[int] = []

    def fetch(n: int) -> int:
        fetched.append(n)
        time.sleep(0.005)
        return n

    with OrderedPrefetch(2) as prefetch:
        for n in prefetch.map(fetch, range(1000)):
            if n == 8:
                break
        assert prefetch.threaded
    assert len(fetched) < 20


class FakeClocks:
    """A wall clock and a CPU clock that fetches advance by what they claim to spend."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def spend(self, cpu: float, wait: float) -> None:
        self.cpu += cpu
        self.wall += cpu + wait


def _prefetch(clocks: FakeClocks, workers: int = 8) -> OrderedPrefetch:
    return OrderedPrefetch(workers, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)


@pytest.mark.parametrize(
    ("cpu", "wait"), [(0.001, 0.0), (0.002, 0.0024), (0.0, 0.0), (0.05, 0.002)]
)
def test_fetches_that_do_not_wait_run_on_the_callers_thread(cpu: float, wait: float) -> None:
    clocks, caller, threads = FakeClocks(), threading.get_ident(), set()

    def fetch(n: int) -> int:
        threads.add(threading.get_ident())
        clocks.spend(cpu, wait)
        return -n

    with _prefetch(clocks) as prefetch:
        assert list(prefetch.map(fetch, range(200))) == [-n for n in range(200)]
        assert not prefetch.threaded
    assert threads == {caller}


@pytest.mark.parametrize(
    ("waits", "inline"),
    [
        ([0.2], 1),  # a real network: the first answer already took 200 ms
        ([0.0] * 30 + [0.021], 31),  # one stall, late in the run
        ([0.006] * 10, 4),  # a LAN at 6 ms a request
        ([0.002] * 20 + [0.005] * 20, 22),  # answers slowing down
    ],
)
def test_fetches_seen_waiting_move_to_workers(
    waits: list[float], inline: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ci_collector.prefetch")
    clocks, caller = FakeClocks(), threading.get_ident()
    where: dict[int, int] = {}

    def fetch(n: int) -> int:
        where[n] = threading.get_ident()
        if threading.get_ident() == caller:
            clocks.spend(0.0005, waits[min(n, len(waits) - 1)])
        return n * 3

    with _prefetch(clocks) as prefetch:
        assert list(prefetch.map(fetch, range(60))) == [n * 3 for n in range(60)]
        assert prefetch.threaded
        assert list(prefetch.map(fetch, range(60, 70))) == [n * 3 for n in range(60, 70)]
    assert [n for n in sorted(where) if where[n] == caller] == list(range(inline))
    (said,) = [r.getMessage() for r in caplog.records if r.name == "ci_collector.prefetch"]
    assert said.startswith("answers wait on the network (") and said.endswith("up to 8 in flight")


def test_one_worker_never_moves_to_a_thread_however_long_fetches_wait() -> None:
    clocks, caller, threads = FakeClocks(), threading.get_ident(), set()

    def fetch(n: int) -> int:
        threads.add(threading.get_ident())
        clocks.spend(0.0, 1.0)
        return n

    with _prefetch(clocks, workers=1) as prefetch:
        assert list(prefetch.map(fetch, range(20))) == list(range(20))
    assert threads == {caller}


def test_an_exception_on_the_callers_thread_surfaces_in_place() -> None:
    clocks = FakeClocks()

    def fetch(n: int) -> int:
        if n == 4:
            raise Flaky("4")
        return n

    got: list[int] = []
    with _prefetch(clocks) as prefetch, pytest.raises(Flaky, match="4"):
        for n in prefetch.map(fetch, range(10)):
            got.append(n)
    assert got == [0, 1, 2, 3]


@pytest.mark.parametrize(("text", "expected"), [("", 8), ("1", 1), ("12", 12), ("x", 8)])
def test_concurrency_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: int
) -> None:
    monkeypatch.setenv("CI_COLLECTOR_CONCURRENCY", text)
    assert concurrency_from_env() == expected
    assert concurrency_from_env(3) == 3


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("rate", "burst", "requests"), [(14, 60, 200), (5, 1, 20), (15, 10, 100)])
def test_the_pacer_never_exceeds_burst_plus_rate_times_time(
    rate: float, burst: int, requests: int
) -> None:
    fake = FakeTime()
    pacer = Pacer(rate, burst, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(requests):
        pacer.wait()
        starts.append(fake.now)
    began = starts[0]
    for index, at in enumerate(starts):
        assert index + 1 <= burst + (at - began) * rate + 1e-9
    total = starts[-1] - began
    assert total == pytest.approx((requests - burst) / rate, abs=1 / rate)


def test_an_unpaced_pacer_never_sleeps() -> None:
    fake = FakeTime()
    pacer = Pacer(None, clock=fake.clock, sleep=fake.sleep)
    for _ in range(1000):
        pacer.wait()
    assert fake.slept == []


def test_a_pause_holds_back_every_other_thread_but_not_the_pauser() -> None:
    fake = FakeTime()
    pacer = Pacer(None, clock=fake.clock, sleep=fake.sleep)
    pacer.pause(30)
    assert pacer.wait() == 0  # the thread that was told to wait sleeps it out itself
    waited: list[float] = []
    other = threading.Thread(target=lambda: waited.append(pacer.wait()))
    other.start()
    other.join()
    assert waited == [pytest.approx(30)]
    fake.now += 31
    assert pacer.wait() == 0
