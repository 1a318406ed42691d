"""GitHub Actions JSON -> `Run` tree: workflow run attempt -> jobs -> steps.

Pure functions over the REST bodies (``/actions/runs/{id}[/attempts/{n}]`` and
``/attempts/{n}/jobs``). Platform quirks are settled here, at the edge: missing fields
of old runs, null times of skipped jobs, jobs that "re-run failed jobs" carried over from
an earlier attempt, zero-job ``startup_failure`` runs, and a run observed from inside.
Anything structurally wrong raises `MalformedRun` so the caller can skip just that run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...model import Conclusion, Node, Repo, Run
from ...times import text_to_ms
from .fields import (
    CONCLUSIONS,
    PARTIAL_FINGERPRINT,
    PLATFORM,
    UNFINISHED,
    JsonObject,
    MalformedRun,
    attempt_of,
    base_repo,
    conclusion_of,
    fingerprint_of,
    is_finished,
    login_of,
    natural_key,
    optional_int,
    optional_str,
    own_repo,
    read_time,
    require_int,
    run_id_of,
    slim_run,
    workflow_path,
)

__all__ = [
    "CONCLUSIONS",
    "PARTIAL_FINGERPRINT",
    "UNFINISHED",
    "MalformedRun",
    "attempt_of",
    "build_run",
    "conclusion_of",
    "fingerprint_of",
    "is_finished",
    "natural_key",
    "own_repo",
    "run_id_of",
    "slim_run",
    "workflow_path",
]


# ---- the tree --------------------------------------------------------------------------


def build_run(
    repo: Repo,
    run: JsonObject,
    jobs: Iterable[JsonObject],
    *,
    source: str,
    partial: bool = False,
) -> Run:
    """One attempt's chain. `run` is that attempt's body; `jobs` its ``/attempts/{n}/jobs``.

    `partial` is for the run the collector itself runs in: unfinished jobs are left out,
    the root ends at the last finished job and is tagged ``partial``.
    """
    run_id = run_id_of(run)
    attempt = attempt_of(run)
    what = f"run {run_id} attempt {attempt}"
    own_jobs = [
        job
        for job in _unique_jobs(jobs, what)
        if _belongs_to(job, attempt, what) and (not partial or is_finished(job))
    ]
    children = [_job_node(job, what) for job in own_jobs]
    children.sort(key=_numeric_id)
    started = read_time(run, "run_started_at", what) or read_time(run, "created_at", what)
    finished = max((c.finished_ms for c in children if c.finished_ms), default=None)
    if finished is None and not partial:
        finished = read_time(run, "updated_at", what)  # no job ever ran (startup_failure)
    raw = optional_str(run, "conclusion", what)
    conclusion = conclusion_of(raw)
    if partial:
        raw, conclusion = None, _partial_conclusion(children)
    root = Node(
        kind="workflow",
        name=optional_str(run, "name", what) or workflow_path(run),
        id_part="",
        key_part=workflow_path(run),
        started_ms=started,
        finished_ms=finished,
        conclusion=conclusion,
        result=raw,
        tags=_run_tags(run, run_id, attempt, what, partial),
        children=children,
        sequence_tags=_workflow_tags(run, what),
    )
    return Run(
        platform=PLATFORM,
        repo=own_repo(repo, run),
        natural_key=natural_key(repo, run_id, attempt),
        root=root,
        source=source,
        fingerprint=PARTIAL_FINGERPRINT if partial else fingerprint_of(run),
    )


def _unique_jobs(jobs: Iterable[Any], what: str) -> list[Any]:
    """Each job once: a job can straddle two pages of a listing that moved meanwhile.

    A finished copy wins over an unfinished one, else the later listing (the fresher).
    """
    by_id: dict[Any, Any] = {}
    for job in jobs:
        if not isinstance(job, Mapping):
            raise MalformedRun(f"{what}: a job is {type(job).__name__}, not an object")
        job_id = require_int(job, "id", f"{what}: a job")
        earlier = by_id.get(job_id)
        if earlier is None or is_finished(job) or not is_finished(earlier):
            by_id[job_id] = job
    return list(by_id.values())


def _workflow_tags(run: JsonObject, what: str) -> dict[str, str]:
    """What describes the workflow itself (its file and page), the same for every run."""
    path = workflow_path(run)
    tags = {"workflow": path}
    url = optional_str(run, "html_url", what) or ""
    marker = "/actions/runs/"
    if marker in url and path.startswith(".github/workflows/"):
        tags["workflow_url"] = (
            url.split(marker, 1)[0] + "/actions/workflows/" + path.rsplit("/", 1)[1]
        )
    return tags


def _belongs_to(job: Any, attempt: int, what: str) -> bool:
    """False for a job "re-run failed jobs" carried over: it is work of an earlier attempt."""
    if not isinstance(job, Mapping):
        raise MalformedRun(f"{what}: a job is {type(job).__name__}, not an object")
    return optional_int(job, "run_attempt", f"{what} job {job.get('id')!r}", attempt) == attempt


def _numeric_id(node: Node) -> int:
    """Jobs by id, steps by number: the order GitHub shows, independent of paging."""
    return int(node.id_part.rsplit("/", 1)[1])


def _partial_conclusion(children: list[Node]) -> Conclusion:
    """What GitHub will conclude if nothing else fails: failures win, then cancellations."""
    seen = {child.conclusion for child in children}
    if seen & {Conclusion.FAILURE, Conclusion.TIMED_OUT}:
        return Conclusion.FAILURE
    if Conclusion.CANCELLED in seen:
        return Conclusion.CANCELLED
    return Conclusion.SUCCESS


def _run_tags(
    run: JsonObject, run_id: int, attempt: int, what: str, partial: bool
) -> dict[str, str | int]:
    tags: dict[str, str | int] = {
        "branch": optional_str(run, "head_branch", what) or "",
        "sha": optional_str(run, "head_sha", what) or "",
        "pr_number": _pr_number(run),
        "trigger": optional_str(run, "event", what) or "",
        "actor": login_of(run, "actor"),
        "triggering_actor": login_of(run, "triggering_actor"),
        "run_id": str(run_id),
        "run_number": str(optional_int(run, "run_number", what, 0) or ""),
        "attempt": str(attempt),
        "url": optional_str(run, "html_url", what) or "",
        "workflow": workflow_path(run),
    }
    if partial:
        tags["partial"] = "true"
    return tags


def _pr_number(run: JsonObject) -> str:
    """The run's own pull request: the first listed one whose *base* is the run's repository.

    GitHub lists pull requests of other repositories too (a fork's PR whose head branch
    is named like the pushed branch): those do not make a push a pull request run.
    """
    pulls = run.get("pull_requests")
    if not isinstance(pulls, list):
        return ""
    for pull in pulls:
        if not isinstance(pull, Mapping) or not _based_here(run, pull):
            continue
        number = pull.get("number")
        if isinstance(number, int) and not isinstance(number, bool):
            return str(number)
    return ""


def _based_here(run: JsonObject, pull: Mapping[str, Any]) -> bool:
    base = base_repo(pull)
    repository = run.get("repository")
    own = repository if isinstance(repository, Mapping) else {}
    own_id, base_id = own.get("id"), base.get("id")
    if isinstance(own_id, int) and isinstance(base_id, int):
        return own_id == base_id
    full_name, base_url = own.get("full_name"), base.get("url")
    if isinstance(full_name, str) and isinstance(base_url, str):
        return base_url.lower().rstrip("/").endswith(f"/repos/{full_name.lower()}")
    return False


def _job_node(job: JsonObject, run_what: str) -> Node:
    job_id = require_int(job, "id", f"{run_what}: a job")
    what = f"{run_what} job {job_id}"
    name = optional_str(job, "name", what) or f"job {job_id}"
    created = read_time(job, "created_at", what)
    started = read_time(job, "started_at", what)
    finished = read_time(job, "completed_at", what) if is_finished(job) else None
    raw = optional_str(job, "conclusion", what) or optional_str(job, "status", what)
    metrics: dict[str, int | float] = {}
    if created is not None and started is not None:
        metrics["queue_ms"] = max(0, started - created)
    steps = job.get("steps")
    if steps is None:
        steps = []
    if not isinstance(steps, list):
        raise MalformedRun(f"{what} has non-list 'steps'")
    return Node(
        kind="job",
        name=name,
        id_part=f"jobs/{job_id}",
        key_part=name,
        started_ms=started,
        finished_ms=finished,
        conclusion=conclusion_of(raw),
        result=raw,
        tags=_job_tags(job, what),
        metrics=metrics,
        children=sorted((_step_node(step, what) for step in steps), key=_numeric_id),
    )


def _job_tags(job: JsonObject, what: str) -> dict[str, str | int]:
    labels = job.get("labels")
    label_text = (
        ",".join(label for label in labels if isinstance(label, str))
        if isinstance(labels, list)
        else ""
    )
    return {
        "url": optional_str(job, "html_url", what) or "",
        "runner": optional_str(job, "runner_name", what) or "",
        "runner_group": optional_str(job, "runner_group_name", what) or "",
        "runner_labels": label_text,
    }


def _step_node(step: Any, job_what: str) -> Node:
    """One step. The run's most numerous node (ten a job), so its fields are read once
    each and checked together; a wrong type is reported as `optional_str` would."""
    if type(step) is not dict and not isinstance(step, Mapping):  # the ABC check is slow
        raise MalformedRun(f"{job_what}: a step is {type(step).__name__}, not an object")
    number = step.get("number")
    if type(number) is not int:
        number = require_int(step, "number", f"{job_what}: a step")
    name, raw = step.get("name"), step.get("conclusion")
    started, completed = step.get("started_at"), step.get("completed_at")
    for value in (name, raw, started, completed):
        if value is not None and type(value) is not str:
            _step_field_types(step, f"{job_what} step {number}")
    if not raw:
        raw = optional_str(step, "status", f"{job_what} step {number}")
    name = name or f"step {number}"
    return Node(  # by position: keywords cost a dataclass a third more, once per step
        "step",
        name,
        f"steps/{number}",
        name,
        text_to_ms(started) if started else None,
        text_to_ms(completed) if completed else None,
        CONCLUSIONS.get(raw.lower()) if raw else None,
        raw,
    )


def _step_field_types(step: JsonObject, what: str) -> None:
    """Raise `MalformedRun` naming the first step field that is not a string."""
    for field in ("name", "conclusion", "started_at", "completed_at"):
        optional_str(step, field, what)
