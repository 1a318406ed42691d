"""Chains Trunk refused, counted per poll, and the quarantine that stops re-sending them.

Kept in the state file (its own table, written through `State`): a chain refused in
`QUARANTINE_AFTER` polls in a row, over at least `QUARANTINE_MIN_SECONDS`, is *held*:
counted as settled so no poll re-sends it, and listed by ``ci-collector dead-letter``
until a person replays or drops it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone

REFUSALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS refusals (
    run_key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    polls INTEGER NOT NULL,
    status INTEGER NOT NULL,
    error TEXT NOT NULL,
    body TEXT NOT NULL,
    first_refused TEXT NOT NULL,
    last_refused TEXT NOT NULL,
    quarantine TEXT NOT NULL DEFAULT ''
);
"""
"""Chains Trunk refused: counted per poll; `QUARANTINE_AFTER` polls in a row quarantine one.

``quarantine`` is '' (refused, still re-sent), 'held' (not re-sent, listed by
``ci-collector dead-letter``) or 'dropped' (a person gave up on it: neither).
"""

QUARANTINE_AFTER = 3
QUARANTINE_MIN_SECONDS = 1800.0
"""...and at least this long since the first refusal: a short Trunk incident, or polls run
back to back, quarantine nothing (a quarantined chain waits for a person)."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _since(stamp: str) -> float:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - then).total_seconds()


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


@dataclass(frozen=True, slots=True)
class Refusal:
    run_key: str
    source: str
    fingerprint: str
    polls: int
    status: int
    error: str
    body: str
    first_refused: str
    last_refused: str
    quarantine: str


class RefusalBook:
    """The refusal methods of `State` (which provides the connection and namespace)."""

    _db: sqlite3.Connection
    namespace: str

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def record_refusal(
        self, run_key: str, source: str, fingerprint: str, status: int, error: str, body: str
    ) -> Refusal:
        """Count one more poll in which Trunk refused this chain; quarantine it at the limit.

        A changed fingerprint (the run itself changed) starts the count again.
        """
        now, key = _now(), self.namespace + run_key
        with self._transaction():
            row = self._db.execute(
                "SELECT fingerprint, polls, first_refused FROM refusals WHERE run_key = ?", (key,)
            ).fetchone()
            polls, first = (row[1] + 1, row[2]) if row and row[0] == fingerprint else (1, now)
            held = (
                "held"
                if polls >= QUARANTINE_AFTER and _since(first) >= QUARANTINE_MIN_SECONDS
                else ""
            )
            self._db.execute(
                "INSERT OR REPLACE INTO refusals(run_key, source, fingerprint, polls, status,"
                " error, body, first_refused, last_refused, quarantine)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    self.namespace + source,
                    fingerprint,
                    polls,
                    status,
                    error[:4000],
                    body,
                    first,
                    now,
                    held,
                ),
            )
        return Refusal(run_key, source, fingerprint, polls, status, error, body, first, now, held)

    def is_quarantined(self, run_key: str, fingerprint: str = "") -> bool:
        row = self._db.execute(
            "SELECT fingerprint FROM refusals WHERE run_key = ? AND quarantine != ''",
            (self.namespace + run_key,),
        ).fetchone()
        return row is not None and (not fingerprint or row[0] == fingerprint)

    def refusals(self, with_dropped: bool = False) -> list[Refusal]:
        """Refused chains of this namespace, oldest first (quarantined and still retried)."""
        rows = self._db.execute(
            "SELECT * FROM refusals WHERE run_key LIKE ? ESCAPE '\\'"
            " AND (? OR quarantine != 'dropped') ORDER BY first_refused, run_key",
            (_like_prefix(self.namespace), with_dropped),
        ).fetchall()
        cut = len(self.namespace)
        return [Refusal(row[0][cut:], row[1][cut:], *row[2:]) for row in rows]

    def set_quarantine(self, run_key: str, quarantine: str) -> bool:
        """'dropped' gives up on a chain; '' releases it (a later poll may collect it again)."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE refusals SET quarantine = ?, polls = 0 WHERE run_key = ?",
                (quarantine, self.namespace + run_key),
            )
        return cursor.rowcount > 0

    def clear_refusals(self, run_keys: Iterable[str]) -> None:
        """Delivered at last: forget that these chains were ever refused."""
        with self._transaction():
            self._db.executemany(
                "DELETE FROM refusals WHERE run_key = ?",
                ((self.namespace + key,) for key in run_keys),
            )
