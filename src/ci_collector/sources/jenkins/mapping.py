"""Jenkins JSON -> run tree. Pure functions: no I/O, so every real recording can test them.

Inputs are one build from the ``allBuilds`` list (with its actions), the build's Stage
View ``wfapi/describe`` (Pipeline only) and, for builds whose stages ran in parallel,
Blue Ocean's node graph. Anything malformed raises `MalformedBuild`, which the
collector turns into a warning that names the build. Readers of a build's actions live
in `actions`, the stage tree in `stages`; both are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ...model import ExternalParent, Node, Repo, Run
from .actions import (
    CONCLUSIONS,
    PR_BRANCH,
    Checkout,
    MalformedBuild,
    Upstream,
    app_checkout,
    causes,
    checkouts,
    conclusion_of,
    is_branch_build,
    parameters,
    project_url_repo,
    read_actions,
    read_int,
    read_str,
    short_branch,
    trigger_of,
    upstream_of,
)
from .identity import server_identity
from .stages import ran_in_parallel, stage_nodes

__all__ = [
    "CONCLUSIONS",
    "BuildContext",
    "Checkout",
    "MalformedBuild",
    "Upstream",
    "app_checkout",
    "build_number",
    "causes",
    "checkouts",
    "conclusion_of",
    "is_branch_build",
    "is_finished",
    "is_pipeline",
    "map_build",
    "natural_key",
    "project_url_repo",
    "ran_in_parallel",
    "server_identity",
    "stage_nodes",
    "trigger_of",
]

PLATFORM = "jenkins"


def natural_key(host: str, job_path: str, number: int) -> str:
    return f"{host}/{job_path}/{number}"


# ---- the build -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What the collector knows around one build: server, job, and the chosen repo."""

    host: str
    job_path: str
    repo: Repo
    source: str
    branch_job: bool = False


def is_pipeline(build: dict[str, Any]) -> bool:
    return str(build.get("_class", "")).endswith("WorkflowRun")


def build_number(build: Any) -> int:
    if not isinstance(build, dict):
        raise MalformedBuild("a build entry is not an object")
    number = read_int(build.get("number"))
    if number is None or number < 0:
        raise MalformedBuild("a build entry has no build number")
    return number


def is_finished(build: dict[str, Any]) -> bool:
    return build.get("building") is not True and isinstance(build.get("result"), str)


def map_build(
    build: dict[str, Any],
    context: BuildContext,
    describe: Any = None,
    blue_nodes: Any = None,
) -> Run:
    """One finished build -> its run tree (root, stages, parallel branches)."""
    number = build_number(build)
    name = f"{context.job_path} #{number}"
    started = read_int(build.get("timestamp"))
    duration = read_int(build.get("duration"))
    if started is None or duration is None:
        raise MalformedBuild(f"{name}: timestamp or duration missing")
    result = read_str(build.get("result")) or None
    url = read_str(build.get("url"))
    found = causes(build)
    params = parameters(build)
    tags: dict[str, str | int] = {
        "url": url,
        "run_number": str(number),
        "build": str(number),
        "job": context.job_path,
        "trigger": trigger_of(found),
    }
    branch_job = context.branch_job or is_branch_build(build)
    own = app_checkout(build)
    leaf = unquote(context.job_path.rsplit("/", 1)[-1])
    branch = (
        params.get("BRANCH_NAME")
        or (leaf if branch_job else "")
        or (short_branch(own.branch) if own else "")
    )
    tags["branch"] = branch
    tags["sha"] = own.sha if own else ""
    pr_match = PR_BRANCH.match(leaf) if branch_job else None
    tags["pr_number"] = params.get("CHANGE_ID") or (pr_match.group(1) if pr_match else "")
    actor = next((read_str(c.get("userId")) for c in found if read_str(c.get("userId"))), "")
    tags["actor"] = actor
    tags["runner"] = read_str(build.get("builtOn"))
    metrics: dict[str, int | float] = {}
    for action in read_actions(build, "queuingDurationMillis"):
        queue = read_int(action["queuingDurationMillis"])
        if queue is not None:
            metrics["queue_ms"] = queue
    build_name = read_str(build.get("displayName"))
    tags["build_name"] = build_name or f"#{number}"
    upstream = upstream_of(found)
    parent: ExternalParent | None = None
    if upstream is not None:
        tags["upstream_job"] = upstream.job
        tags["upstream_build"] = str(upstream.build)
        parent = ExternalParent(
            natural_key=natural_key(context.host, upstream.job, upstream.build),
            sequence_key=upstream.job,
            chain_natural_key=natural_key(context.host, upstream.top_job, upstream.top_build),
        )
    children: list[Node] = []
    pipeline = is_pipeline(build)
    if describe is not None:
        children, pause = stage_nodes(describe, blue_nodes, url, name)
        metrics["pause_ms"] = pause or 0
    root = Node(
        kind="pipeline" if pipeline else "job",
        name=job_display_name(build, context.job_path, number),
        id_part="",
        key_part=context.job_path,
        started_ms=started if started > 0 else None,
        finished_ms=started + max(duration, 0) if started > 0 else None,
        conclusion=conclusion_of(result),
        result=result,
        tags=tags,
        metrics=metrics,
        children=children,
        sequence_tags={"job": context.job_path, "job_url": job_url(url, number)},
    )
    return Run(
        platform=PLATFORM,
        repo=context.repo,
        natural_key=natural_key(context.host, context.job_path, number),
        root=root,
        source=context.source,
        fingerprint=f"{result}:{duration}",
        external_parent=parent,
    )


def job_display_name(build: dict[str, Any], job_path: str, number: int) -> str:
    """The *job's* full display name (``team » app``), the same for every build.

    Jenkins writes a build's ``fullDisplayName`` as the job's full display name, a
    space, and the build's display name (``#41``, or what ``currentBuild.displayName``
    set), so the job's is what precedes that suffix; otherwise the job path, Jenkins-style.
    """
    full = read_str(build.get("fullDisplayName"))
    own = read_str(build.get("displayName")) or f"#{number}"
    if full.endswith(f" {own}") and len(full) > len(own) + 1:
        return full[: -len(own) - 1]
    return " » ".join(unquote(segment) for segment in job_path.split("/") if segment)


def job_url(build_url: str, number: int) -> str:
    """The job's page (what Trunk's own plugin puts on the sequence): the build URL's parent."""
    suffix = f"/{number}/"
    if build_url.endswith(suffix):
        return build_url[: -len(suffix) + 1]
    return ""
