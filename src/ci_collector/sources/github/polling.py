"""Polling one repository: where listing starts, and the checkpoints that move the cursor.

Runs are listed by ``created`` window, oldest first, re-listing a look-back window every
time (re-runs keep their ``created_at``, and late runs finish after newer ones started);
jobs are fetched only for attempts not delivered yet, so a repeated poll with nothing
new costs only 304 list requests.

The cursor (per filter: ``all``, ``workflow=ci.yml,branch=main``...) is a span
``[since, until)`` of creation times whose runs were all listed *and* acknowledged.
After each listed window the stream carries a checkpoint extending the span over it;
the pipeline writes it only once every run before it was acknowledged. The span never
grows past a run that is still going (it would fall out of every later listing), and a
poll lists from the earlier of the span's end and the look-back, so an outage longer
than the look-back (Trunk down, an expired token, the machine off) leaves no gap.

Limit: a re-run keeps its run's ``created_at`` and GitHub's run list has no filter by
activity, so polling finds re-runs of runs created within the look-back only; older
ones are collected by ``--run-id`` (the Action) or a ``--since`` backfill.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ...ledger import Checkpoint
from ...model import Repo
from ...pipeline import Item, SkipPolicy
from ...state import State
from ...times import iso_to_ms
from .attempts import Attempts
from .client import GitHubClient
from .listing import Listed, Window, floor_to, walk
from .mapping import is_finished

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where listing starts, and where the span it extends begins."""

    start: datetime
    since: datetime


def plan(
    entry: dict[str, Any] | None,
    now: datetime,
    lookback: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Plan:
    """The earlier of the cursor and the look-back for a poll; a backfill (`since`)
    resumes at the cursor when its start lies inside the span."""
    lookback_start = floor_to(now - lookback, timedelta(days=1))
    low = _moment(entry.get("since")) if entry else None
    high = _moment(entry.get("until")) if entry else None
    if low is None or high is None:
        start = since or lookback_start
        return Plan(start, start)
    if since is None:
        start = min(high, lookback_start)
        return Plan(start, min(low, start))
    if not low <= since <= high:
        return Plan(since, since)
    resume = high if until is not None else min(high, lookback_start)
    return Plan(max(since, resume), low)


class Poller:
    """Lists one repository's runs and yields their attempts, then a checkpoint per window."""

    def __init__(
        self,
        client: GitHubClient,
        attempts: Attempts,
        filter_name: str,
        lookback: timedelta,
        now: datetime,
    ) -> None:
        self.client = client
        self.attempts = attempts
        self.filter_name = filter_name
        self.lookback = lookback
        self.now = now
        self.position: float | None = None
        """How far a one-repository backfill has listed, 0 to 1 (the progress line's ETA)."""

    def poll(
        self,
        repo: Repo,
        source: str,
        target: tuple[str, dict[str, str]],
        state: State,
        skip: SkipPolicy,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        track_position: bool = False,
    ) -> Iterator[Item]:
        cursors = self._cursors(state, source)
        entry = cursors.get(self.filter_name)
        where = plan(entry, self.now, self.lookback, since, until)
        window = Window(where.start, until)
        log.debug("%s: listing runs created %s", source, window.query())
        ceiling: datetime | None = None  # the span never passes a run still going
        span_until = (
            _moment(entry.get("until"))
            if entry and where.since == _moment(entry.get("since"))
            else None
        )
        end = until or self.now
        path, params = target
        for listed in walk(self.client, path, params, window, StateEtags(state, source), self.now):
            if track_position and end > where.start:
                listed_to = min(listed.window.end or end, end)
                self.position = max(0.0, (listed_to - where.start) / (end - where.start))
            for run in listed.runs:
                if isinstance(run, dict) and not is_finished(run):
                    created = _moment(run.get("created_at"))
                    if created is not None:
                        ceiling = created if ceiling is None else min(ceiling, created)
            fetches = (
                fetch
                for run in listed.runs
                for fetch in self.attempts.fetches(repo, source, run, state)
            )
            # Every run and skip of the window is out before its checkpoint: `fetched`
            # yields in the sequential order and is drained here first.
            yield from self.attempts.fetched(fetches, skip)
            moved = listed.window.end or self.now
            if ceiling is not None:
                moved = min(moved, ceiling)
            if span_until is None or span_until < moved:
                span_until = moved
            cursors[self.filter_name] = {"since": _stamp(where.since), "until": _stamp(span_until)}
            yield Checkpoint(source, dict(cursors))
            _log_listed(source, listed)

    def start(
        self, state: State, source: str, since: datetime | None, until: datetime | None
    ) -> datetime:
        """Where `poll` will start listing (its first request can then be made early)."""
        entry = self._cursors(state, source).get(self.filter_name)
        return plan(entry, self.now, self.lookback, since, until).start

    @staticmethod
    def _cursors(state: State, source: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in (state.cursor(source) or {}).items() if isinstance(v, dict)}


class StateEtags:
    """The state file as the client's ETag cache, filed under the polled source."""

    def __init__(self, state: State, source: str) -> None:
        self._state = state
        self._source = source

    def get(self, url: str) -> tuple[str, bytes] | None:
        return self._state.etag(url)

    def put(self, url: str, etag: str, body: bytes) -> None:
        self._state.set_etag(url, self._source, etag, body)


def _log_listed(source: str, listed: Listed) -> None:
    log.debug("%s: %d runs created %s", source, len(listed.runs), listed.window.query())


def _moment(value: Any) -> datetime | None:
    ms = iso_to_ms(value)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms is not None else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
