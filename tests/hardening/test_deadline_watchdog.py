"""The deadline watchdog cuts a request's socket on time, whatever it was waiting for.

It is only woken when a new deadline comes before the ones it waits for, and it drops
finished ones lazily; these check that no live deadline is ever left waiting behind a
longer or finished one. The "connection" is one end of a socket pair: a cut shows as
end-of-stream on a read that would otherwise block.
"""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

from ci_collector.transport import deadline_scope


def _blocked_read_is_cut(seconds: float) -> tuple[bool, float]:
    """Read from a silent socket under a deadline of `seconds`: cut?, and how long it took."""
    ours, theirs = socket.socketpair()
    ours.settimeout(20)
    began = time.monotonic()
    try:
        with deadline_scope(seconds) as deadline:
            deadline.track(SimpleNamespace(sock=ours))
            data = ours.recv(10)
        return data == b"" and deadline.expired, time.monotonic() - began
    finally:
        ours.close()
        theirs.close()


def test_a_short_deadline_after_a_long_live_one_is_cut_on_time() -> None:
    holding, release = threading.Event(), threading.Event()

    def long_request() -> None:
        with deadline_scope(600):
            holding.set()
            release.wait(30)

    worker = threading.Thread(target=long_request)
    worker.start()
    try:
        assert holding.wait(5)
        for seconds in (0.3, 0.1, 0.2):  # each sooner than the 600 s one the watchdog waits on
            cut, took = _blocked_read_is_cut(seconds)
            assert cut and seconds <= took + 0.05 and took < seconds + 5
    finally:
        release.set()
        worker.join(5)


def test_a_deadline_behind_many_finished_ones_is_cut_on_time() -> None:
    for finished in (10, 1500, 5000):  # also past the heap's compaction threshold
        for _ in range(finished):
            with deadline_scope(120):
                pass
        cut, took = _blocked_read_is_cut(0.2)
        assert cut and took < 5


def test_a_deadline_not_reached_cuts_nothing() -> None:
    ours, theirs = socket.socketpair()
    try:
        with deadline_scope(30) as deadline:
            deadline.track(SimpleNamespace(sock=ours))
            theirs.sendall(b"answer")
            assert ours.recv(10) == b"answer"
        time.sleep(0.05)
        assert not deadline.expired
        theirs.sendall(b"more")
        assert ours.recv(10) == b"more"  # the socket is still open after the request
    finally:
        ours.close()
        theirs.close()
