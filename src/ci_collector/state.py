"""What has been delivered, where each source's polling stands, and the poll lock.

One SQLite file in WAL mode. A run attempt is written here only after its whole chain
was accepted by the sink, and every write commits at once: a process killed at any
moment loses at most the knowledge that some runs were sent, so they are sent again
with the same ids (harmless), and never the other way round.
"""

from __future__ import annotations

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

from .errors import UserError
from .refusals import REFUSALS_SCHEMA, RefusalBook
from .statefile import BUSY_SECONDS as BUSY_SECONDS
from .statefile import LOCK_MAX_AGE_SECONDS as LOCK_MAX_AGE_SECONDS
from .statefile import PollLock
from .statefile import StateBusy as StateBusy
from .statefile import state_failure as state_failure

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
CREATE TABLE IF NOT EXISTS skipped (
    run_key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    settings TEXT NOT NULL,
    reason TEXT NOT NULL,
    skipped_at TEXT NOT NULL
);
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

ETAG_TTL_SECONDS = 7 * 24 * 3600
"""A cached list page unused for a week is dropped: its window has left every look-back."""


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/ci-collector/state.sqlite`` (``~/.local/state`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ci-collector" / "state.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class SourceSummary:
    source: str
    cursor: dict[str, Any] | None
    last_success: str | None
    runs_delivered: int
    skipped: tuple[str, ...] = ()
    """Run keys skipped (and remembered as such), not delivered since."""
    refused: tuple[str, ...] = ()
    """Run keys a sink refused (dead-lettered), not delivered since."""


Attempt = tuple[str, str, str, int]
"""``(run_key, source, fingerprint, events)`` of one run attempt."""


class State(RefusalBook, PollLock):
    """The state file. Use as a context manager, or call `close`.

    `namespace` keeps destinations apart in one file: what went only to the local store
    (``store:``) is not "delivered" for Trunk, so adding a token later still sends it.
    Every source, run key and cached URL is stored under the namespace.

    `sinks` are the namespaces of the destinations of this run (Trunk ``""``, the
    store ``store:``...): each remembers its own deliveries, and an attempt counts as
    delivered only when every one of them has it.
    """

    def __init__(self, path: str | Path, namespace: str = "") -> None:
        self.path = Path(path)
        self.namespace = namespace
        self.sinks: tuple[str, ...] = (namespace,)
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

    # ---- delivered run attempts -----------------------------------------------------

    def is_delivered(self, run_key: str, fingerprint: str = "") -> bool:
        """True when every sink has this attempt (with this fingerprint, if one is given).

        A quarantined attempt counts too: settled, so it is not re-sent every poll.
        """
        if all(self.delivered_to(sink, run_key, fingerprint) for sink in self.sinks):
            return True
        return self.is_quarantined(run_key, fingerprint)

    def mark_delivered(self, run_key: str, source: str, fingerprint: str, events: int) -> None:
        self.mark_all_delivered([(run_key, source, fingerprint, events)])

    def mark_all_delivered(self, attempts: Iterable[Attempt], sink: str | None = None) -> None:
        """Record attempts one sink (default: this state's namespace) took, at once.

        A few statements per call, not four per attempt: this runs after every body."""
        now = _now()
        prefix = self.namespace if sink is None else sink
        rows = [
            (prefix + key, prefix + source, fingerprint, events, now)
            for key, source, fingerprint, events in attempts
        ]
        if not rows:
            return
        keys = [(row[0],) for row in rows]
        with self._transaction():
            known = self._known_keys([key for (key,) in keys])
            added: dict[str, int] = {}
            for run_key, source, *_ in rows:  # a re-sent run (new fingerprint) is no new run
                if run_key not in known:
                    known.add(run_key)
                    added[source] = added.get(source, 0) + 1
                else:
                    added.setdefault(source, 0)
            self._db.executemany("DELETE FROM skipped WHERE run_key = ?", keys)
            self._db.executemany(
                "INSERT INTO delivered(run_key, source, fingerprint, events, delivered_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_key) DO UPDATE SET"
                " fingerprint = excluded.fingerprint, events = excluded.events,"
                " delivered_at = excluded.delivered_at",
                rows,
            )
            self._db.executemany(
                "INSERT INTO sources(source, runs_delivered) VALUES (?, ?)"
                " ON CONFLICT(source) DO UPDATE SET"
                " runs_delivered = runs_delivered + excluded.runs_delivered",
                added.items(),
            )

    def _known_keys(self, run_keys: list[str]) -> set[str]:
        """Which of these run keys the delivered table has, in one query."""
        rows = self._db.execute(
            "SELECT run_key FROM delivered WHERE run_key IN (SELECT value FROM json_each(?))",
            (json.dumps(run_keys),),
        )
        return {key for (key,) in rows}

    def delivered_count(self, source: str | None = None) -> int:
        if source is None:
            row = self._db.execute("SELECT count(*) FROM delivered").fetchone()
        else:
            row = self._db.execute(
                "SELECT count(*) FROM delivered WHERE source = ?", (self.namespace + source,)
            ).fetchone()
        return int(row[0])

    def delivered_to(self, sink: str, run_key: str, fingerprint: str = "") -> bool:
        """True when the sink with namespace `sink` has this attempt."""
        row = self._db.execute(
            "SELECT fingerprint FROM delivered WHERE run_key = ?", (sink + run_key,)
        ).fetchone()
        return row is not None and (not fingerprint or row[0] == fingerprint)

    def mark_dead_lettered(self, attempts: Iterable[Attempt]) -> None:
        """Attempts a sink refused (kept in its dead-letter file): never silently lost.

        One table with the Trunk refusals (`RefusalBook`): a chain the sink already
        counted there, with Trunk's answer, keeps that record.
        """
        now = _now()
        with self._transaction():
            for run_key, source, fingerprint, _events in attempts:
                self._db.execute(
                    "INSERT OR IGNORE INTO refusals(run_key, source, fingerprint, polls,"
                    " status, error, body, first_refused, last_refused)"
                    " VALUES (?, ?, ?, 1, 0, '', '', ?, ?)",
                    (self.namespace + run_key, self.namespace + source, fingerprint, now, now),
                )
                self._db.execute(  # so `state show` lists the source with its refusals
                    "INSERT OR IGNORE INTO sources(source) VALUES (?)", (self.namespace + source,)
                )

    # ---- skipped run attempts -------------------------------------------------------

    def mark_skipped(self, run_key: str, source: str, settings: str, reason: str) -> None:
        """Remember a run that was not collected, and under which settings, to retry it."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO skipped(run_key, source, settings, reason, skipped_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.namespace + run_key, self.namespace + source, settings, reason, _now()),
            )
            self._db.execute(
                "INSERT OR IGNORE INTO sources(source) VALUES (?)", (self.namespace + source,)
            )

    def skipped(self, source: str) -> dict[str, str]:
        """The skipped run keys of a source, each with the settings that skipped it."""
        rows = self._db.execute(
            "SELECT run_key, settings FROM skipped WHERE source = ?", (self.namespace + source,)
        ).fetchall()
        return {str(key).removeprefix(self.namespace): str(settings) for key, settings in rows}

    # ---- cursors --------------------------------------------------------------------

    def cursor(self, source: str) -> dict[str, Any] | None:
        """The source's bookmark, if every sink of this run holds the same one.

        Destinations may stand at different places (OTLP added beside Trunk has none):
        then there is no bookmark and the source lists from its start, the earliest
        place of all; what a destination already has is not sent to it again (the tee
        checks each sink's own deliveries).
        """
        found = [self._cursor_in(sink, source) for sink in self.sinks]
        return found[0] if all(cursor == found[0] for cursor in found) else None

    def _cursor_in(self, namespace: str, source: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT cursor FROM sources WHERE source = ?", (namespace + source,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def set_cursor(self, source: str, cursor: dict[str, Any]) -> None:
        """Move a source's bookmark for every sink; call only once all of them have
        everything behind it."""
        text = json.dumps(cursor, sort_keys=True)
        with self._transaction():
            for sink in self.sinks:
                self._db.execute(
                    "INSERT INTO sources(source, cursor) VALUES (?, ?)"
                    " ON CONFLICT(source) DO UPDATE SET cursor = excluded.cursor",
                    (sink + source, text),
                )

    def record_success(self, source: str) -> None:
        with self._transaction():
            for sink in self.sinks:
                self._db.execute(
                    "INSERT INTO sources(source, last_success) VALUES (?, ?)"
                    " ON CONFLICT(source) DO UPDATE SET last_success = excluded.last_success",
                    (sink + source, _now()),
                )

    # ---- conditional requests -------------------------------------------------------

    def etag(self, url: str) -> tuple[str, bytes] | None:
        """The ETag and body of a list page, so a 304 can be answered from here.

        Only when every sink of this run cached the same one (a 304 would hide the
        page's runs from a sink that never saw them).
        """
        found = [self._etag_in(sink + url) for sink in self.sinks]
        return found[0] if all(etag == found[0] for etag in found) else None

    def _etag_in(self, url: str) -> tuple[str, bytes] | None:
        row = self._db.execute("SELECT etag, body FROM etags WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        with self._transaction():
            self._db.execute("UPDATE etags SET used_at = ? WHERE url = ?", (time.time(), url))
        return row[0], zlib.decompress(row[1])

    def set_etag(self, url: str, source: str, etag: str, body: bytes) -> None:
        """Remember a page for the 304s to come, compressed once for every sink's row.

        zlib's default level: level 1 saved 6 ms a megabyte page but doubled the state
        file (a 20,000-run backfill: 19 MB instead of 9 MB)."""
        packed = zlib.compress(body)
        with self._transaction():
            for sink in self.sinks:
                self._db.execute(
                    "INSERT INTO etags(url, source, etag, body, used_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, body = excluded.body,"
                    " used_at = excluded.used_at",
                    (sink + url, sink + source, etag, packed, time.time()),
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
            SourceSummary(
                row[0],
                json.loads(row[1]) if row[1] else None,
                row[2],
                int(row[3]),
                self._keys("skipped", row[0]),
                self._keys("refusals", row[0]),
            )
            for row in rows
        ]

    def _keys(self, table: str, source: str) -> tuple[str, ...]:
        rows = self._db.execute(
            f"SELECT run_key FROM {table} WHERE source = ?"  # noqa: S608 (a fixed table name)
            " AND run_key NOT IN (SELECT run_key FROM delivered) ORDER BY run_key",
            (source,),
        ).fetchall()
        return tuple(str(row[0]) for row in rows)

    def forget(self, source: str) -> int:
        """Drop everything known about a source; its history will be sent again."""
        with self._transaction():
            count = self._db.execute("DELETE FROM delivered WHERE source = ?", (source,)).rowcount
            self._db.execute("DELETE FROM skipped WHERE source = ?", (source,))
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
