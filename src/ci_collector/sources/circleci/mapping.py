"""CircleCI API v2 JSON -> run tree. Pure: no I/O, so the real recordings can test it.

A CircleCI *workflow* is the unit of one run attempt (a re-run creates a new workflow
with a new id in the same pipeline), its *jobs* are the children. Approval jobs are
waits for a person, not work, so they get their own kind and a ``pause_ms`` metric.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...model import Conclusion, MetricValue, Node, Repo, Run, TagValue
from ...times import iso_to_ms
from ..repos import parse_remote

PLATFORM = "circleci"

FINISHED_WORKFLOW = frozenset({"success", "failed", "error", "canceled", "unauthorized", "not_run"})
"""Workflow words that never change again; running, on_hold and failing still can."""

CONCLUSIONS: dict[str, Conclusion] = {
    "success": Conclusion.SUCCESS,
    "failed": Conclusion.FAILURE,
    "error": Conclusion.FAILURE,
    "infrastructure_fail": Conclusion.FAILURE,
    "terminated-unknown": Conclusion.FAILURE,
    "retried": Conclusion.FAILURE,
    "canceled": Conclusion.CANCELLED,
    "timedout": Conclusion.TIMED_OUT,
    "not_run": Conclusion.SKIPPED,
    "blocked": Conclusion.SKIPPED,
    "unauthorized": Conclusion.SKIPPED,
    "on_hold": Conclusion.SKIPPED,
}
"""Every workflow and job status CircleCI documents, as found in a *finished* workflow.

``terminated-unknown`` (the job ended, CircleCI cannot say how) and ``retried`` (a job
that was re-run after it did not succeed) are failures; an approval still ``on_hold``
when its workflow ended was never given: skipped. A job still ``running``, ``queued``
or ``not_running`` in a finished workflow is concluded by the mapper (cancelled if it
started, else skipped), its word kept in ``result``."""

_VCS_ALIASES = {"gh": "gh", "github": "gh", "bb": "bb", "bitbucket": "bb", "circleci": "circleci"}
_VCS_HOSTS = {"gh": "github.com", "bb": "bitbucket.org"}
_APP_VCS = {"gh": "github", "bb": "bitbucket", "circleci": "circleci"}
_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]+$")


class BadItem(ValueError):
    """An item that is not shaped as documented: its workflow is skipped, with this reason."""


@dataclass(frozen=True, slots=True)
class Project:
    """One followed project: its canonical slug, and where its API and web app live."""

    slug: str
    api_host: str
    app_url: str

    @property
    def vcs(self) -> str:
        return self.slug.split("/", 1)[0]

    @property
    def source(self) -> str:
        """The state's name for this stream of runs."""
        return f"circleci:{self.api_host}/{self.slug}"

    def workflow_key(self, workflow_id: str) -> str:
        """Natural key of one workflow (= one attempt: re-runs get a new workflow id)."""
        return f"{self.api_host}/{self.slug}/workflows/{workflow_id}"


def canonical_slug(text: str) -> str:
    """``github/o/r`` and ``gh/o/r`` name the same project: one spelling keeps one history."""
    parts = text.strip().strip("/").split("/")
    if len(parts) != 3 or parts[0].lower() not in _VCS_ALIASES:
        raise ValueError(
            f"--project-slug {text!r} is not VCS/ORG/REPO (e.g. gh/acme/widgets, "
            "bb/acme/widgets or circleci/ORG-ID/PROJECT-ID)"
        )
    vcs, org, name = parts
    if not (_SEGMENT.match(org) and _SEGMENT.match(name)):
        raise ValueError(f"--project-slug {text!r} has an invalid organisation or project name")
    # GitHub and Bitbucket names, and CircleCI's own ids, ignore case: one spelling
    return f"{_VCS_ALIASES[vcs.lower()]}/{org.lower()}/{name.lower()}"


