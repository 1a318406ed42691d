"""Issue 13: a state file that cannot be used is one line with the exit code that says
whether waiting helps; a stuck lock is not a silent 0; `report` reads what it cannot
write. Through `main` in-process, against the Trunk stand-in."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ci_collector import state as state_module
from ci_collector import statefile
from ci_collector.state import State
from tests.delivery import harness
from tests.delivery.harness import good, run
from tests.servers.base import Reply, Request
from tests.servers.trunk import TOKEN, TrunkStandIn


def poll(trunk: TrunkStandIn, path: Path, *args: str, runs: int = 2) -> harness.Result:
    harness.RUNS[:] = [good(n) for n in range(1, runs + 1)]
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    return run("tiny", "--state", str(path), "--retry-seconds", "2", *args, env=env)


def assert_one_line(result: harness.Result, code: int, line: str) -> None:
    assert result.code == code, result.err
    assert result.lines[-1] == f"ci-collector: error: {line}"
    assert [x for x in result.lines if x.startswith("ci-collector")] == [result.lines[-1]]
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "code", [errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL], ids=["ENOLCK", "EOPNOTSUPP", "EINVAL"]
)
def test_a_file_system_without_locks_is_exit_2(
    trunk: TrunkStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def no_locks(fd: Any, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(statefile.fcntl, "flock", no_locks)
    path = tmp_path / "s.sqlite"
    result = poll(trunk, path)
    assert_one_line(
        result,
        2,
        f"cannot lock state file {path} ({os.strerror(code)}): its file system does not "
        "support locks (NFS?); put --state on a local disk",
    )
    assert trunk.server.requests == []


@pytest.mark.parametrize("version", [2, 7, 2**31 - 1])
def test_a_state_from_a_newer_version_is_refused_at_open(
    trunk: TrunkStandIn, tmp_path: Path, version: int
) -> None:
    path = tmp_path / "s.sqlite"
    State(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {version}")
    result = poll(trunk, path)
    assert_one_line(
        result,
        2,
        f"state file {path} was written by a newer ci-collector (schema {version}, this one "
        "knows 1): upgrade ci-collector",
    )
    assert trunk.server.requests == []
    show = run("state", "show", "--state", str(path))
    assert show.code == 2 and "newer ci-collector" in show.err


def _junk(path: Path) -> None:
    path.write_bytes(b"this is not a database, just some text " * 40)


def _zeroed_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:100] = bytes(100)
    path.write_bytes(bytes(data))


def _garbage_pages(path: Path) -> None:
    """A valid first page, and every other page overwritten (a torn or bit-rotted disk)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for offset in range(page, len(data), 7):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("corrupt", [_junk, _zeroed_header, _garbage_pages])
def test_a_corrupted_state_is_one_line_exit_2(
    trunk: TrunkStandIn, tmp_path: Path, corrupt: Callable[[Path], None]
) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as state:
        state.mark_all_delivered((f"run/{n}", "src", "fp", 3) for n in range(2000))
        state.set_cursor("src", {"at": 5})
        state._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    corrupt(path)
    result = poll(trunk, path)
    assert result.code == 2, result.err
    [line] = result.lines
    assert line.startswith(f"ci-collector: error: cannot open state file {path}: corrupted (")
    assert line.endswith("); move it aside and run again (everything is re-sent with the same ids)")


