"""CircleCI collector: finished workflows of one project, each as one run attempt.

Walk: pipelines newest first (down to the window's floor) -> each pipeline's workflows
-> jobs, but only for workflows that are finished and not yet delivered. Job details
are fetched only for a job that ran yet lacks a start or stop time in the job list.

The cursor (see `circleci_cursor`) is a pipeline creation time behind which everything
was finished and delivered; each poll re-lists `lookback` behind it for re-runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import RemoteError
from ...model import Run
from ...pipeline import SkipPolicy
from ...prefetch import OrderedPrefetch
from ...state import State
from ...times import iso_to_ms, ms_to_iso
from ..repos import ForeignHosts
from .client import CircleCIClient, Malformed, NotFound, path_segment
from .cursor import Watermark, next_cursor, resume_point
from .mapping import (
    Attempt,
    BadItem,
    Project,
    build_run,
    is_finished,
    number_attempts,
    repo_for,
)

log = logging.getLogger(__name__)

FIRST_POLL_WINDOW = timedelta(days=7)
"""How far back a first poll reaches when no --since is given."""

HOLD_LIMIT = timedelta(days=14)
"""An unfinished workflow older than this stops holding the cursor back (say, an
approval nobody will ever give); a --since backfill still finds it."""

SETTLED_PIPELINE_STATES = frozenset({"created", "errored"})
"""Pipeline states after which no workflow appears without a re-run."""

_RAN = frozenset({"success", "failed", "infrastructure_fail", "timedout"})


@dataclass(frozen=True, slots=True)
class _Seen:
    """End of one pipeline in the ordered stream: what the watermark must learn."""

    created: int
    pending: bool


_Outcome = Run | tuple[str, str] | _Seen
_Fetch = Callable[[], _Outcome]


@dataclass
class CircleCISource:
    """A `RunSource` for one project: call it with the state and the skip policy."""

    client: CircleCIClient
    project: Project
    branch: str | None = None
    since: datetime | None = None
    lookback: timedelta = timedelta(days=3)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    concurrency: int = 1
    """Workflow and job lists of up to this many pipelines in flight; runs stay in order."""
    _foreign: ForeignHosts = field(
        default_factory=lambda: ForeignHosts(
            "collect the project's GitHub mirror instead (--project-slug gh/ORG/REPO)"
        )
    )

    def __call__(self, state: State, skip: SkipPolicy) -> Iterator[Run]:
        source = self.project.source
        delivered_at_start = state.delivered_count(source)
        previous = resume_point(state.cursor(source), delivered_at_start)
        floor = self._floor(previous)
        log.info("CircleCI %s: pipelines created since %s", self.project.slug, ms_to_iso(floor))
        mark = Watermark()
        listed: set[str] = set()
        with OrderedPrefetch(self.concurrency) as prefetch:
            pipelines = self._unseen(self._pipelines(floor, skip), listed)
            listings = prefetch.map(self._workflows_of, pipelines)
            fetches = (
                fetch
                for pipeline, workflows in listings
                for fetch in self._pipeline_fetches(pipeline, workflows, state)
            )
            sent = 0
            for outcome in prefetch.map(_call, fetches):
                if isinstance(outcome, Run):
                    sent += 1
                    yield outcome
                elif isinstance(outcome, _Seen):
                    mark.saw(outcome.created, outcome.pending, sent)
                    sent = 0
                else:
                    skip(*outcome)
        self._foreign.report(skip)
        hold_limit = _ms(self.now - HOLD_LIMIT)
        moved = next_cursor(previous, floor, mark, hold_limit, delivered_at_start)
        if moved is not None:
            state.set_cursor(source, moved)
        state.record_success(source)
        stats = self.client.stats
        log.info(
            "CircleCI %s: %d runs from %d pipelines in %d requests (%d retries)",
            self.project.slug,
            mark.sent,
            len(listed),
            stats.requests,
            stats.retries,
        )

    def _floor(self, previous: int | None) -> int:
        if self.since is not None:
            return _ms(self.since)
        if previous is not None:
            return previous - int(self.lookback.total_seconds() * 1000)
        return _ms(self.now - FIRST_POLL_WINDOW)

    def _pipelines(self, floor: int, skip: SkipPolicy) -> Iterator[dict[str, Any]]:
        """Pipelines newest first, stopping (without another page) below the floor."""
        params = {"branch": self.branch} if self.branch else {}
        path = f"/project/{path_segment(self.project.slug)}/pipeline"
        try:
            for pipeline in self.client.items(path, params):
                created = iso_to_ms(pipeline.get("created_at"))
                if created is None or not isinstance(pipeline.get("id"), str):
                    skip(f"CircleCI pipeline {pipeline.get('number')!r}", "no id or created_at")
                    continue
                if created < floor:
                    return
                yield pipeline
        except NotFound:
            raise RemoteError(
                f"CircleCI project {self.project.slug} not found (or not visible to CIRCLECI_TOKEN)"
            ) from None
        except Malformed as exc:
            raise RemoteError(f"CircleCI pipeline list is malformed: {exc}") from None

    @staticmethod
    def _unseen(pipelines: Iterable[dict[str, Any]], listed: set[str]) -> Iterator[dict[str, Any]]:
        for pipeline in pipelines:
            if pipeline["id"] in listed:
                continue  # shifted onto the next page by a pipeline created meanwhile
            listed.add(pipeline["id"])
            yield pipeline

    def _workflows_of(
        self, pipeline: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]] | Exception]:
        """A pipeline's workflow list (in a prefetch worker), or why there is none."""
        try:
            path = f"/pipeline/{path_segment(pipeline['id'])}/workflow"
            return pipeline, list(self.client.items(path))
        except (NotFound, Malformed) as exc:
            return pipeline, exc

    def _pipeline_fetches(
        self,
        pipeline: dict[str, Any],
        workflows: list[dict[str, Any]] | Exception,
        state: State,
    ) -> Iterator[_Fetch]:
        """Which workflows to read (decided here: the state is read on this thread), then
        the pipeline's end for the watermark; every outcome in its sequential place."""
        pipeline_id: str = pipeline["id"]
        created = iso_to_ms(pipeline.get("created_at")) or 0
        label = f"CircleCI pipeline {pipeline.get('number', pipeline_id)} of {self.project.slug}"
        if isinstance(workflows, Exception):
            yield _known((label, _why(workflows)))
            yield _known(_Seen(created, pending=False))
            return
        pending = pipeline.get("state") not in SETTLED_PIPELINE_STATES
        attempts = number_attempts(workflows)
        for workflow in sorted(workflows, key=_workflow_order):
            workflow_id = workflow.get("id")
            what = f"CircleCI workflow {workflow.get('name')!r} ({workflow_id}) of {label}"
            if not isinstance(workflow_id, str) or workflow_id not in attempts:
                yield _known((what, "no id or name"))
                continue
            if not is_finished(workflow):
                pending = True
                continue
            if state.is_delivered(self.project.workflow_key(workflow_id)):
                continue
            repo = repo_for(self.project, pipeline)
            if repo is not None and self._foreign.holds(self.project.slug, what, repo):
                continue  # reported once by `_foreign.report`
            yield self._workflow_fetch(pipeline, workflow, attempts[workflow_id], what)
        yield _known(_Seen(created, pending))

    def _workflow_fetch(
        self, pipeline: dict[str, Any], workflow: dict[str, Any], attempt: Attempt, what: str
    ) -> _Fetch:
        def fetch() -> _Outcome:
            try:
                jobs = self._jobs(workflow["id"])
                return build_run(self.project, pipeline, workflow, jobs, attempt)
            except (NotFound, Malformed, BadItem) as exc:
                return what, _why(exc)

        return fetch

    def _jobs(self, workflow_id: str) -> list[Mapping[str, Any]]:
        jobs = list(self.client.items(f"/workflow/{path_segment(workflow_id)}/job"))
        return [self._with_times(job) for job in jobs]

    def _with_times(self, job: dict[str, Any]) -> Mapping[str, Any]:
        """The job list item, completed from the job's details if it ran but lacks a time."""
        number = job.get("job_number")
        lacks_time = not job.get("started_at") or not job.get("stopped_at")
        if (
            not lacks_time
            or job.get("type") == "approval"  # the details endpoint 404s for approvals
            or job.get("status") not in _RAN
            or not isinstance(number, int)
        ):
            return job
        path = f"/project/{path_segment(self.project.slug)}/job/{number}"
        try:
            details = self.client.get(path)
        except (NotFound, Malformed):
            return job
        merged = dict(job)
        for name in ("started_at", "stopped_at", "queued_at"):
            if not merged.get(name) and isinstance(details.get(name), str):
                merged[name] = details[name]
        return merged


def _call(fetch: _Fetch) -> _Outcome:
    return fetch()


def _known(outcome: _Outcome) -> _Fetch:
    """An outcome decided without a request, kept in its place in the ordered stream."""
    return lambda: outcome


def _workflow_order(workflow: Mapping[str, Any]) -> tuple[int, str]:
    return (iso_to_ms(workflow.get("created_at")) or 0, str(workflow.get("id")))


def _why(exc: Exception) -> str:
    if isinstance(exc, NotFound):
        return f"gone from CircleCI (404 for {exc})"
    return str(exc)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
