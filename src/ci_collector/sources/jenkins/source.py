"""The Jenkins collector: which builds to read on this poll, and in how few requests.

Per job, one ``tree=``-limited request lists 100 builds with everything a root event
needs; Pipeline builds add their ``wfapi/describe``, and only builds whose stages ran in
parallel add Blue Ocean's node graph. Polling state per job (``jenkins:<host>/<job>``):
the highest build number seen and the builds to look at again (still running, or sent
but not yet confirmed), so a repeated poll with nothing new costs one request per job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...model import Repo, Run
from ...pipeline import SkipPolicy
from ...prefetch import OrderedPrefetch
from ...state import State
from ..repos import ForeignHosts, RepoMap
from .client import PAGE, BuildGone, JenkinsClient, JobRef
from .mapping import (
    BuildContext,
    MalformedBuild,
    app_checkout,
    build_number,
    checkouts,
    is_branch_build,
    is_finished,
    is_pipeline,
    map_build,
    natural_key,
    project_url_repo,
    ran_in_parallel,
)

log = logging.getLogger(__name__)

_Outcome = tuple[str, int, Run | None, str]
"""A fetched build: its name, number, the run (or None), and why it was skipped."""


@dataclass(frozen=True, slots=True)
class JenkinsOptions:
    jobs: tuple[str, ...] = ()
    since_ms: int | None = None
    repo: Repo | None = None
    repo_map: RepoMap | None = None


@dataclass(slots=True)
class _JobPoll:
    """Book-keeping of one job during one poll."""

    last: int | None
    recheck: set[int]
    highest: int = 0
    still_running: set[int] = field(default_factory=set)
    sent: list[int] = field(default_factory=list)
    builds: int = 0


class JenkinsCollector:
    """`RunSource` over one Jenkins server: ``collector(state, skip)`` yields finished runs."""

    def __init__(
        self, client: JenkinsClient, options: JenkinsOptions, concurrency: int = 1
    ) -> None:
        self.client = client
        self.options = options
        self.prefetch = OrderedPrefetch(concurrency)
        """``wfapi/describe`` (+ Blue Ocean) of up to N builds in flight, runs in order."""
        self.builds_listed = 0
        self.builds_sent = 0
        self.foreign = ForeignHosts(
            "map the job to its GitHub mirror with --repo-map, or use --repo"
        )

    def source_name(self, job: JobRef) -> str:
        return f"jenkins:{self.client.host}/{job.path}"

    def jobs(self) -> Iterable[JobRef]:
        if self.options.jobs:
            return [JobRef(path.strip("/")) for path in self.options.jobs]
        return self.client.discover()

    def __call__(self, state: State, skip: SkipPolicy) -> Iterator[Run]:
        downstream: list[Run] = []
        with self.prefetch:
            for job in self.jobs():
                for run in self._poll(job, state, skip):
                    if run.external_parent is None:
                        yield run
                    else:
                        downstream.append(run)  # its upstream may be in a job polled later
        yield from upstream_first(downstream)
        log.info(
            "jenkins: %d requests, %d builds listed, %d builds sent",
            self.client.requests,
            self.builds_listed,
            self.builds_sent,
        )

    def _key(self, job: JobRef, number: int) -> str:
        return natural_key(self.client.host, job.path, number)

    def _poll(self, job: JobRef, state: State, skip: SkipPolicy) -> Iterator[Run]:
        source = self.source_name(job)
        cursor = state.cursor(source) or {}
        last = cursor.get("last") if isinstance(cursor.get("last"), int) else None
        recheck = {
            number
            for number in cursor.get("recheck", [])
            if isinstance(number, int) and not state.is_delivered(self._key(job, number))
        }
        poll = _JobPoll(last, recheck, highest=last or 0)
        start = 0
        while True:
            try:
                body = self.client.job_with_builds(job, start, start + PAGE)
            except BuildGone:
                skip(f"job {job.path}", "not found on the server")
                return
            page = body.get("allBuilds")
            if not isinstance(page, list):
                skip(f"job {job.path}", "its build list is not a list")
                return
            yield from self._page(job, body, page, poll, state, skip, source)
            if not self._needs_next_page(page, poll):
                break
            start += PAGE
        self.foreign.report(skip)
        pending = {n for n in poll.sent if not state.is_delivered(self._key(job, n))}
        state.set_cursor(
            source,
            {
                "last": poll.highest,
                "recheck": sorted(poll.still_running | pending),
            },
        )

    def _needs_next_page(self, page: list[Any], poll: _JobPoll) -> bool:
        if len(page) < PAGE:
            return False
        numbers: list[int] = [
            e["number"] for e in page if isinstance(e, dict) and isinstance(e.get("number"), int)
        ]
        if not numbers:
            return False
        oldest = min(numbers)
        if poll.last is not None:
            floor: int = min(poll.recheck | {poll.last})
            return oldest > floor
        since = self.options.since_ms
        if since is not None:
            stamps = [e.get("timestamp") for e in page if isinstance(e, dict)]
            return all(isinstance(t, int) and t >= since for t in stamps)
        return True

    def _page(
        self,
        job: JobRef,
        body: dict[str, Any],
        page: list[Any],
        poll: _JobPoll,
        state: State,
        skip: SkipPolicy,
        source: str,
    ) -> Iterator[Run]:
        fetches = self._fetches(job, body, page, poll, state, source)
        for name, number, run, why in self.prefetch.map(_call, fetches):
            if run is None:
                skip(name, why)  # in the build's place in the stream, as sequentially
                continue
            poll.sent.append(number)
            self.builds_sent += 1
            yield run

    def _fetches(
        self,
        job: JobRef,
        body: dict[str, Any],
        page: list[Any],
        poll: _JobPoll,
        state: State,
        source: str,
    ) -> Iterator[Callable[[], _Outcome]]:
        """Which builds to read, decided here (the state is read on this thread)."""
        for entry in page:
            try:
                number = build_number(entry)
            except MalformedBuild as exc:
                yield _known((f"a build of {job.path}", 0, None, str(exc)))
                continue
            poll.highest = max(poll.highest, number)
            if poll.last is not None and number <= poll.last and number not in poll.recheck:
                continue
            self.builds_listed += 1
            if not is_finished(entry):
                poll.still_running.add(number)
                continue
            stamp = entry.get("timestamp")
            since = self.options.since_ms
            if since is not None and isinstance(stamp, int) and stamp < since:
                continue
            if state.is_delivered(self._key(job, number)):
                continue
            repo = self.repo_for(job, body, entry)
            if repo is None:
                why = (
                    "its repository is unknown (no git checkout or GitHub project "
                    "property); use --repo or --repo-map"
                )
                yield _known((f"{job.path} #{number}", number, None, why))
                continue
            if self.foreign.holds(job.path, f"{job.path} #{number}", repo):
                continue  # reported once per job by `foreign.report`
            yield self._collect(job, entry, number, source, repo)

    def repo_for(self, job: JobRef, body: dict[str, Any], build: dict[str, Any]) -> Repo | None:
        """--repo, then --repo-map, then the build's own checkout (see `app_checkout`).

        The job's GitHub project property decides between several checkouts when it
        names one of them, and is the answer when the build checked out nothing.
        """
        if self.options.repo is not None:
            return self.options.repo
        if self.options.repo_map is not None:
            mapped = self.options.repo_map.lookup(job.path)
            if mapped is not None:
                return mapped
        declared = project_url_repo(body)
        if declared is not None and declared in {c.repo for c in checkouts(build)}:
            return declared
        own = app_checkout(build)
        return own.repo if own is not None and own.repo is not None else declared

    def _collect(
        self, job: JobRef, build: dict[str, Any], number: int, source: str, repo: Repo
    ) -> Callable[[], _Outcome]:
        """The network half of one build (its stages), for a prefetch worker."""

        name = f"{job.path} #{number}"

        def fetch() -> _Outcome:
            branch_job = job.branch_job or is_branch_build(build)
            describe: Any = None
            blue: Any = None
            try:
                if is_pipeline(build):
                    describe = self.client.describe(job, number)
                    if ran_in_parallel(describe):
                        blue = self.client.blue_nodes(job, number, branch_job)
            except BuildGone:
                return name, number, None, "deleted since it was listed"
            context = BuildContext(self.client.host, job.path, repo, source, branch_job)
            try:
                return name, number, map_build(build, context, describe, blue), ""
            except (MalformedBuild, ValueError, TypeError, KeyError, AttributeError) as exc:
                return name, number, None, f"unexpected JSON from Jenkins ({exc})"

        return fetch


def _call(fetch: Callable[[], _Outcome]) -> _Outcome:
    return fetch()


def _known(outcome: _Outcome) -> Callable[[], _Outcome]:
    """An outcome decided without a request, kept in its place in the ordered stream."""
    return lambda: outcome


def upstream_first(runs: list[Run]) -> Iterator[Run]:
    """Downstream builds, each after any upstream of it among them (then in poll order).

    Roots were handed on already; this orders chains of triggers collected in one poll,
    so a body never carries a build before the build that triggered it.
    """
    waiting = list(runs)
    while waiting:
        keys = {run.natural_key for run in waiting}
        ready = [
            run
            for run in waiting
            if run.external_parent is None or run.external_parent.natural_key not in keys
        ]
        if not ready:  # a cycle of triggers cannot happen; never loop on bad data
            ready = waiting
        yield from ready
        waiting = [run for run in waiting if run not in ready]
