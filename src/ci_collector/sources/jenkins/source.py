"""The Jenkins collector: which builds to read on this poll, and in how few requests.

Per job, one ``tree=``-limited request lists 100 builds with everything a root event
needs; Pipeline builds add their ``wfapi/describe``, and only builds whose stages ran in
parallel add Blue Ocean's node graph. After each job the stream carries a checkpoint of
the job's cursor (``jenkins:<host>/<job>``): the highest build number listed, its start
time, the builds still running, and the job's generation. The pipeline writes it once
every build before it was acknowledged, so a repeated poll with nothing new costs one
request per job and a poll that delivered everything leaves nothing to look at again.

A re-created job (a multibranch branch deleted and pushed again, a re-scanned folder, a
migrated controller) restarts numbering at 1. It is recognised by its newest build
being numbered below the cursor, or by the cursor's build number having another start
time; the job then starts a new generation (see `natural_key`) and is listed afresh.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...ledger import Checkpoint
from ...model import Repo, Run
from ...pipeline import Item, SkipPolicy
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
from .ordering import upstream_first

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A build's turn in the ordered stream: its run, or why it was skipped (and, for a
    skip the state remembers, its key and the settings it depended on)."""

    name: str
    run: Run | None
    why: str = ""
    run_key: str = ""
    settings: str = ""


_Fetch = Callable[[], _Outcome]


def build_key(host: str, job_path: str, number: int, generation: int | None) -> str:
    """A build's natural key. A re-created job (numbering restarted at 1) is a new
    `generation`, named by a start time, so its #1 never takes an old #1's ids; builds of
    the first generation keep the plain key (and so their ids)."""
    plain = natural_key(host, job_path, number)
    return plain if generation is None else f"{plain}@{generation}"


@dataclass(frozen=True, slots=True)
class JenkinsOptions:
    jobs: tuple[str, ...] = ()
    since_ms: int | None = None
    repo: Repo | None = None
    repo_map: RepoMap | None = None

    @property
    def settings(self) -> str:
        """What decides a build's repository: a build skipped under other settings is retried."""
        rules = self.repo_map.rules if self.repo_map is not None else ()
        return hashlib.sha256(repr((self.repo, rules)).encode()).hexdigest()[:16]


@dataclass(slots=True)
class _JobPoll:
    """Book-keeping of one job during one poll."""

    last: int | None
    revisit: set[int]
    generation: int | None = None
    highest: int = 0
    highest_started: int | None = None
    still_running: set[int] = field(default_factory=set)
    builds: int = 0


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def restarted(cursor: dict[str, Any], page: list[Any]) -> bool:
    """True when the job's numbering restarted since the cursor was written."""
    last, started = _int(cursor.get("last")), _int(cursor.get("started"))
    if last is None:
        return False
    stamps = {
        e["number"]: _int(e.get("timestamp"))
        for e in page
        if isinstance(e, dict) and _int(e.get("number")) is not None
    }
    if not stamps:
        return False
    if last in stamps:
        return started is not None and stamps[last] is not None and stamps[last] != started
    newest = max(stamps)
    if newest > last:
        return False
    newest_started = stamps[newest]
    # Below the cursor: builds deleted by hand keep older start times; a new job's are newer.
    return started is None or (newest_started is not None and newest_started > started)


