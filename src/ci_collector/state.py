"""What has been delivered, where each source's polling stands, and the poll lock.

One SQLite file in WAL mode. A run attempt is written here only after its whole chain
was accepted by the sink, and every write commits at once: a process killed at any
moment loses at most the knowledge that some runs were sent, so they are sent again
with the same ids (harmless), and never the other way round.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import CollectorError, ComeBackLater, RemoteError, UserError
from .refusals import REFUSALS_SCHEMA, RefusalBook

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    cursor TEXT,
    last_success TEXT,
    runs_delivered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS delivered (
    run_key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    events INTEGER NOT NULL,
    delivered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivered_by_source ON delivered(source);
CREATE TABLE IF NOT EXISTS etags (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    etag TEXT NOT NULL,
    body BLOB NOT NULL,
    used_at REAL NOT NULL DEFAULT 0
);
"""


SCHEMA_VERSION = 1
"""Stored as ``PRAGMA user_version``: a file from a newer ci-collector is refused at open."""

BUSY_SECONDS = 30.0
"""How long a write waits for another connection to the file before giving up (exit 75)."""

LOCK_MAX_AGE_SECONDS = 3600.0
"""A poll lock held longer than this is reported as stuck (exit 1), not as a busy neighbour."""
ETAG_TTL_SECONDS = 7 * 24 * 3600
"""A cached list page unused for a week is dropped: its window has left every look-back."""


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/ci-collector/state.sqlite`` (``~/.local/state`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ci-collector" / "state.sqlite"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


@dataclass(frozen=True, slots=True)
class SourceSummary:
    source: str
    cursor: dict[str, Any] | None
    last_success: str | None
    runs_delivered: int


class State(RefusalBook):
    """The state file. Use as a context manager, or call `close`.

    `namespace` keeps destinations apart in one file: what went only to the local store
    (``store:``) is not "delivered" for Trunk, so adding a token later still sends it.
    Every source, run key and cached URL is stored under the namespace.
    """

    def __init__(self, path: str | Path, namespace: str = "") -> None:
        self.path = Path(path)
        self.namespace = namespace
        self._lock_file: Any = None
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
            self._check_version()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA + REFUSALS_SCHEMA)
            if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.prune_etags()
        except (OSError, sqlite3.Error) as exc:
            if db is not None:
                db.close()
            raise state_failure(self.path, exc) from None

    def _check_version(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            self._db.close()
            raise UserError(
                f"state file {self.path} was written by a newer ci-collector (schema "
                f"{version}, this one knows {SCHEMA_VERSION}): upgrade ci-collector"
            )

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.unlock()
        self._db.close()

    # ---- the lock: one delivering process per state file ----------------------------

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

    # ---- delivered run attempts -----------------------------------------------------

    def is_delivered(self, run_key: str, fingerprint: str = "") -> bool:
        """True when this attempt was delivered (with this fingerprint, if one is given)."""
        row = self._db.execute(
            "SELECT fingerprint FROM delivered WHERE run_key = ?", (self.namespace + run_key,)
        ).fetchone()
        if row is not None and (not fingerprint or row[0] == fingerprint):
            return True
        return self.is_quarantined(run_key, fingerprint)  # settled too: not re-sent every poll

    def mark_delivered(self, run_key: str, source: str, fingerprint: str, events: int) -> None:
        self.mark_all_delivered([(run_key, source, fingerprint, events)])

    def mark_all_delivered(self, attempts: Iterable[tuple[str, str, str, int]]) -> None:
        """Record ``(run_key, source, fingerprint, events)`` attempts in one transaction."""
        now = _now()
        with self._transaction():
            for bare_key, bare_source, fingerprint, events in attempts:
                run_key, source = self.namespace + bare_key, self.namespace + bare_source
                new = (
                    self._db.execute(
                        "SELECT 1 FROM delivered WHERE run_key = ?", (run_key,)
                    ).fetchone()
                    is None
                )
                self._db.execute(
                    "INSERT INTO delivered(run_key, source, fingerprint, events, delivered_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_key) DO UPDATE SET"
                    " fingerprint = excluded.fingerprint, events = excluded.events,"
                    " delivered_at = excluded.delivered_at",
                    (run_key, source, fingerprint, events, now),
                )
                self._db.execute(
                    "INSERT INTO sources(source, runs_delivered) VALUES (?, ?)"
                    " ON CONFLICT(source) DO UPDATE SET"
                    " runs_delivered = runs_delivered + excluded.runs_delivered",
                    (source, int(new)),  # a re-sent run (new fingerprint) is no new run
                )

    def delivered_count(self, source: str | None = None) -> int:
        if source is None:
            row = self._db.execute("SELECT count(*) FROM delivered").fetchone()
        else:
            row = self._db.execute(
                "SELECT count(*) FROM delivered WHERE source = ?", (self.namespace + source,)
            ).fetchone()
        return int(row[0])

    # ---- cursors --------------------------------------------------------------------

    def cursor(self, source: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT cursor FROM sources WHERE source = ?", (self.namespace + source,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def set_cursor(self, source: str, cursor: dict[str, Any]) -> None:
        """Move a source's bookmark; call only once what lies behind it was delivered."""
        text = json.dumps(cursor, sort_keys=True)
        with self._transaction():
            self._db.execute(
                "INSERT INTO sources(source, cursor) VALUES (?, ?)"
                " ON CONFLICT(source) DO UPDATE SET cursor = excluded.cursor",
                (self.namespace + source, text),
            )

    def record_success(self, source: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO sources(source, last_success) VALUES (?, ?)"
                " ON CONFLICT(source) DO UPDATE SET last_success = excluded.last_success",
                (self.namespace + source, _now()),
            )

    # ---- conditional requests -------------------------------------------------------

    def etag(self, url: str) -> tuple[str, bytes] | None:
        """The ETag and body of a list page, so a 304 can be answered from here."""
        url = self.namespace + url
        row = self._db.execute("SELECT etag, body FROM etags WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        with self._transaction():
            self._db.execute("UPDATE etags SET used_at = ? WHERE url = ?", (time.time(), url))
        return row[0], zlib.decompress(row[1])

    def set_etag(self, url: str, source: str, etag: str, body: bytes) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO etags(url, source, etag, body, used_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, body = excluded.body,"
                " used_at = excluded.used_at",
                (
                    self.namespace + url,
                    self.namespace + source,
                    etag,
                    zlib.compress(body),
                    time.time(),
                ),
            )

    def prune_etags(self, unused_for: float = ETAG_TTL_SECONDS) -> int:
        """Drop cached pages no poll asked for lately (look-back URLs move on every day)."""
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM etags WHERE used_at < ?", (time.time() - unused_for,)
            )
        return int(cursor.rowcount)

    # ---- inspection -----------------------------------------------------------------

    def sources(self) -> list[SourceSummary]:
        rows = self._db.execute(
            "SELECT source, cursor, last_success, runs_delivered FROM sources ORDER BY source"
        ).fetchall()
        return [
            SourceSummary(row[0], json.loads(row[1]) if row[1] else None, row[2], int(row[3]))
            for row in rows
        ]

    def forget(self, source: str) -> int:
        """Drop everything known about a source; its history will be sent again."""
        with self._transaction():
            count = self._db.execute("DELETE FROM delivered WHERE source = ?", (source,)).rowcount
            self._db.execute("DELETE FROM etags WHERE source = ?", (source,))
            self._db.execute("DELETE FROM refusals WHERE source = ?", (source,))
            count += self._db.execute("DELETE FROM sources WHERE source = ?", (source,)).rowcount
        return int(count)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite already rolled back on a full disk
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
