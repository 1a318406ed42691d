"""Listing workflow runs by ``created`` window, oldest first, never losing one to the cap.

GitHub answers at most 1,000 results for a filtered run listing. A window whose first
page reports ``total_count >= 1000`` is halved (recursively) and its older half listed
first. Window bounds are rounded to whole days/hours/minutes where the span allows, so
the same poll asks the same URLs again and unchanged pages come back 304.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import RemoteError, UserError
from ..paging import numbered_pages
from .client import NOT_GITHUB_HINT, EtagCache, GitHubClient, NotFound
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
    try:
        first = _page(client, path, params, window, 1, cache)
    except NotFound:
        raise _named_not_found(client, path) from None
    total = _total(first, path, client)
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
    pages = numbered_pages(
        lambda page: _page(client, path, params, window, page, cache),
        lambda body, page: _items(body, path),
        per_page=PER_PAGE,
        total_of=lambda body: min(total, RESULT_CAP),
        first=first,
    )
    del first
    for items in pages:
        for item in items:
            run = slim_run(item)
            run_id = run.get("id") if isinstance(run, dict) else None
            runs.setdefault(run_id if isinstance(run_id, int) else -len(runs) - 1, run)
    yield Listed(window, sorted(runs.values(), key=_age))


_RUNS_PATH = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/actions/(?:workflows/(?P<wf>[^/]+)/)?runs$")


def _named_not_found(client: GitHubClient, path: str) -> UserError:
    """A 404 on the first page of a listing: the repository or the workflow the user named.

    For a workflow's runs one more request tells which of the two is missing.
    """
    match = _RUNS_PATH.match(path)
    if match is None:
        return client.not_found(path)
    repo, workflow = match.group("repo"), match.group("wf")
    if workflow is not None:
        try:
            client.get(f"/repos/{repo}")
        except NotFound:
            pass
        else:
            return UserError(
                f"--workflow {workflow!r}: no such workflow file or id in {repo} "
                "(give its file name, e.g. ci.yml, or its name)"
            )
    return client.not_found(f"repository {repo}")


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
    return client.get_cached(path, query, cache, keep=_slim_page)


def _slim_page(body: Any) -> Any:
    """A run list page as `walk` reads it: its total, and each run as `slim_run` keeps it."""
    items = body.get("workflow_runs") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return body
    return {**body, "workflow_runs": [slim_run(item) for item in items]}


def _total(body: Any, path: str, client: GitHubClient) -> int:
    total = body.get("total_count") if isinstance(body, dict) else None
    if isinstance(total, bool) or not isinstance(total, int):
        if not isinstance(body, dict) or "workflow_runs" not in body:  # not GitHub's answer
            raise UserError(f"{client.api_url}{path} is not GitHub's run list; {NOT_GITHUB_HINT}")
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
