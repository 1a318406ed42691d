"""Trunk event -> OpenTelemetry CI/CD and VCS attributes (semantic conventions, ``cicd.*``).

Works from the event dicts the mapper produces, so a span says exactly what the Trunk
event says: the same conclusion table, the same tags, the same milliseconds. Whatever
semconv has no name for keeps its Trunk name under the ``ci_collector.`` namespace.
"""

from __future__ import annotations

import re

from ...model import Repo
from ...trunk import EventDict

AttributeValue = str | int | float
Attributes = dict[str, AttributeValue]

RESULTS = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "CANCELLED": "cancellation",
    "TIMED_OUT": "timeout",
    "SKIPPED": "skip",
}
"""Trunk conclusion -> ``cicd.pipeline.result`` (the mapper already applied the platform
tables, e.g. GitHub ``stale`` -> FAILURE, Jenkins ``ABORTED`` -> CANCELLED)."""

ERROR_RESULTS = frozenset({"startup_failure", "error", "infrastructure_fail"})
"""Raw platform results that mean the CI system failed, not the code: semconv ``error``."""

FAILED = frozenset({"failure", "error", "timeout"})
"""Results that make a span's status ERROR."""

QUEUE_ATTRIBUTE = "ci_collector.queue.duration_ms"
VENDOR = "ci_collector."

# Trunk tag -> semconv attribute, where semconv has one.
_RUN_TAGS = {
    "url": "cicd.pipeline.run.url.full",
    "branch": "vcs.ref.head.name",
    "sha": "vcs.ref.head.revision",
    "pr_number": "vcs.change.id",
}
_TASK_TAGS = {"url": "cicd.pipeline.task.run.url.full", "runner": "cicd.worker.name"}
_METRICS = {"queue_ms": QUEUE_ATTRIBUTE, "pause_ms": "ci_collector.pause.duration_ms"}
_TASK_ID_IN_URL = re.compile(r"/(?:job|jobs|execution/node)/(\d+)/?$")
_TASK_TYPES = (("test", "test"), ("deploy", "deploy"), ("release", "deploy"), ("build", "build"))
_PROVIDERS = ("github", "gitlab", "bitbucket", "gitea")


Tags = dict[str, str | int | float]


def tags_of(event: EventDict) -> Tags:
    return {tag["k"]: tag["v"] for tag in event["payload"]["tags"]}


def result_of(event: EventDict, tags: Tags) -> str | None:
    """``cicd.pipeline.result`` of an event: Trunk's conclusion, ``error`` for CI faults."""
    conclusion = event.get("conclusion")
    if conclusion is None:
        return None
    raw = str(tags.get("result", "")).lower()
    if conclusion == "FAILURE" and raw in ERROR_RESULTS:
        return "error"
    return RESULTS.get(conclusion)


def pipeline_name(event: EventDict, tags: Tags) -> str:
    """The pipeline's stable name: the Jenkins job path, else the workflow's name."""
    job = tags.get("job")
    return str(job) if job else event["sequence"]["name"]


def run_id(event: EventDict, tags: Tags) -> str:
    for key in ("run_id", "workflow_id"):
        if tags.get(key):
            return str(tags[key])
    if tags.get("job") and tags.get("build"):
        return f"{tags['job']}#{tags['build']}"
    return event["id"]


def run_attributes(event: EventDict, repo: Repo) -> Attributes:
    """The run (root) span: pipeline, run, VCS and result attributes."""
    tags = tags_of(event)
    attributes: Attributes = {
        "cicd.pipeline.name": pipeline_name(event, tags),
        "cicd.pipeline.action.name": "RUN",
        "cicd.pipeline.run.id": run_id(event, tags),
        "vcs.repository.url.full": f"https://{repo.host}/{repo.owner}/{repo.name}",
        "vcs.repository.name": repo.name,
        "vcs.owner.name": repo.owner,
    }
    provider = next((name for name in _PROVIDERS if name in repo.host.lower()), None)
    if provider is not None:
        attributes["vcs.provider.name"] = provider
    for tag, name in _RUN_TAGS.items():
        if tag in tags:
            attributes[name] = str(tags[tag])
    if tags.get("vcs_tag"):
        attributes["vcs.ref.head.name"] = str(tags["vcs_tag"])
        attributes["vcs.ref.head.type"] = "tag"
    elif "vcs.ref.head.name" in attributes:
        attributes["vcs.ref.head.type"] = "branch"
    if "runner" in tags:
        attributes["cicd.worker.name"] = str(tags["runner"])
    _result(event, tags, "cicd.pipeline.result", attributes)
    _common(event, tags, set(_RUN_TAGS) | {"runner", "vcs_tag"}, attributes)
    return attributes


def task_attributes(event: EventDict, run: Attributes) -> Attributes:
    """A job, stage or step span (`run`: the run span's attributes): task, worker, result."""
    tags = tags_of(event)
    name = event["sequence"]["name"]
    attributes: Attributes = {
        "cicd.pipeline.name": run["cicd.pipeline.name"],
        "cicd.pipeline.run.id": run["cicd.pipeline.run.id"],
        "cicd.pipeline.task.name": name,
        "cicd.pipeline.task.run.id": task_run_id(event, tags),
    }
    for tag, attribute in _TASK_TAGS.items():
        if tag in tags:
            attributes[attribute] = str(tags[tag])
    lowered = name.lower()
    task_type = next((kind for word, kind in _TASK_TYPES if word in lowered), None)
    if task_type is not None:
        attributes["cicd.pipeline.task.type"] = task_type
    _result(event, tags, "cicd.pipeline.task.run.result", attributes)
    _common(event, tags, set(_TASK_TAGS), attributes)
    return attributes


def task_run_id(event: EventDict, tags: Tags) -> str:
    """The platform's id of the task run (job id, job number, flow node), else the event id."""
    if tags.get("job_number"):
        return str(tags["job_number"])
    found = _TASK_ID_IN_URL.search(str(tags.get("url", "")))
    return found.group(1) if found else event["id"]


def _result(event: EventDict, tags: Tags, name: str, attributes: Attributes) -> None:
    result = result_of(event, tags)
    if result is None:
        return
    attributes[name] = result
    if result in ("failure", "error"):
        raw = tags.get("result")
        attributes["error.type"] = str(raw) if raw else "_OTHER"


def _common(event: EventDict, tags: Tags, mapped: set[str], out: Attributes) -> None:
    """Everything else, under its Trunk name: ids to join with Trunk, tags, metrics."""
    sequence = event["sequence"]
    out[VENDOR + "platform"] = sequence["platform"]
    out[VENDOR + "kind"] = sequence["kind"]
    out[VENDOR + "sequence.key"] = sequence["key"]
    out[VENDOR + "event.id"] = event["id"]
    if "conclusion" in event:
        out[VENDOR + "conclusion"] = event["conclusion"]
    for key, value in tags.items():
        if key not in mapped:
            out[VENDOR + key] = value
    for metric in event["payload"]["metrics"]:
        if metric["k"] != "duration_ms":  # the span's own length
            out[_METRICS.get(metric["k"], VENDOR + metric["k"])] = metric["v"]
