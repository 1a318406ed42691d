"""Listing workflow runs by ``created`` window, oldest first, never losing one to the cap.

GitHub answers at most 1,000 results for a filtered run listing. A window whose first
page reports ``total_count >= 1000`` is halved (recursively) and its older half listed
first. Window bounds are rounded to whole days/hours/minutes where the span allows, so
the same poll asks the same URLs again and unchanged pages come back 304.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import RemoteError
from .client import EtagCache, GitHubClient
from .mapping import slim_run

log = logging.getLogger(__name__)

PER_PAGE = 100
RESULT_CAP = 1000
_SECOND = timedelta(seconds=1)
_GRID = (timedelta(days=1), timedelta(hours=1), timedelta(minutes=1), _SECOND)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_to(moment: datetime, unit: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((moment - epoch) // unit) * unit


@dataclass(frozen=True, slots=True)
class Window:
    """Runs created in ``[start, end)``; ``end=None`` is open (up to whenever GitHub answers)."""

    start: datetime
    end: datetime | None = None

    def query(self) -> str:
        """The ``created`` filter: GitHub's ranges are inclusive and second-grained."""
        if self.end is None:
            return f">={_iso(self.start)}"
        return f"{_iso(self.start)}..{_iso(self.end - _SECOND)}"

    def split(self, now: datetime) -> tuple[Window, Window] | None:
        """Older and newer half, cut on the coarsest grid that leaves both non-empty."""
        end = self.end or now
        if end - self.start < 2 * _SECOND:
            return None
        middle = self.start + (end - self.start) / 2
        for unit in _GRID:
            if end - self.start >= 2 * unit:
                cut = floor_to(middle, unit)
                if self.start < cut < end:
                    return Window(self.start, cut), Window(cut, self.end)
        return None


@dataclass(slots=True)
class Listed:
    """One window's finished listing: its runs, oldest first."""

    window: Window
    runs: list[dict[str, Any]]


def walk(
    client: GitHubClient,
    path: str,
    params: Mapping[str, str],
    window: Window,
    cache: EtagCache | None,
    now: datetime,
) -> Iterator[Listed]:
    """Every run created in `window`, window by window, oldest window first."""
    first = _page(client, path, params, window, 1, cache)
    total = _total(first, path)
    if total >= RESULT_CAP:
        halves = window.split(now)
        if halves is not None:
            # This generator stays suspended while its halves are listed; holding on to
            # its first page (100 full runs) at every level made memory grow with history.
            del first
            log.debug("%s: %d runs created %s; splitting", path, total, window.query())
            for half in halves:
                yield from walk(client, path, params, half, cache, now)
            return
        log.warning(
            "%s: %d runs created in one second (%s); GitHub lists only %d of them",
            path,
            total,
            window.query(),
            RESULT_CAP,
        )
    runs: dict[int, dict[str, Any]] = {}
    page, body = 1, first
    while True:
        items = _items(body, path)
        for item in items:
            run = slim_run(item)
            run_id = run.get("id") if isinstance(run, dict) else None
            runs.setdefault(run_id if isinstance(run_id, int) else -len(runs) - 1, run)
        seen = page * PER_PAGE
        if len(items) < PER_PAGE or seen >= min(total, RESULT_CAP):
            break
        page += 1
        body = _page(client, path, params, window, page, cache)
    yield Listed(window, sorted(runs.values(), key=_age))


def _page(
    client: GitHubClient,
    path: str,
    params: Mapping[str, str],
    window: Window,
    page: int,
    cache: EtagCache | None,
) -> Any:
    query: dict[str, str | int] = {**params, "created": window.query(), "per_page": PER_PAGE}
    if page > 1:
        query["page"] = page
    return client.get_cached(path, query, cache)


def _total(body: Any, path: str) -> int:
    total = body.get("total_count") if isinstance(body, dict) else None
    if isinstance(total, bool) or not isinstance(total, int):
        raise RemoteError(f"GitHub's run list {path} has no total_count")
    return total


def _items(body: Any, path: str) -> list[Any]:
    items = body.get("workflow_runs") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise RemoteError(f"GitHub's run list {path} has no workflow_runs array")
    return items


def _age(run: Any) -> tuple[str, int]:
    """Oldest first: by ``created_at`` (ISO strings sort as times), then id."""
    if not isinstance(run, dict):
        return ("", 0)
    created = run.get("created_at")
    run_id = run.get("id")
    return (
        created if isinstance(created, str) else "",
        run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else 0,
    )
