"""The GitHub Actions collector: which run attempts to fetch, in what order, and when the
source's cursor may move.

Two ways in. ``--run-id`` collects one run (all its attempts not yet delivered), and when
that run is the one ci-collector itself runs in, sends its finished jobs as a partial
chain. Otherwise each repository is polled: runs are listed by ``created`` window, oldest
first, re-listing a look-back window every time (re-runs keep their ``created_at``, and
late runs finish after newer ones started); jobs are fetched only for attempts that were
not delivered yet, so a repeated poll with nothing new costs only 304 list requests.

The cursor is a span ``[since, until)`` of creation times whose runs are all delivered;
it only grows over windows whose every run was delivered, and never past a run that is
still going (that run would otherwise fall out of every later listing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import RemoteError, UserError
from ...model import Node, Repo, Run
from ...pipeline import SkipPolicy
from ...prefetch import OrderedPrefetch
from ...state import State
from ...times import iso_to_ms
from ..paging import listed_items, numbered_pages
from .attempts import Attempts, Fetch
from .client import GitHubClient, NotFound, web_host
from .fanout import Early, FirstPage, early_first_pages, round_robin
from .listing import Listed, Window, floor_to, walk
from .mapping import (
    attempt_of,
    is_finished,
    run_id_of,
)

log = logging.getLogger(__name__)

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class GitHubQuery:
    """What to collect, as the command line said it."""

    repos: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    run_id: int | None = None
    attempt: int | None = None
    workflow: str | None = None
    branch: str | None = None
    lookback: timedelta = timedelta(days=3)

    @property
    def filter_name(self) -> str:
        """Cursors are kept per filter: a filtered listing says nothing about the rest."""
        parts = [f"workflow={self.workflow}"] if self.workflow else []
        parts += [f"branch={self.branch}"] if self.branch else []
        return ",".join(parts) or "all"


def split_repo(text: str) -> tuple[str, str]:
    owner, slash, name = text.strip().partition("/")
    if not slash or not owner or not name or "/" in name:
        raise UserError(f"--repo {text!r} must look like OWNER/NAME")
    return owner, name


def running_inside(repo: str, run_id: int, env: dict[str, str] | None = None) -> bool:
    """True when ci-collector runs as a job of the very run it was asked to collect."""
    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_ACTIONS") != "true" or env.get("GITHUB_RUN_ID") != str(run_id):
        return False
    own_repo = env.get("GITHUB_REPOSITORY")
    return own_repo is None or own_repo.lower() == repo.lower()


class _StateEtags:
    """The state file as the client's ETag cache, filed under the polled source."""

    def __init__(self, state: State, source: str) -> None:
        self._state = state
        self._source = source

    def get(self, url: str) -> tuple[str, bytes] | None:
        return self._state.etag(url)

    def put(self, url: str, etag: str, body: bytes) -> None:
        self._state.set_etag(url, self._source, etag, body)


@dataclass(slots=True)
class _Span:
    """A window whose runs were handed on; the cursor may pass it once they are delivered."""

    until: datetime
    keys: list[str] = field(default_factory=list)


