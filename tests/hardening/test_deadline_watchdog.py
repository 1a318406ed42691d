"""The deadline thread is woken only when needed, and still cuts every deadline in time."""

from __future__ import annotations

import time

from ci_collector.transport import Deadline, _Watchdog


def _wait_until(predicate: object, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_shorter_deadline_behind_a_long_one_expires_on_time() -> None:
    watchdog = _Watchdog()
    long, short = Deadline(60), Deadline(0.2)
    watchdog.watch(long)
    time.sleep(0.05)  # the thread now sleeps until the long one
    began = time.monotonic()
    watchdog.watch(short)
    assert _wait_until(lambda: short.expired)
    assert time.monotonic() - began < 3
    assert not long.expired


def test_later_deadlines_expire_in_order_without_a_wake_up_each() -> None:
    watchdog = _Watchdog()
    first, second = Deadline(0.2), Deadline(0.4)
    watchdog.watch(first)
    watchdog.watch(second)  # later than the one the thread waits for: no wake-up needed
    assert _wait_until(lambda: first.expired and second.expired)


def test_finished_deadlines_are_dropped_and_never_expired() -> None:
    watchdog = _Watchdog()
    finished = [Deadline(0.1) for _ in range(50)]
    for deadline in finished:
        watchdog.watch(deadline)
        deadline.finish()
    last = Deadline(0.3)
    watchdog.watch(last)
    assert _wait_until(lambda: last.expired)
    assert not any(deadline.expired for deadline in finished)
    assert _wait_until(lambda: not watchdog._heap)


def test_finished_deadlines_do_not_pile_up_while_the_thread_sleeps() -> None:
    """Requests that share one long timeout: the thread sleeps until the first of them,
    yet the finished ones ahead of a new deadline are dropped as it is added."""
    watchdog = _Watchdog()
    for _ in range(1000):
        deadline = Deadline(300)
        watchdog.watch(deadline)
        deadline.finish()
    assert len(watchdog._heap) <= 1
    pending = Deadline(300)
    watchdog.watch(pending)
    assert [entry[2] for entry in watchdog._heap] == [pending]
