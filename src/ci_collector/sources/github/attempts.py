"""Collecting run attempts: what to fetch is decided on the caller's thread, the fetching
(an earlier attempt's body, the jobs pages) and `build_run` run in prefetch workers.

The decisions read the state file (`State.is_delivered`), which may only be used from
the thread that opened it; the returned functions touch only the GitHub client. Every
outcome, a skip included, comes back in its sequential place (`OrderedPrefetch`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...model import Repo, Run
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

PER_PAGE = 100

Outcome = Run | tuple[str, str] | None
"""A fetched attempt: the run, a skip (key, why), or nothing (not finished after all)."""
Fetch = Callable[[], Outcome]
"""The network half of collecting one attempt: runs in a prefetch worker thread."""


class Attempts:
    def __init__(self, client: GitHubClient, prefetch: OrderedPrefetch) -> None:
        self.client = client
        self.prefetch = prefetch

    def fetches(self, repo: Repo, source: str, run: Any, state: State) -> Iterator[Fetch]:
        """The listed (latest) attempt if finished, and earlier attempts not delivered yet,
        so a re-run never hides attempt 1. Decided here, on the caller's thread (the
        state is read); fetched by the returned functions, possibly in a worker."""
        try:
            run_id, latest = run_id_of(run), attempt_of(run)
        except (MalformedRun, AttributeError) as exc:
            ident = run.get("id") if isinstance(run, dict) else run
            skipped = f"{repo.slug} run {ident!r:.40}", str(exc) or "not an object"
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
                return key, "attempt not found (deleted?)"
            if isinstance(body, dict) and is_finished(body):
                return self.one(repo, source, body)()
            return None

        return fetch

    def fetched(self, fetches: Iterable[Fetch], skip: SkipPolicy) -> Iterator[Run]:
        """Run the fetches (up to --concurrency at once); runs and skips in their order."""
        for outcome in self.prefetch.map(_call, fetches):
            if isinstance(outcome, Run):
                yield outcome
            elif outcome is not None:
                skip(*outcome)

    def one(self, repo: Repo, source: str, run: Any, *, partial: bool = False) -> Fetch:
        """One attempt with its jobs, or a skip naming it when GitHub's data will not map."""

        def fetch() -> Outcome:
            try:
                run_id, attempt = run_id_of(run), attempt_of(run)
            except MalformedRun as exc:
                return f"{repo.slug} run {run.get('id')!r:.40}", str(exc)
            key = natural_key(repo, run_id, attempt)
            try:
                jobs = self._jobs(repo, run_id, attempt)
                return build_run(repo, run, jobs, source=source, partial=partial)
            except NotFound:
                return key, "jobs not found (run deleted?)"
            except MalformedRun as exc:
                return key, str(exc)

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