class JenkinsCollector:
    """`RunSource` over one Jenkins server: ``collector(state, skip)`` yields finished runs
    and, after each job, the checkpoint of its cursor."""

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

    def __call__(self, state: State, skip: SkipPolicy) -> Iterator[Item]:
        with self.prefetch:
            yield from upstream_first(
                item for job in self.jobs() for item in self._poll(job, state, skip)
            )
        log.info(
            "jenkins: %d requests, %d builds listed, %d builds sent",
            self.client.requests,
            self.builds_listed,
            self.builds_sent,
        )

    def _key(self, job: JobRef, number: int, poll: _JobPoll) -> str:
        return build_key(self.client.host, job.path, number, poll.generation)

    def _start(self, job: JobRef, state: State, cursor: dict[str, Any]) -> _JobPoll:
        """The poll's starting point: the cursor, plus builds skipped under other settings
        (a skip recorded without settings, say unmappable data, does not depend on them)."""
        last = _int(cursor.get("last"))
        generation = _int(cursor.get("generation"))
        listed = cursor.get("running", [])
        revisit = {n for n in listed if _int(n) is not None} if isinstance(listed, list) else set()
        prefix = natural_key(self.client.host, job.path, 0)[:-1]
        for key, settings in state.skipped(self.source_name(job)).items():
            rest = key.removeprefix(prefix) if key.startswith(prefix) else ""
            number_text, _, of = rest.partition("@")
            number = (
                _int_text(number_text)
                if of == ("" if generation is None else str(generation))
                else None
            )
            if number is not None and settings and settings != self.options.settings:
                revisit.add(number)
        return _JobPoll(last, revisit, generation, highest=last or 0)

    def _poll(self, job: JobRef, state: State, skip: SkipPolicy) -> Iterator[Item]:
        source = self.source_name(job)
        cursor = state.cursor(source) or {}
        poll = self._start(job, state, cursor)
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
            if start == 0 and restarted(cursor, page):
                poll = self._restart(job, cursor, page)
            yield from self._page(job, body, page, poll, state, skip, source)
            if not self._needs_next_page(page, poll):
                break
            start += PAGE
        self.foreign.report(skip, source, self.options.settings)
        moved: dict[str, Any] = {"last": poll.highest, "running": sorted(poll.still_running)}
        started = poll.highest_started
        if started is None and poll.highest == _int(cursor.get("last")):
            started = _int(cursor.get("started"))
        if started is not None:
            moved["started"] = started
        if poll.generation is not None:
            moved["generation"] = poll.generation
        yield Checkpoint(source, moved, complete=True)

    def _restart(self, job: JobRef, cursor: dict[str, Any], page: list[Any]) -> _JobPoll:
        stamps = [_int(e.get("timestamp")) for e in page if isinstance(e, dict)]
        generation = _int(cursor.get("started")) or max((s for s in stamps if s), default=0)
        log.warning(
            "jenkins: %s restarted its build numbers (re-created?); its builds are a new "
            "generation and keep ids apart from the old ones",
            job.path,
        )
        return _JobPoll(None, set(), generation)

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
            floor: int = min(poll.revisit | {poll.last})
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
        """The page's builds in order; all of them are out before the job's checkpoint."""
        fetches = self._fetches(job, body, page, poll, state, source)
        for outcome in self.prefetch.map(_call, fetches):
            if outcome.run is None:  # in the build's place in the stream, as sequentially
                if outcome.run_key:
                    skip(
                        outcome.name,
                        outcome.why,
                        run_key=outcome.run_key,
                        source=source,
                        settings=outcome.settings,
                    )
                else:
                    skip(outcome.name, outcome.why)
                continue
            self.builds_sent += 1
            yield outcome.run

    def _fetches(
        self,
        job: JobRef,
        body: dict[str, Any],
        page: list[Any],
        poll: _JobPoll,
        state: State,
        source: str,
    ) -> Iterator[_Fetch]:
        """Which builds to read, decided here (the state is read on this thread)."""
        for entry in page:
            try:
                number = build_number(entry)
            except MalformedBuild as exc:
                yield _known(_Outcome(f"a build of {job.path}", None, str(exc)))
                continue
            if number > poll.highest or (poll.highest_started is None and number == poll.highest):
                poll.highest = number
                poll.highest_started = _int(entry.get("timestamp"))
            if poll.last is not None and number <= poll.last and number not in poll.revisit:
                continue
            self.builds_listed += 1
            if not is_finished(entry):
                poll.still_running.add(number)
                continue
            stamp = entry.get("timestamp")
            since = self.options.since_ms
            if since is not None and isinstance(stamp, int) and stamp < since:
                continue
            key = self._key(job, number, poll)
            if state.is_delivered(key):
                continue
            name = f"{job.path} #{number}"
            repo = self.repo_for(job, body, entry)
            if repo is None:
                why = (
                    "its repository is unknown (no git checkout or GitHub project "
                    "property); use --repo or --repo-map"
                )
                yield _known(_Outcome(name, None, why, key, self.options.settings))
                continue
            if self.foreign.holds(job.path, name, repo, key):
                continue  # reported once per job by `foreign.report`
            yield self._collect(job, entry, number, key, source, repo)

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
        self, job: JobRef, build: dict[str, Any], number: int, key: str, source: str, repo: Repo
    ) -> _Fetch:
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
                return _Outcome(name, None, "deleted since it was listed")
            context = BuildContext(self.client.host, job.path, repo, source, branch_job)
            try:
                run = map_build(build, context, describe, blue)
            except (MalformedBuild, ValueError, TypeError, KeyError, AttributeError) as exc:
                return _Outcome(name, None, f"unexpected JSON from Jenkins ({exc})")
            run.natural_key = key  # every id derives from it (mapper)
            return _Outcome(name, run)

        return fetch


def _call(fetch: _Fetch) -> _Outcome:
    return fetch()


def _known(outcome: _Outcome) -> _Fetch:
    """An outcome decided without a request, kept in its place in the ordered stream."""
    return lambda: outcome


def _int_text(text: str) -> int | None:
    return int(text) if text.isdigit() else None
