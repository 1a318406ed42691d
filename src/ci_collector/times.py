"""The one place times are read: platform timestamps, durations/ages and ``--since`` input.

Every option that takes a length of time (``--lookback``, ``--window``, ``--max-staleness``)
and every relative age (``--since 90d``) goes through `parse_duration`, so they all accept
the same spellings and refuse the same way. Click wrappers live in ``commands/params.py``.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "weeks"),
}
# Far beyond any CI history, far below what `datetime` arithmetic can hold.
MAX_DURATION = timedelta(days=365 * 100)
DURATION_EXAMPLES = "90d, 12h, 30m or 2w"


def parse_duration(text: str, *, bare_unit: str | None = "d") -> timedelta:
    """``3d``, ``12h``, ``30m``, ``45min``, ``2w``, ``90s`` (a bare number: days).

    Raises ValueError with a one-line message; at most 100 years, so no later date
    arithmetic can overflow.
    """
    match = _DURATION.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in _UNITS) or (not unit and bare_unit is None):
        raise ValueError(f"{text!r} is not a duration like {DURATION_EXAMPLES}")
    amount = int(match.group(1))
    seconds = amount * timedelta(**{_UNITS[unit or str(bare_unit)]: 1}).total_seconds()
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is too long: at most {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def iso_to_ms(value: Any) -> int | None:
    """Epoch ms of an ISO-8601 timestamp in any zone (``Z`` or an offset); None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    return text_to_ms(value)


@functools.lru_cache(maxsize=4096)
def text_to_ms(value: str) -> int | None:
    """`iso_to_ms` of a non-empty string, for callers that checked that already.

    Remembered: a step's end is usually the next step's start, and a job's times repeat
    in its first and last steps (142 of 240 times in the recorded GitHub jobs pages)."""
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11 reads "Z" itself: the fast path
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Times the collector and the report can do arithmetic on (a window or lookback before
# them, epoch milliseconds after them) without overflowing.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``90d``, ``12h``, ``30m``, ``2w`` ago, or an ISO date/time (UTC unless it says).

    An age needs its unit here (``2024`` could be a year). Raises ValueError, one line.
    """
    now = now or datetime.now(timezone.utc)
    stripped = str(text).strip()
    if _DURATION.match(stripped) and not stripped.isdigit():
        try:
            return now - parse_duration(stripped, bare_unit=None)
        except ValueError as exc:
            if "too long" in str(exc):
                raise
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", stripped):
            day = date.fromisoformat(stripped)
            parsed = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        else:
            parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date, a time or a relative age like 90d, 12h, 30m"
        ) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    if not EARLIEST <= parsed <= LATEST:
        raise ValueError(
            f"{text!r} is out of range: use a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y}"
        )
    return parsed
