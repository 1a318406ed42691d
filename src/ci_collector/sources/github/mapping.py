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
from ...times import iso_to_ms

PLATFORM = "github_actions"
PARTIAL_FINGERPRINT = "partial"
"""Fingerprint of an attempt sent while still running; a later full collection replaces it."""

CONCLUSIONS: dict[str, Conclusion] = {
    "success": Conclusion.SUCCESS,
    "neutral": Conclusion.SUCCESS,
    "failure": Conclusion.FAILURE,
    "action_required": Conclusion.FAILURE,
    "startup_failure": Conclusion.FAILURE,
    "cancelled": Conclusion.CANCELLED,
    "stale": Conclusion.CANCELLED,
    "timed_out": Conclusion.TIMED_OUT,
    "skipped": Conclusion.SKIPPED,
}
UNFINISHED = frozenset({"queued", "in_progress", "waiting", "pending", "requested"})

JsonObject = Mapping[str, Any]


class MalformedRun(ValueError):
    """A body GitHub should never send (wrong types, missing ids): skip the run, say why."""


# ---- small, strict readers -----------------------------------------------------------


def _require_int(obj: JsonObject, field: str, what: str) -> int:
    value = obj.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRun(f"{what} has no integer {field!r} (got {value!r:.40})")
    return value


def _optional_int(obj: JsonObject, field: str, what: str, default: int) -> int:
    if obj.get(field) is None:
        return default
    return _require_int(obj, field, what)


def _optional_str(obj: JsonObject, field: str, what: str) -> str | None:
    value = obj.get(field)
    if value is None or isinstance(value, str):
        return value
    raise MalformedRun(f"{what} has a non-string {field!r} (got {type(value).__name__})")


def _time(obj: JsonObject, field: str, what: str) -> int | None:
    return iso_to_ms(_optional_str(obj, field, what))


def _login(obj: JsonObject, field: str) -> str:
    """``actor.login``; tags are best effort, so an odd shape just leaves the tag out."""
    user = obj.get(field)
    if isinstance(user, Mapping):
        login = user.get("login")
        if isinstance(login, str):
            return login
    return ""


def _lower(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def conclusion_of(raw: Any) -> Conclusion | None:
    return CONCLUSIONS.get(_lower(raw))


def is_finished(obj: JsonObject) -> bool:
    """Completed runs/jobs/steps. Upper-case words (seen in hand-edited data) count too."""
    status = _lower(obj.get("status"))
    if status == "completed":
        return True
    if status in UNFINISHED:
        return False
    return _lower(obj.get("conclusion")) in CONCLUSIONS


RUN_FIELDS = (
    "id",
    "name",
    "path",
    "workflow_id",
    "head_branch",
    "head_sha",
    "run_number",
    "event",
    "status",
    "conclusion",
    "created_at",
    "updated_at",
    "run_started_at",
    "run_attempt",
    "html_url",
    "pull_requests",
    "actor",
    "triggering_actor",
)


def slim_run(run: Any) -> Any:
    """Only what the mapping reads: a listed window can hold 1,000 runs of ~13 kB each."""
    if not isinstance(run, Mapping):
        return run
    slim = {field: run[field] for field in RUN_FIELDS if field in run}
    for field in ("actor", "triggering_actor"):
        user = slim.get(field)
        if isinstance(user, Mapping):
            slim[field] = {"login": user.get("login")}
    pulls = slim.get("pull_requests")
    if isinstance(pulls, list):
        slim["pull_requests"] = [
            {"number": pull.get("number")} for pull in pulls[:1] if isinstance(pull, Mapping)
        ]
    return slim


# ---- identity --------------------------------------------------------------------------


def run_id_of(run: JsonObject) -> int:
    return _require_int(run, "id", "run")


def attempt_of(run: JsonObject) -> int:
    """``run_attempt``; runs from before GitHub had re-runs carry none and are attempt 1."""
    return _optional_int(run, "run_attempt", f"run {run.get('id')!r}", 1)


def natural_key(repo: Repo, run_id: int, attempt: int) -> str:
    return f"{repo.slug}/actions/runs/{run_id}/attempts/{attempt}"


def fingerprint_of(run: JsonObject) -> str:
    """Changes when a finished attempt would map differently; ``updated_at`` is left out
    on purpose: GitHub bumps it long after the run ended."""
    return f"{_lower(run.get('status'))}:{_lower(run.get('conclusion'))}"


def workflow_path(run: JsonObject) -> str:
    """``.github/workflows/ci.yml`` from ``path`` (minus any ``@ref``), else a stable stand-in."""
    what = f"run {run.get('id')!r}"
    path = _optional_str(run, "path", what)
    if path:
        return path.split("@", 1)[0]
    name = _optional_str(run, "name", what)
    if name:
        return name
    return f"workflows/{_require_int(run, 'workflow_id', what)}"


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
        job for job in jobs if _belongs_to(job, attempt, what) and (not partial or is_finished(job))
    ]
    children = [_job_node(job, what) for job in own_jobs]
    children.sort(key=_numeric_id)
    started = _time(run, "run_started_at", what) or _time(run, "created_at", what)
    finished = max((c.finished_ms for c in children if c.finished_ms), default=None)
    if finished is None and not partial:
        finished = _time(run, "updated_at", what)  # no job ever ran (startup_failure)
    raw = _optional_str(run, "conclusion", what)
    conclusion = conclusion_of(raw)
    if partial:
        raw, conclusion = None, _partial_conclusion(children)
    root = Node(
        kind="workflow",
        name=_optional_str(run, "name", what) or workflow_path(run),
        id_part="",
        key_part=workflow_path(run),
        started_ms=started,
        finished_ms=finished,
        conclusion=conclusion,
        result=raw,
        tags=_run_tags(run, run_id, attempt, what, partial),
        children=children,
    )
    return Run(
        platform=PLATFORM,
        repo=repo,
        natural_key=natural_key(repo, run_id, attempt),
        root=root,
        source=source,
        fingerprint=PARTIAL_FINGERPRINT if partial else fingerprint_of(run),
    )


