"""The state file's poll lock, and its failures as one line with the right exit code.

Apart from state.py (the tables) so each stays small; `State` mixes `PollLock` in.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from .errors import CollectorError, ComeBackLater, RemoteError, UserError

BUSY_SECONDS = 30.0
"""How long a write waits for another connection to the file before giving up (exit 75)."""

LOCK_MAX_AGE_SECONDS = 3600.0
"""A poll lock held longer than this is reported as stuck (exit 1), not as a busy neighbour."""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class StateBusy(Exception):
    """Another ci-collector holds the lock on this state file."""

    def __init__(self, message: str, age: float | None = None) -> None:
        super().__init__(message)
        self.age = age


def state_failure(path: Path | str, exc: sqlite3.Error | OSError) -> CollectorError:
    """One line, and the exit code that says whether waiting helps, for a failing state file.

    Busy is transient (75); a full disk needs a person (1); a corrupted or unwritable
    file, or one from a newer version, is configuration (2): it never heals by itself.
    """
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if "locked" in text or "busy" in text:
        return ComeBackLater(
            f"state file {path} stayed busy (another process is writing it) for "
            f"{BUSY_SECONDS:g} s; run again later"
        )
    if "full" in text or code == errno.ENOSPC:
        return RemoteError(f"no space left for state file {path} ({exc}); free some space")
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return UserError(
            f"cannot open state file {path}: corrupted ({exc}); move it aside and run "
            "again (everything is re-sent with the same ids)"
        )
    if "readonly" in text or "read-only" in text or code in (errno.EACCES, errno.EROFS):
        return UserError(f"state file {path} is not writable ({exc}); check --state")
    if isinstance(exc, sqlite3.Error):
        return UserError(f"cannot open state file {path}: {exc}")
    return UserError(f"cannot open state file {path}: {exc.strerror or exc}")


class PollLock:
    """One delivering process per state file: an flock beside it naming holder and age."""

    path: Path
    _lock_file: Any

    def lock(self, wait: bool = False, poll_seconds: float = 0.5) -> None:
        """Take the poll lock, or raise `StateBusy` (unless `wait`, which blocks)."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock_path, "a+")  # noqa: SIM115
        except OSError as exc:
            raise state_failure(lock_path, exc) from None
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    handle.close()
                    raise self._busy(lock_path) from None
                time.sleep(poll_seconds)
            except OSError as exc:  # ENOLCK: NFS without a lock daemon; EOPNOTSUPP, EINVAL
                handle.close()
                raise UserError(
                    f"cannot lock state file {self.path} ({os.strerror(exc.errno or 0)}): its "
                    "file system does not support locks (NFS?); put --state on a local disk"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {time.time():.0f}\n")  # who holds it, since when
        handle.flush()
        self._lock_file = handle

    def _busy(self, lock_path: Path) -> StateBusy:
        """Who holds the lock and for how long, as its holder wrote it in the lock file."""
        message = f"another ci-collector is using {self.path}"
        try:
            pid, since = lock_path.read_text().split()
            age = max(0.0, time.time() - float(since))
        except (OSError, ValueError):
            return StateBusy(message)
        return StateBusy(f"{message} (pid {pid}, for {_duration(age)})", age)

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