def app_url_for(api_url: str) -> str:
    """Where people open pipelines: app.circleci.com for the cloud, the host itself on server."""
    parts = urlsplit(api_url)
    if parts.hostname in ("circleci.com", "www.circleci.com"):
        return "https://app.circleci.com"
    return f"{parts.scheme}://{parts.netloc}"


def repo_for(project: Project, pipeline: Mapping[str, Any]) -> Repo | None:
    """The repository Trunk files the events under, or None when it cannot be told."""
    _, org, name = project.slug.split("/")
    host = _VCS_HOSTS.get(project.vcs)
    if host is not None:
        return Repo(host, org, name)
    vcs = pipeline.get("vcs")
    origin = vcs.get("origin_repository_url") if isinstance(vcs, dict) else None
    return repo_from_url(origin) if isinstance(origin, str) else None


def repo_from_url(url: str) -> Repo | None:
    """``https://github.com/o/r(.git)`` or ``git@gitlab.com:group/sub/r.git`` -> Repo.

    The one git-remote grammar of the collector (`parse_remote`), so a CircleCI origin and
    a Jenkins remote of the same repository name the same `Repo`.
    """
    return parse_remote(url)


def is_finished(workflow: Mapping[str, Any]) -> bool:
    return workflow.get("status") in FINISHED_WORKFLOW


@dataclass(frozen=True, slots=True)
class Attempt:
    """Where a workflow stands among the same-named workflows of its pipeline."""

    number: int
    rerun_of: str | None


def number_attempts(workflows: Iterable[Mapping[str, Any]]) -> dict[str, Attempt]:
    """Attempt numbers by workflow id: same name in one pipeline = re-runs, by created_at.

    Every workflow counts (finished or not), so numbers do not shift when an earlier
    attempt finishes later than a newer one.
    """
    by_name: dict[str, list[tuple[int, str]]] = {}
    for workflow in workflows:
        wid, name = workflow.get("id"), workflow.get("name")
        if not isinstance(wid, str) or not isinstance(name, str):
            continue
        created = iso_to_ms(workflow.get("created_at"))
        by_name.setdefault(name, []).append((created if created is not None else 0, wid))
    attempts: dict[str, Attempt] = {}
    for group in by_name.values():
        group.sort()
        previous: str | None = None
        for number, (_, wid) in enumerate(group, start=1):
            attempts[wid] = Attempt(number, previous)
            previous = wid
    return attempts


def fingerprint(workflow: Mapping[str, Any]) -> str:
    """Changes only if the workflow's outcome would: a finished workflow id is immutable."""
    return f"{workflow.get('status')}|{workflow.get('stopped_at')}"


def build_run(
    project: Project,
    pipeline: Mapping[str, Any],
    workflow: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]],
    attempt: Attempt,
) -> Run:
    """One finished workflow and its jobs as a run; raises `BadItem` when it cannot be."""
    workflow_id = _text(workflow, "id")
    name = _text(workflow, "name")
    status = _text(workflow, "status")
    repo = repo_for(project, pipeline)
    if repo is None:
        raise BadItem(
            f"project {project.slug} has no repository URL in its pipeline "
            "(vcs.origin_repository_url)"
        )
    number = pipeline.get("number", workflow.get("pipeline_number"))
    pipeline_number = str(number) if isinstance(number, int) else ""
    url = _workflow_url(project, pipeline_number, workflow_id)
    children = sorted(
        (_job_node(project, pipeline_number, workflow_id, job) for job in _unique_jobs(jobs)),
        key=_job_order,
    )
    started = iso_to_ms(workflow.get("created_at"))
    finished = iso_to_ms(workflow.get("stopped_at"))
    if (
        started is None
        and finished is None
        and not any(c.started_ms or c.finished_ms for c in children)
    ):
        started = iso_to_ms(pipeline.get("created_at"))
        if started is None:
            raise BadItem("no created_at or stopped_at on the workflow or any of its jobs")
    root = Node(
        kind="workflow",
        name=name,
        id_part="",
        key_part=name,
        started_ms=started,
        finished_ms=finished,
        conclusion=CONCLUSIONS.get(status),
        result=status,
        tags={
            **_pipeline_tags(pipeline),
            "pipeline_number": pipeline_number,
            "workflow_id": workflow_id,
            "attempt": str(attempt.number),
            "rerun_of": attempt.rerun_of or "",
            "url": url,
        },
        children=children,
        sequence_tags={"project": project.slug, "workflow": name},
    )
    return Run(
        platform=PLATFORM,
        repo=repo,
        natural_key=project.workflow_key(workflow_id),
        root=root,
        source=project.source,
        fingerprint=fingerprint(workflow),
    )