class GitHubCollector:
    """Callable as the pipeline's `RunSource`: ``collector(state, skip) -> Iterator[Run]``."""

    def __init__(
        self,
        client: GitHubClient,
        query: GitHubQuery,
        *,
        now: datetime | None = None,
        env: dict[str, str] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.client = client
        self.prefetch = OrderedPrefetch(concurrency)
        """Jobs pages of up to `concurrency` attempts in flight; runs still come in order."""
        self.attempts = Attempts(client, self.prefetch)
        self.query = query
        self.host = web_host(client.api_url)
        self.now = now or datetime.now(timezone.utc)
        self.env = env
        self.events = 0
        """Events of the runs handed on (one per node), for the Action's output."""
        self.position: float | None = None
        """How far a one-repository backfill has listed, 0 to 1 (the progress line's ETA)."""

    def __call__(self, state: State, skip: SkipPolicy) -> Iterator[Run]:
        try:
            pairs = list(self._repositories())
            many = len(pairs) > 1 and self.query.run_id is None
            early = (
                early_first_pages(self.client, self.prefetch, self._first_pages(pairs, state))
                if many and self.prefetch.workers > 1
                else None
            )
            streams = [self._repository(pair, state, skip, early) for pair in pairs]
            yield from round_robin(streams)  # a fair share of the budget for each
        finally:
            self.prefetch.close()
            log.debug("%s", self.client.budget.describe())
            if len(self.client.ledger.by_repo) > 1:
                for slug, (sent, free) in sorted(self.client.ledger.by_repo.items()):
                    log.debug(
                        "GitHub API budget used by %s: %d requests (%d free 304s)", slug, sent, free
                    )

    def _repository(
        self,
        pair: tuple[str, str],
        state: State,
        skip: SkipPolicy,
        early: Iterator[Early | None] | None,
    ) -> Iterator[Run]:
        repo = Repo(self.host, *pair)
        source = f"github:{repo.slug}"
        answer = next(early, None) if early is not None else None
        if answer is not None:
            self.client.preload(answer)
        if self.query.run_id is not None:
            yield from self._one_run(repo, source, state, skip)
        else:
            yield from self._poll(repo, source, state, skip)
        state.record_success(source)

    def _first_pages(
        self, pairs: list[tuple[str, str]], state: State
    ) -> Iterator[FirstPage | None]:
        """Each repository's first list request, as `_poll` will make it (see `walk`)."""
        for owner, name in pairs:
            workflow = self.query.workflow
            if workflow and not (workflow.endswith((".yml", ".yaml")) or workflow.isdigit()):
                yield None  # finding a workflow by name costs requests of its own
                continue
            repo = Repo(self.host, owner, name)
            source = f"github:{repo.slug}"
            start, _ = self._plan(self._settle(state, source))
            path, params = self._list_target(repo)
            created = Window(start, self.query.until).query()
            query: dict[str, str | int] = {**params, "created": created, "per_page": PER_PAGE}
            cached = _StateEtags(state, source).get(self.client.url_key(path, query))
            yield path, query, cached[0] if cached else None

    # ---- which repositories ----------------------------------------------------------

    def _repositories(self) -> Iterator[tuple[str, str]]:
        seen: set[tuple[str, str]] = set()
        for text in self.query.repos:
            pair = split_repo(text)
            if pair not in seen:
                seen.add(pair)
                yield pair
        for org in self.query.orgs:
            for pair in self._org_repositories(org):
                if pair not in seen:
                    seen.add(pair)
                    yield pair

    def _org_repositories(self, org: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        path = f"/orgs/{org}/repos"
        try:
            for items in numbered_pages(
                lambda page: self.client.get(path, {"per_page": PER_PAGE, "page": page}),
                lambda body, page: listed_items(body, f"GitHub's repository list of {org}"),
                per_page=PER_PAGE,
            ):
                for item in items:
                    if isinstance(item, dict) and not item.get("archived"):
                        owner = item.get("owner")
                        login = owner.get("login") if isinstance(owner, dict) else org
                        if isinstance(item.get("name"), str):
                            found.append((login if isinstance(login, str) else org, item["name"]))
        except NotFound:
            raise UserError(f"--org {org!r}: no such organisation visible to this token") from None
        return sorted(found)

    # ---- one run ---------------------------------------------------------------------

    def _one_run(self, repo: Repo, source: str, state: State, skip: SkipPolicy) -> Iterator[Run]:
        run_id = self.query.run_id
        assert run_id is not None
        base = f"/repos/{repo.owner}/{repo.name}/actions/runs/{run_id}"
        path = f"{base}/attempts/{self.query.attempt}" if self.query.attempt else base
        try:
            run = self.client.get(path)
        except NotFound:
            raise self.client.not_found(f"run {run_id} of {repo.owner}/{repo.name}") from None
        if not isinstance(run, dict):
            raise RemoteError(f"GitHub's body for run {run_id} is not an object")
        inside = running_inside(f"{repo.owner}/{repo.name}", run_id, self.env)
        if inside and not is_finished(run):
            yield from self._partial(repo, source, run, skip)
            return
        if self.query.attempt:
            yield from self._attempt(repo, source, run, skip)
            return
        yield from self._attempts_of(repo, source, run, state, skip)
        if not is_finished(run):
            log.info(
                "run %s attempt %s is still in progress; not sent", run_id, run.get("run_attempt")
            )

    def _partial(
        self, repo: Repo, source: str, run: dict[str, Any], skip: SkipPolicy
    ) -> Iterator[Run]:
        """Our own run, from inside it: the jobs that are done, tagged ``partial``."""
        env = self.env if self.env is not None else os.environ
        attempt = env.get("GITHUB_RUN_ATTEMPT", "")
        if attempt.isdigit() and int(attempt) != attempt_of(run):
            base = f"/repos/{repo.owner}/{repo.name}/actions/runs/{run_id_of(run)}"
            run = self.client.get(f"{base}/attempts/{attempt}")
        yield from self._attempt(repo, source, run, skip, partial=True)

    # ---- polling ---------------------------------------------------------------------

    def _poll(self, repo: Repo, source: str, state: State, skip: SkipPolicy) -> Iterator[Run]:
        start, span_since = self._plan(self._settle(state, source))
        window = Window(start, self.query.until)
        log.debug("%s: listing runs created %s", source, window.query())
        path, params = self._list_target(repo)
        ceiling: datetime | None = None  # the cursor never passes a run still going
        pending: list[_Span] = []
        cache = _StateEtags(state, source)
        end = self.query.until or self.now
        single = len(self.query.repos) == 1 and not self.query.orgs
        for listed in walk(self.client, path, params, window, cache, self.now):
            self._advance(state, source, skip, pending, span_since)
            if single and end > start:
                listed_to = min(listed.window.end or end, end)
                self.position = max(0.0, (listed_to - start) / (end - start))
            span = _Span(listed.window.end or self.now)
            for run in listed.runs:
                if isinstance(run, dict) and not is_finished(run):
                    created = iso_to_ms(run.get("created_at"))
                    if created is not None:
                        moment = datetime.fromtimestamp(created / 1000, tz=timezone.utc)
                        ceiling = moment if ceiling is None else min(ceiling, moment)
            fetches = (
                fetch
                for run in listed.runs
                for fetch in self._attempt_fetches(repo, source, run, state)
            )
            for collected in self._fetched(fetches, skip):
                span.keys.append(collected.natural_key)
                yield collected
            if ceiling is not None:
                span.until = min(span.until, ceiling)
            pending.append(span)
            self._loglisted_items(source, listed)
        self._advance(state, source, skip, pending, span_since, final=True)

    def _plan(self, cursor: dict[str, Any] | None) -> tuple[datetime, datetime]:
        """Where listing starts, and where the delivered span it extends begins."""
        lookback_start = floor_to(self.now - self.query.lookback, timedelta(days=1))
        since = _moment(cursor.get("since")) if cursor else None
        until = _moment(cursor.get("until")) if cursor else None
        requested = self.query.since or lookback_start
        if since is None or until is None or not since <= requested <= until:
            return requested, requested
        resume = until if self.query.until is not None else min(until, lookback_start)
        return max(requested, resume), since

    def _advance(
        self,
        state: State,
        source: str,
        skip: SkipPolicy,
        pending: list[_Span],
        since: datetime,
        *,
        final: bool = False,
    ) -> None:
        """Move the cursor over the oldest spans whose runs have all been delivered.

        At the end of a poll the last spans usually wait for the sink's final flush, which
        happens after this generator is done: they are kept in the cursor (``pending``)
        and settled by the next invocation, which can see what was delivered.
        """
        skipped = _skipped_keys(skip)
        moved: datetime | None = None
        while pending and all(key in skipped or state.is_delivered(key) for key in pending[0].keys):
            moved = pending.pop(0).until
        if moved is None and not final:
            return
        cursors = state.cursor(source) or {}
        entry = cursors.get(self.query.filter_name)
        current = dict(entry) if isinstance(entry, dict) else {}
        if moved is not None:
            old_until = _moment(current.get("until"))
            if old_until is None or _moment(current.get("since")) != since or old_until < moved:
                current.update(since=_stamp(since), until=_stamp(moved))
        current.pop("pending", None)
        if final and pending:
            current["pending"] = [
                {"until": _stamp(span.until), "keys": [k for k in span.keys if k not in skipped]}
                for span in pending
            ]
        if current.get("since"):
            cursors[self.query.filter_name] = current
            state.set_cursor(source, cursors)

    def _settle(self, state: State, source: str) -> dict[str, Any] | None:
        """The cursor, after moving it over the spans a previous poll left ``pending``."""
        cursors = state.cursor(source) or {}
        entry = cursors.get(self.query.filter_name)
        if not isinstance(entry, dict):
            return None
        spans = entry.pop("pending", None) or []
        for span in spans if isinstance(spans, list) else []:
            keys = span.get("keys") if isinstance(span, dict) else None
            until = _moment(span.get("until")) if isinstance(span, dict) else None
            if until is None or not isinstance(keys, list):
                break
            if not all(isinstance(k, str) and state.is_delivered(k) for k in keys):
                break  # not sent after all (killed before the flush): re-list from here
            entry["until"] = _stamp(until)
        cursors[self.query.filter_name] = entry
        state.set_cursor(source, cursors)
        return entry

    def _list_target(self, repo: Repo) -> tuple[str, dict[str, str]]:
        base = f"/repos/{repo.owner}/{repo.name}/actions"
        params = {"branch": self.query.branch} if self.query.branch else {}
        workflow = self.query.workflow
        if workflow is None:
            return f"{base}/runs", params
        if workflow.endswith((".yml", ".yaml")) or workflow.isdigit():
            return f"{base}/workflows/{workflow.rsplit('/', 1)[-1]}/runs", params
        return f"{base}/workflows/{self._workflow_id(base, workflow)}/runs", params

    def _workflow_id(self, base: str, name: str) -> int:
        path = f"{base}/workflows"
        try:
            for items in numbered_pages(
                lambda page: self.client.get(path, {"per_page": PER_PAGE, "page": page}),
                lambda body, page: listed_items(body, f"GitHub's list {path}", "workflows"),
                per_page=PER_PAGE,
            ):
                for item in items:
                    if isinstance(item, dict) and item.get("name") == name:
                        workflow_id = item.get("id")
                        if isinstance(workflow_id, int):
                            return workflow_id
        except NotFound:
            repo = base.removeprefix("/repos/").removesuffix("/actions")
            raise self.client.not_found(f"repository {repo}") from None
        raise UserError(f"--workflow {name!r}: no workflow of that name or file")

    @staticmethod
    def _loglisted_items(source: str, listed: Listed) -> None:
        log.debug("%s: %d runs created %s", source, len(listed.runs), listed.window.query())

    # ---- attempts --------------------------------------------------------------------

    def _attempts_of(
        self, repo: Repo, source: str, run: Any, state: State, skip: SkipPolicy
    ) -> Iterator[Run]:
        yield from self._fetched(self._attempt_fetches(repo, source, run, state), skip)

    def _attempt_fetches(self, repo: Repo, source: str, run: Any, state: State) -> Iterator[Fetch]:
        return self.attempts.fetches(repo, source, run, state)

    def _fetched(self, fetches: Iterable[Fetch], skip: SkipPolicy) -> Iterator[Run]:
        for run in self.attempts.fetched(fetches, skip):
            self.events += _count_nodes(run.root)
            yield run

    def _attempt(
        self, repo: Repo, source: str, run: Any, skip: SkipPolicy, *, partial: bool = False
    ) -> Iterator[Run]:
        yield from self._fetched([self.attempts.one(repo, source, run, partial=partial)], skip)


def _skipped_keys(skip: SkipPolicy) -> set[str]:
    """Natural keys the pipeline skipped (``skipped KEY: why``): they will never arrive."""
    return {message.removeprefix("skipped ").split(": ", 1)[0] for message in skip.skipped}


def _count_nodes(node: Node) -> int:
    return 1 + sum(_count_nodes(child) for child in node.children)


def _moment(value: Any) -> datetime | None:
    ms = iso_to_ms(value)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms is not None else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