def _belongs_to(job: Any, attempt: int, what: str) -> bool:
    """False for a job "re-run failed jobs" carried over: it is work of an earlier attempt."""
    if not isinstance(job, Mapping):
        raise MalformedRun(f"{what}: a job is {type(job).__name__}, not an object")
    return _optional_int(job, "run_attempt", f"{what} job {job.get('id')!r}", attempt) == attempt


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
        "branch": _optional_str(run, "head_branch", what) or "",
        "sha": _optional_str(run, "head_sha", what) or "",
        "pr_number": _pr_number(run),
        "trigger": _optional_str(run, "event", what) or "",
        "actor": _login(run, "actor"),
        "triggering_actor": _login(run, "triggering_actor"),
        "run_id": str(run_id),
        "run_number": str(_optional_int(run, "run_number", what, 0) or ""),
        "attempt": str(attempt),
        "url": _optional_str(run, "html_url", what) or "",
        "workflow": workflow_path(run),
    }
    if partial:
        tags["partial"] = "true"
    return tags


def _pr_number(run: JsonObject) -> str:
    pulls = run.get("pull_requests")
    if isinstance(pulls, list) and pulls and isinstance(pulls[0], Mapping):
        number = pulls[0].get("number")
        if isinstance(number, int) and not isinstance(number, bool):
            return str(number)
    return ""


def _job_node(job: JsonObject, run_what: str) -> Node:
    job_id = _require_int(job, "id", f"{run_what}: a job")
    what = f"{run_what} job {job_id}"
    name = _optional_str(job, "name", what) or f"job {job_id}"
    created = _time(job, "created_at", what)
    started = _time(job, "started_at", what)
    finished = _time(job, "completed_at", what) if is_finished(job) else None
    raw = _optional_str(job, "conclusion", what)
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
        "url": _optional_str(job, "html_url", what) or "",
        "runner": _optional_str(job, "runner_name", what) or "",
        "runner_group": _optional_str(job, "runner_group_name", what) or "",
        "runner_labels": label_text,
    }


def _step_node(step: Any, job_what: str) -> Node:
    if not isinstance(step, Mapping):
        raise MalformedRun(f"{job_what}: a step is {type(step).__name__}, not an object")
    number = _require_int(step, "number", f"{job_what}: a step")
    what = f"{job_what} step {number}"
    name = _optional_str(step, "name", what) or f"step {number}"
    raw = _optional_str(step, "conclusion", what)
    return Node(
        kind="step",
        name=name,
        id_part=f"steps/{number}",
        key_part=name,
        started_ms=_time(step, "started_at", what),
        finished_ms=_time(step, "completed_at", what),
        conclusion=conclusion_of(raw),
        result=raw,
    )
