"""Where a CircleCI poll starts and how far its cursor may move. Pure, so it is tested alone.

The cursor is a pipeline creation time W: every pipeline created before W had all its
workflows finished and acknowledged. A poll lists pipelines down to W minus the lookback
(re-running a workflow adds a new workflow to an *old* pipeline). The moved cursor is
written through a checkpoint at the end of the poll, that is, only once every run the
poll yielded was acknowledged: no guess about what the sink will accept is needed.

Cursors are kept per filter (``all``, ``branch=main``): a poll filtered by branch says
nothing about other branches' pipelines, so it must not move their cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIELD = "pipelines_settled_before"


@dataclass(slots=True)
class Watermark:
    """What one poll saw: pipeline creation times (epoch ms) and runs it yielded."""

    newest_seen: int | None = None
    oldest_pending: int | None = None
    sent: int = 0

    def saw(self, created: int, pending: bool, sent: int) -> None:
        """A pipeline: `pending` if a workflow may still change, `sent` runs yielded from it."""
        self.newest_seen = created if self.newest_seen is None else max(self.newest_seen, created)
        if pending:
            self.oldest_pending = _low(self.oldest_pending, created)
        self.sent += sent


def filter_name(branch: str | None) -> str:
    return f"branch={branch}" if branch else "all"


def resume_point(cursor: dict[str, Any] | None, name: str) -> int | None:
    """This filter's W, or None when it has none yet."""
    entry = (cursor or {}).get(name)
    return _int(entry.get(FIELD)) if isinstance(entry, dict) else None


def legacy_point(cursor: dict[str, Any] | None) -> int | None:
    """The single W of cursors written before they were kept per filter.

    Any filter may have moved it, so it only tells where the first poll of a filter
    may stop looking back (see `CircleCISource`), never where it may start.
    """
    return _int((cursor or {}).get(FIELD))


def next_cursor(
    cursor: dict[str, Any] | None,
    name: str,
    previous: int | None,
    floor: int,
    mark: Watermark,
    hold_limit: int,
) -> dict[str, Any] | None:
    """The whole cursor to store after a complete poll of filter `name`, or None to keep it.

    `hold_limit` is the oldest time a pending workflow may hold W back to.
    """
    if previous is not None and floor > previous:
        return None  # a --since narrower than the cursor left a gap: do not jump over it
    moved = _advance(previous, mark, hold_limit)
    if moved is None:
        return None
    kept = {k: v for k, v in (cursor or {}).items() if isinstance(v, dict)}
    return {**kept, name: {FIELD: moved}}


def _advance(previous: int | None, mark: Watermark, hold_limit: int) -> int | None:
    if mark.oldest_pending is not None:
        return max(mark.oldest_pending, hold_limit)  # may step back behind a pending one
    if mark.newest_seen is None:
        return previous
    return mark.newest_seen if previous is None else max(mark.newest_seen, previous)


def _low(current: int | None, value: int | None) -> int | None:
    if current is None:
        return value
    return current if value is None else min(current, value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
