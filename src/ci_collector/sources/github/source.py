"""The GitHub Actions collector: which repositories, and for each the runs to collect.

Two ways in. ``--run-id`` collects one run (see `attempts.py`); otherwise each
repository is polled (see `polling.py`, which owns the cursor and its checkpoints).
After each repository the stream carries a closing checkpoint, so its last success is
recorded once everything it yielded was acknowledged. Several repositories (``--org``)
take turns (see `fanout.py`); each one's stream keeps its own order, checkpoints after
the runs they cover.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ...errors import UserError
from ...ledger import Checkpoint
from ...model import Repo, Run
from ...pipeline import Item, RunSource, SkipPolicy
from ...prefetch import OrderedPrefetch
from ...state import State
from ..paging import listed_items, numbered_pages
from .attempts import Attempts
from .client import GitHubClient, NotFound, web_host
from .fanout import Early, FirstPage, early_first_pages, round_robin
from .listing import Window
from .polling import Poller, StateEtags

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


class GitHubCollector:
    """Callable as the pipeline's `RunSource`: ``collector(state, skip) -> Iterator[Item]``."""

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
        self.query = query
        self.host = web_host(client.api_url)
        self.now = now or datetime.now(timezone.utc)
        self.prefetch = OrderedPrefetch(concurrency)
        """Jobs pages of up to `concurrency` attempts in flight; runs still come in order."""
        self.attempts = Attempts(client, self.prefetch, env)
        self.poller = Poller(client, self.attempts, query.filter_name, query.lookback, self.now)

    @property
    def events(self) -> int:
        """Events of the runs handed on (one per node)."""
        return self.attempts.events

    @property
    def position(self) -> float | None:
        """How far a one-repository backfill has listed, 0 to 1 (the progress line's ETA)."""
        return self.poller.position

    def __call__(self, state: State, skip: SkipPolicy) -> Iterator[Item]:
        try:
            pairs = list(self._repositories())
            many = len(pairs) > 1 and self.query.run_id is None
            early = (
                early_first_pages(self.client, self.prefetch, self._first_pages(pairs, state))
                if many and self.prefetch.workers > 1
                else None
            )
            single = len(self.query.repos) == 1 and not self.query.orgs
            streams = [self._repository(pair, state, skip, early, single) for pair in pairs]
            # a fair share of the budget for each: turns count runs, not checkpoints
            yield from round_robin(streams, counts=_is_run)
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
        single: bool,
    ) -> Iterator[Item]:
        """One repository's runs and checkpoints, in order, then its closing checkpoint."""
        repo = Repo(self.host, *pair)
        source = f"github:{repo.slug}"
        answer = next(early, None) if early is not None else None
        if answer is not None:
            self.client.preload(answer)
        if self.query.run_id is not None:
            yield from self.attempts.one_run(
                repo, source, self.query.run_id, self.query.attempt, state, skip
            )
        else:
            yield from self.poller.poll(
                repo,
                source,
                self._list_target(repo),
                state,
                skip,
                since=self.query.since,
                until=self.query.until,
                track_position=single,
            )
        yield Checkpoint(source, None, complete=True)

    def _first_pages(
        self, pairs: list[tuple[str, str]], state: State
    ) -> Iterator[FirstPage | None]:
        """Each repository's first list request, as `Poller.poll` will make it (see `walk`)."""
        for owner, name in pairs:
            workflow = self.query.workflow
            if workflow and not (workflow.endswith((".yml", ".yaml")) or workflow.isdigit()):
                yield None  # finding a workflow by name costs requests of its own
                continue
            repo = Repo(self.host, owner, name)
            source = f"github:{repo.slug}"
            start = self.poller.start(state, source, self.query.since, self.query.until)
            path, params = self._list_target(repo)
            created = Window(start, self.query.until).query()
            query: dict[str, str | int] = {**params, "created": created, "per_page": PER_PAGE}
            cached = StateEtags(state, source).get(self.client.url_key(path, query))
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

    # ---- what to list ---------------------------------------------------------------

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


def in_turn(collectors: list[GitHubCollector]) -> RunSource:
    """Several collectors as one source, each to its end in turn (one per GitHub App
    installation: each has its own token and rate limit, so none waits for another's)."""
    if len(collectors) == 1:
        return collectors[0]

    def source(state: State, skip: SkipPolicy) -> Iterator[Item]:
        for collector in collectors:
            yield from collector(state, skip)

    return source


def _is_run(item: Item) -> bool:
    return isinstance(item, Run)