def test_a_state_busy_for_long_at_open_is_come_back_later(
    trunk: TrunkStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "BUSY_SECONDS", 0.2)  # the wait
    monkeypatch.setattr(statefile, "BUSY_SECONDS", 0.2)  # the message (statefile.py)
    path = tmp_path / "s.sqlite"
    State(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, and writing, and writing
    try:
        result = poll(trunk, path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_one_line(
        result,
        75,
        f"state file {path} stayed busy (another process is writing it) for 0.2 s; run again later",
    )


def test_a_state_busy_for_long_mid_poll_is_come_back_later(
    trunk: TrunkStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "BUSY_SECONDS", 0.2)  # the wait
    monkeypatch.setattr(statefile, "BUSY_SECONDS", 0.2)  # the message (statefile.py)
    path = tmp_path / "s.sqlite"
    State(path).close()
    holders: list[sqlite3.Connection] = []

    def take_the_file(request: Request, real: Callable[[], Reply]) -> Reply:
        if not holders:
            other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            other.execute("BEGIN IMMEDIATE")
            holders.append(other)
        return real()

    trunk.server.intercept = take_the_file
    try:
        result = poll(trunk, path)
    finally:
        for other in holders:
            other.execute("ROLLBACK")
            other.close()
    assert result.code == 75, result.err
    assert result.lines[-1] == (
        f"ci-collector: error: state file {path} stayed busy (another process is writing it) "
        "for 0.2 s; run again later"
    )


def _limit_pages(monkeypatch: pytest.MonkeyPatch, extra: int) -> None:
    """SQLite's own "database or disk is full", `extra` pages above the file's size."""
    connect = sqlite3.connect

    def small_disk(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {max(pages, 1) + extra}")
        return db

    monkeypatch.setattr(state_module.sqlite3, "connect", small_disk)


@pytest.mark.parametrize(("prepared", "runs"), [(False, 2), (True, 400)], ids=["open", "poll"])
def test_a_full_disk_is_one_line_exit_1(
    trunk: TrunkStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prepared: bool,
    runs: int,
) -> None:
    path = tmp_path / "s.sqlite"
    if prepared:
        State(path).close()
    _limit_pages(monkeypatch, 0)
    result = poll(trunk, path, runs=runs)
    assert_one_line(
        result,
        1,
        f"no space left for state file {path} (database or disk is full); free some space",
    )


def _hold(path: Path, age: float | None) -> State:
    holder = State(path)
    holder.lock()
    lock_file = path.with_name(path.name + ".lock")
    if age is None:  # a holder of an older version wrote nothing
        lock_file.write_text("")
    else:
        lock_file.write_text(f"4242 {time.time() - age - 0.5:.3f}\n")
    return holder


@pytest.mark.parametrize(
    ("age", "args", "code", "tail"),
    [
        (5, (), 0, " (pid 4242, for 0m05s); exiting (use --wait to queue)"),
        (1800, (), 0, " (pid 4242, for 30m00s); exiting (use --wait to queue)"),
        (None, (), 0, "; exiting (use --wait to queue)"),
        (
            7300,
            (),
            1,
            " (pid 4242, for 2h01m): longer than a poll should take (--max-lock-age 3600s); "
            "is that process stuck?",
        ),
        (
            600,
            ("--max-lock-age", "300"),
            1,
            " (pid 4242, for 10m00s): longer than a poll should take (--max-lock-age 300s); "
            "is that process stuck?",
        ),
    ],
)
def test_a_held_lock_names_its_holder_and_an_old_one_is_not_a_silent_0(
    trunk: TrunkStandIn,
    tmp_path: Path,
    age: float | None,
    args: tuple[str, ...],
    code: int,
    tail: str,
) -> None:
    path = tmp_path / "s.sqlite"
    holder = _hold(path, age)
    try:
        result = poll(trunk, path, *args)
    finally:
        holder.close()
    assert result.code == code, result.err
    prefix = "ci-collector: error: " if code else "ci-collector: "
    assert result.lines == [f"{prefix}another ci-collector is using {path}{tail}"]
    assert trunk.server.requests == []


def test_the_lock_file_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as state:
        state.lock()
        pid, since = path.with_name("s.sqlite.lock").read_text().split()
    assert int(pid) == os.getpid()
    assert abs(float(since) - time.time()) < 60


# ---- report on a state file it cannot write ------------------------------------------


def _read_only(paths: list[Path]) -> Callable[[], None]:
    """Make `paths` unwritable even for root (immutable), or by mode for anyone else."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return lambda: [p.chmod(m) for p, m in modes.items()] and None
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make files immutable here: {done.stderr.decode().strip()}")
    return lambda: subprocess.run(["chattr", "-i", *map(str, paths)], check=True) and None


@pytest.mark.parametrize("checkpointed", [True, False], ids=["checkpointed", "with-wal"])
def test_report_reads_a_state_it_cannot_write(tmp_path: Path, checkpointed: bool) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "state.sqlite"
    harness.RUNS[:] = [good(n) for n in range(1, 4)]
    stored = run("tiny", "--state", str(path))  # no token: the local store
    assert stored.code == 0, stored.err
    if checkpointed:
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [folder, *folder.iterdir()]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    restore = _read_only(files)
    try:
        result = run("report", "--state", str(path), "--format", "json", "--until", "2023-11-16")
    finally:
        restore()
    assert result.code == 0, result.err
    assert sum(day["total_runs"] for day in json.loads(result.out)["daily"]) == 3
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