def _unique_jobs(jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each job once (a job listed on two pages of a list that moved): the later wins."""
    by_id: dict[object, Mapping[str, Any]] = {}
    for job in jobs:
        if not isinstance(job, Mapping):
            raise BadItem("a job is not a JSON object")
        by_id[_text(job, "id", what="job")] = job
    return list(by_id.values())


def _pipeline_tags(pipeline: Mapping[str, Any]) -> dict[str, str]:
    vcs = _object(pipeline, "vcs")
    trigger = _object(pipeline, "trigger")
    actor = _object(trigger, "actor")
    return {
        "branch": _optional_text(vcs, "branch"),
        "sha": _optional_text(vcs, "revision"),
        "vcs_tag": _optional_text(vcs, "tag"),
        "trigger": _optional_text(trigger, "type"),
        "actor": _optional_text(actor, "login"),
    }


def _job_node(
    project: Project, pipeline_number: str, workflow_id: str, job: Mapping[str, Any]
) -> Node:
    if not isinstance(job, Mapping):
        raise BadItem("a job is not a JSON object")
    job_id = _text(job, "id", what="job")
    name = _text(job, "name", what=f"job {job_id}")
    status = _optional_text(job, "status") or None
    approval = job.get("type") == "approval"
    started = iso_to_ms(job.get("started_at"))
    stopped = iso_to_ms(job.get("stopped_at"))
    tags: dict[str, TagValue] = {}
    metrics: dict[str, MetricValue] = {}
    job_number = job.get("job_number")
    if isinstance(job_number, int) and not isinstance(job_number, bool):
        tags["job_number"] = str(job_number)
        if not approval and pipeline_number:
            workflow_url = _workflow_url(project, pipeline_number, workflow_id)
            tags["url"] = f"{workflow_url}/jobs/{job_number}"
    if approval:
        if started is not None and stopped is not None:
            metrics["pause_ms"] = stopped - started
    else:
        queued = iso_to_ms(job.get("queued_at")) or iso_to_ms(job.get("created_at"))
        if queued is not None and started is not None:
            metrics["queue_ms"] = started - queued
    return Node(
        kind="approval" if approval else "job",
        name=name,
        id_part=f"jobs/{job_id}",
        key_part=name,
        started_ms=started,
        finished_ms=stopped,
        conclusion=CONCLUSIONS.get(status) if status else None,
        result=status,
        tags=tags,
        metrics=metrics,
    )


def _job_order(node: Node) -> tuple[int, str, str]:
    """Deterministic: by start (never-started jobs last), then name, then id."""
    return (node.started_ms if node.started_ms is not None else 2**62, node.name, node.id_part)


def _workflow_url(project: Project, pipeline_number: str, workflow_id: str) -> str:
    vcs, org, name = project.slug.split("/")
    number = pipeline_number or "0"
    return (
        f"{project.app_url}/pipelines/{_APP_VCS[vcs]}/{org}/{name}/{number}/workflows/{workflow_id}"
    )


def _text(item: Mapping[str, Any], field: str, what: str = "workflow") -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadItem(f"{what} has no {field}")
    return value


def _object(item: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = item.get(field)
    return value if isinstance(value, dict) else {}


def _optional_text(item: Mapping[str, Any], field: str) -> str:
    value = item.get(field)
    return value if isinstance(value, str) else ""
