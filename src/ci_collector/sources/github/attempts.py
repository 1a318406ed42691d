"""Which attempts of a GitHub Actions run to fetch, and fetching them with their jobs.

A listing shows only a run's latest attempt; earlier attempts not delivered yet are
asked for one by one, so a re-run never hides attempt 1. ``--run-id`` uses the same
rules for one run, and when ci-collector runs inside that very run it sends the jobs
that are done as a partial chain.

What to fetch is decided on the caller's thread: the decisions read the state file
(`State.is_delivered`), which may only be used from the thread that opened it. The
fetching (an earlier attempt's body, the jobs pages) and `build_run` run in prefetch
workers and touch only the GitHub client. Every outcome, a skip included, comes back
in its sequential place (`OrderedPrefetch`), so the stream is the sequential one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import RemoteError
from ...model import Node, Repo, Run
from ...pipeline import SkipPolicy
from ...prefetch import OrderedPrefetch
from ...state import State
from ..paging import numbered_pages, total_count
from .client import GitHubClient, NotFound
from .mapping import (
    PARTIAL_FINGERPRINT,
    MalformedRun,
    attempt_of,
    build_run,
    fingerprint_of,
    is_finished,
    natural_key,
    run_id_of,
)

log = logging.getLogger(__name__)

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Skipped:
    """A skip decided in a worker, reported on the caller's thread in its place."""

    what: str
    why: str
    run_key: str = ""
    source: str = ""


Outcome = Run | Skipped | None
"""A fetched attempt: the run, a skip, or nothing (not finished after all)."""
Fetch = Callable[[], Outcome]
"""The network half of collecting one attempt: runs in a prefetch worker thread."""


def running_inside(repo: str, run_id: int, env: dict[str, str] | None = None) -> bool:
    """True when ci-collector runs as a job of the very run it was asked to collect."""
    env = dict(os.environ) if env is None else env
    if env.get("GITHUB_ACTIONS") != "true" or env.get("GITHUB_RUN_ID") != str(run_id):
        return False
    own_repo = env.get("GITHUB_REPOSITORY")
    return own_repo is None or own_repo.lower() == repo.lower()


class Attempts:
    """Fetches run attempts and their jobs; counts the events it handed on."""

    def __init__(
        self,
        client: GitHubClient,
        prefetch: OrderedPrefetch,
        env: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.prefetch = prefetch
        """Jobs pages of up to `prefetch.workers` attempts in flight; runs still in order."""
        self.env = env
        self.events = 0
        """Events of the runs handed on (one per node)."""

    def one_run(
        self,
        repo: Repo,
        source: str,
        run_id: int,
        attempt: int | None,
        state: State,
        skip: SkipPolicy,
    ) -> Iterator[Run]:
        """``--run-id``: every finished attempt not delivered yet (or just `attempt`)."""
        base = f"/repos/{repo.owner}/{repo.name}/actions/runs/{run_id}"
        path = f"{base}/attempts/{attempt}" if attempt else base
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
        if attempt:
            yield from self.attempt(repo, source, run, skip)
            return
        yield from self.fetched(self.fetches(repo, source, run, state), skip)
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
        yield from self.attempt(repo, source, run, skip, partial=True)

    def attempt(
        self, repo: Repo, source: str, run: Any, skip: SkipPolicy, *, partial: bool = False
    ) -> Iterator[Run]:
        """One attempt with its jobs, or a skip naming it when GitHub's data will not map."""
        yield from self.fetched([self.one(repo, source, run, partial=partial)], skip)

    def fetches(self, repo: Repo, source: str, run: Any, state: State) -> Iterator[Fetch]:
        """The listed (latest) attempt if finished, and earlier attempts not delivered yet,
        so a re-run never hides attempt 1. Decided here, on the caller's thread (the
        state is read); fetched by the returned functions, possibly in a worker."""
        try:
            run_id, latest = run_id_of(run), attempt_of(run)
        except (MalformedRun, AttributeError) as exc:
            ident = run.get("id") if isinstance(run, dict) else run
            skipped = Skipped(f"{repo.slug} run {ident!r:.40}", str(exc) or "not an object")
            yield lambda: skipped  # in its place in the ordered stream
            return
        base = f"/repos/{repo.owner}/{repo.name}/actions/runs/{run_id}"
        for earlier in range(1, latest):
            key = natural_key(repo, run_id, earlier)
            if state.is_delivered(key) and not state.is_delivered(key, PARTIAL_FINGERPRINT):
                continue
            yield self._earlier(repo, source, f"{base}/attempts/{earlier}", key)
        if is_finished(run):
            key = natural_key(repo, run_id, latest)
            if not state.is_delivered(key, fingerprint_of(run)):
                yield self.one(repo, source, run)

    def _earlier(self, repo: Repo, source: str, path: str, key: str) -> Fetch:
        def fetch() -> Outcome:
            try:
                body = self.client.get(path)
            except NotFound:
                return Skipped(key, "attempt not found (deleted?)")
            if isinstance(body, dict) and is_finished(body):
                return self.one(repo, source, body)()
            return None

        return fetch

    def fetched(self, fetches: Iterable[Fetch], skip: SkipPolicy) -> Iterator[Run]:
        """Run the fetches (up to --concurrency at once); runs and skips in their order."""
        for outcome in self.prefetch.map(_call, fetches):
            if isinstance(outcome, Run):
                self.events += _count_nodes(outcome.root)
                yield outcome
            elif outcome is not None:
                skip(outcome.what, outcome.why, run_key=outcome.run_key, source=outcome.source)

    def one(self, repo: Repo, source: str, run: Any, *, partial: bool = False) -> Fetch:
        """One attempt with its jobs, or a skip naming it when GitHub's data will not map."""

        def fetch() -> Outcome:
            try:
                run_id, attempt = run_id_of(run), attempt_of(run)
            except MalformedRun as exc:
                return Skipped(f"{repo.slug} run {run.get('id')!r:.40}", str(exc))
            key = natural_key(repo, run_id, attempt)
            try:
                jobs = self._jobs(repo, run_id, attempt)
                return build_run(repo, run, jobs, source=source, partial=partial)
            except NotFound:
                return Skipped(key, "jobs not found (run deleted?)")
            except MalformedRun as exc:
                return Skipped(key, str(exc), run_key=key, source=source)  # `state show`

        return fetch

    def _jobs(self, repo: Repo, run_id: int, attempt: int) -> list[Any]:
        path = f"/repos/{repo.owner}/{repo.name}/actions/runs/{run_id}/attempts/{attempt}/jobs"

        def fetch(page: int) -> Any:
            params: dict[str, str | int] = {"per_page": PER_PAGE}
            if page > 1:
                params["page"] = page
            return self.client.get(path, params)

        def items_of(body: Any, page: int) -> list[Any]:
            items = body.get("jobs") if isinstance(body, dict) else None
            total = body.get("total_count") if isinstance(body, dict) else None
            if not isinstance(items, list) or not isinstance(total, int):
                raise MalformedRun(
                    f"jobs page {page} of run {run_id} attempt {attempt} is malformed"
                )
            return items

        jobs: list[Any] = []
        for items in numbered_pages(fetch, items_of, per_page=PER_PAGE, total_of=total_count):
            jobs.extend(items)
        return jobs


def _call(fetch: Fetch) -> Outcome:
    return fetch()


def _count_nodes(root: Node) -> int:
    """The events `root` maps to, level by level (the steps' empty lists cost little)."""
    count, level = 0, [root]
    while level:
        count += len(level)
        level = [child for node in level for child in node.children]
    return count
