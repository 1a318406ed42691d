"""Where a CircleCI poll starts and how far its cursor may move. Pure, so it is tested alone.

The cursor is a pipeline creation time W: every pipeline created before W had all its
workflows finished *and delivered*. A poll lists pipelines down to W minus the lookback
(re-running a workflow adds a new workflow to an *old* pipeline).

A poll cannot see whether the runs it yields end up accepted (the sink flushes after the
source is done), so it writes two values: the strict W, which treats its own runs as
not yet delivered, and a candidate W that treats them as delivered, together with the
number of delivered runs the state must hold for that to be true. The next poll uses
the candidate only if the state reached that number. Without it, the poll after a
180-day backfill would list the whole 180 days again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIELD = "pipelines_settled_before"
CANDIDATE = "candidate"


@dataclass(slots=True)
class Watermark:
    """What one poll saw: pipeline creation times (epoch ms) and runs it yielded."""

    newest_seen: int | None = None
    oldest_pending: int | None = None
    oldest_sent: int | None = None
    sent: int = 0

    def saw(self, created: int, pending: bool, sent: int) -> None:
        """A pipeline: `pending` if a workflow may still change, `sent` runs yielded from it."""
        self.newest_seen = created if self.newest_seen is None else max(self.newest_seen, created)
        if pending:
            self.oldest_pending = _low(self.oldest_pending, created)
        if sent:
            self.oldest_sent = _low(self.oldest_sent, created)
            self.sent += sent


def resume_point(cursor: dict[str, Any] | None, delivered: int) -> int | None:
    """The W to poll from, given the state's current count of delivered runs of the source."""
    cursor = cursor or {}
    strict = _int(cursor.get(FIELD))
    candidate = cursor.get(CANDIDATE)
    if isinstance(candidate, dict):
        before, needed = _int(candidate.get("before")), _int(candidate.get("delivered"))
        if before is not None and needed is not None and delivered >= needed:
            return before if strict is None else max(strict, before)
    return strict


def next_cursor(
    previous: int | None,
    floor: int,
    mark: Watermark,
    hold_limit: int,
    delivered_at_start: int,
) -> dict[str, Any] | None:
    """The cursor to store after a complete poll, or None to keep the old one.

    `hold_limit` is the oldest time a pending workflow may hold W back to;
    `delivered_at_start` the state's delivered count for the source when the poll began.
    """
    if previous is not None and floor > previous:
        return None  # a --since narrower than the cursor left a gap: do not jump over it
    strict = _advance(previous, mark, _low(mark.oldest_pending, mark.oldest_sent), hold_limit)
    if strict is None:
        return None
    cursor: dict[str, Any] = {FIELD: strict}
    optimistic = _advance(previous, mark, mark.oldest_pending, hold_limit)
    if mark.sent and optimistic is not None and optimistic > strict:
        cursor[CANDIDATE] = {"before": optimistic, "delivered": delivered_at_start + mark.sent}
    return cursor


def _advance(
    previous: int | None, mark: Watermark, oldest_open: int | None, hold_limit: int
) -> int | None:
    if oldest_open is not None:
        return max(oldest_open, hold_limit)
    if mark.newest_seen is None:
        return previous
    return mark.newest_seen if previous is None else max(mark.newest_seen, previous)


def _low(current: int | None, value: int | None) -> int | None:
    if current is None:
        return value
    return current if value is None else min(current, value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
