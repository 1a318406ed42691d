"""Jenkins JSON -> run tree. Pure functions: no I/O, so every real recording can test them.

Inputs are one build from the ``allBuilds`` list (with its actions), the build's Stage
View ``wfapi/describe`` (Pipeline only) and, for builds whose stages ran in parallel,
Blue Ocean's node graph. Anything malformed raises `MalformedBuild`, which the
collector turns into a warning that names the build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ...mapper import event_id, fit_sequence_key
from ...model import Conclusion, ExternalParent, Node, Repo, Run
from ...times import iso_to_ms
from ..repos import parse_remote

PLATFORM = "jenkins"

CONCLUSIONS: dict[str, Conclusion] = {
    "SUCCESS": Conclusion.SUCCESS,
    "FAILURE": Conclusion.FAILURE,
    "FAILED": Conclusion.FAILURE,
    "UNSTABLE": Conclusion.FAILURE,
    "ABORTED": Conclusion.CANCELLED,
    "NOT_BUILT": Conclusion.SKIPPED,
    "NOT_BUILD": Conclusion.SKIPPED,
    "NOT_EXECUTED": Conclusion.SKIPPED,
    "SKIPPED": Conclusion.SKIPPED,
}
"""Build results and Stage View / Blue Ocean statuses; other words (IN_PROGRESS...) map to none."""

_LIBRARY_NAME = re.compile(
    r"(^|[-_.])(pipeline|shared|jenkins|ci)[-_.]?lib(rary|s)?($|[-_.])|"
    r"[-_.]lib(rary)?$",
    re.IGNORECASE,
)
_PR_BRANCH = re.compile(r"^(?:PR|MR)-(\d+)$")


class MalformedBuild(ValueError):
    """A build whose JSON is not what Jenkins sends; the collector skips it."""


# ---- small readers that never trust the input ----------------------------------------


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _actions(build: dict[str, Any], having: str) -> list[dict[str, Any]]:
    return [action for action in _dicts(build.get("actions")) if having in action]


def conclusion_of(word: str | None) -> Conclusion | None:
    return CONCLUSIONS.get(word.upper()) if word else None


# ---- what a build says about itself --------------------------------------------------


def causes(build: dict[str, Any]) -> list[dict[str, Any]]:
    return [cause for action in _actions(build, "causes") for cause in _dicts(action["causes"])]


def parameters(build: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for action in _actions(build, "parameters"):
        for parameter in _dicts(action["parameters"]):
            name, value = parameter.get("name"), parameter.get("value")
            if (
                isinstance(name, str)
                and isinstance(value, (str, int))
                and not isinstance(value, bool)
            ):
                values.setdefault(name, str(value))
    return values


def trigger_of(found: list[dict[str, Any]]) -> str:
    """Why the build ran, in DESIGN's words; a replay is a user action but says so."""
    kinds = [str(cause.get("_class", "")) for cause in found]
    if any(kind.endswith("ReplayCause") for kind in kinds):
        return "replay"
    if any("upstreamProject" in cause for cause in found):
        return "upstream"
    if any(kind.endswith(("UserIdCause", "UserCause")) for kind in kinds) or any(
        "userName" in cause for cause in found
    ):
        return "user"
    if any(kind.endswith("TimerTriggerCause") for kind in kinds):
        return "timer"
    if any(kind.endswith("BranchIndexingCause") for kind in kinds):
        return "branch_indexing"
    if any(
        kind.endswith(("SCMTriggerCause", "BranchEventCause", "GitHubPushCause")) for kind in kinds
    ):
        return "scm"
    if any(kind.endswith("RemoteCause") for kind in kinds):
        return "remote"
    return kinds[0].rsplit("$", 1)[-1].rsplit(".", 1)[-1] if kinds and kinds[0] else ""


@dataclass(frozen=True, slots=True)
class Checkout:
    """One git `BuildData`: what a build checked out, and from where."""

    repo: Repo | None
    sha: str
    branch: str


def checkouts(build: dict[str, Any]) -> list[Checkout]:
    found: list[Checkout] = []
    for action in _actions(build, "remoteUrls"):
        urls = (
            [url for url in action["remoteUrls"] if isinstance(url, str)]
            if isinstance(action["remoteUrls"], list)
            else []
        )
        repo = next((r for r in map(parse_remote, urls) if r is not None), None)
        revision = action.get("lastBuiltRevision")
        revision = revision if isinstance(revision, dict) else {}
        branches = _dicts(revision.get("branch"))
        found.append(
            Checkout(
                repo, _str(revision.get("SHA1")), _str(branches[0].get("name")) if branches else ""
            )
        )
    return found


def library_names(build: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for action in _actions(build, "libraries"):
        for library in _dicts(action["libraries"]):
            names.add(_str(library.get("name")).lower())
    return names - {""}


def is_library(checkout: Checkout, libraries: set[str]) -> bool:
    if checkout.repo is None:
        return False
    name = checkout.repo.name.lower()
    return name in libraries or bool(_LIBRARY_NAME.search(name))


def app_checkout(build: dict[str, Any]) -> Checkout | None:
    """The project's own checkout among the build's `BuildData` entries.

    Rule: drop shared-library checkouts (a repository named like a library the build
    loaded, or named ``*-library``/``*-lib``/``pipeline-lib*``...); of the rest, the
    first in action order is the project's (Jenkins records the Jenkinsfile's
    ``checkout scm`` before any later helper checkout). If only libraries were checked
    out, none is the project's.
    """
    libraries = library_names(build)
    candidates = [c for c in checkouts(build) if c.repo is not None]
    own = [c for c in candidates if not is_library(c, libraries)]
    return own[0] if own else None


def project_url_repo(job: dict[str, Any]) -> Repo | None:
    """The GitHub project property (``projectUrl``) of a job, when set."""
    for prop in _dicts(job.get("property")):
        url = prop.get("projectUrl")
        if isinstance(url, str) and url:
            repo = parse_remote(url)
            if repo is not None:
                return repo
    return None


def is_branch_build(build: dict[str, Any]) -> bool:
    """Multibranch builds carry `SCMRevisionAction`: the job's name is then the branch."""
    return any(
        str(action.get("_class", "")).endswith("SCMRevisionAction")
        for action in _dicts(build.get("actions"))
    )


def _short_branch(ref: str) -> str:
    for prefix in ("refs/remotes/origin/", "refs/heads/", "origin/", "remotes/origin/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


# ---- upstream links ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upstream:
    job: str
    build: int
    top_job: str
    top_build: int


def upstream_of(found: list[dict[str, Any]]) -> Upstream | None:
    """The direct upstream build and the top-most one, following nested upstream causes."""
    for cause in found:
        direct = _upstream_pair(cause)
        if direct is None:
            continue
        top, current = direct, cause
        for _ in range(50):  # chains of triggers are short; a loop in the data is not
            nested = next(
                (c for c in _dicts(current.get("upstreamCauses")) if _upstream_pair(c)), None
            )
            if nested is None:
                break
            pair = _upstream_pair(nested)
            assert pair is not None
            top, current = pair, nested
        return Upstream(direct[0], direct[1], top[0], top[1])
    return None


def _upstream_pair(cause: dict[str, Any]) -> tuple[str, int] | None:
    project, number = cause.get("upstreamProject"), _int(cause.get("upstreamBuild"))
    if isinstance(project, str) and project and number is not None:
        return project.strip("/"), number
    return None


def natural_key(host: str, job_path: str, number: int) -> str:
    return f"{host}/{job_path}/{number}"


# ---- stages --------------------------------------------------------------------------


@dataclass(slots=True)
class _Stage:
    id: str
    name: str
    kind: str = "stage"
    status: str | None = None
    start: int | None = None
    duration: int | None = None
    pause: int | None = None
    agent: str = ""
    children: list[_Stage] = field(default_factory=list)


def _wfapi_stages(describe: Any, build_name: str) -> list[_Stage]:
    if not isinstance(describe, dict):
        raise MalformedBuild(f"{build_name}: wfapi/describe is not an object")
    raw = describe.get("stages", [])
    if not isinstance(raw, list):
        raise MalformedBuild(f"{build_name}: wfapi/describe stages is not a list")
    stages: list[_Stage] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise MalformedBuild(f"{build_name}: a stage is not an object")
        # Stage View always sends the flow-node id; trimmed bodies fall back to position
        node_id = str(item["id"]) if isinstance(item.get("id"), (str, int)) else f"at-{index}"
        start = _int(item.get("startTimeMillis"))
        stages.append(
            _Stage(
                id=node_id,
                name=_str(item.get("name")) or node_id,
                status=_str(item.get("status")) or None,
                start=start if start else None,  # NOT_EXECUTED stages say 0 (1970)
                duration=_int(item.get("durationMillis")),
                pause=_int(item.get("pauseDurationMillis")),
                agent=_str(item.get("execNode")),
            )
        )
    return stages


def ran_in_parallel(describe: Any) -> bool:
    """True when Stage View's flat stages overlap in time: only then is the graph needed."""
    if not isinstance(describe, dict) or not isinstance(describe.get("stages"), list):
        return False
    latest_end: int | None = None
    for item in describe["stages"]:
        if not isinstance(item, dict):
            continue
        start, duration = _int(item.get("startTimeMillis")), _int(item.get("durationMillis"))
        if not start or duration is None:
            continue
        if latest_end is not None and start < latest_end:
            return True
        end = start + max(duration, 0)
        latest_end = end if latest_end is None else max(latest_end, end)
    return False


def _blue_stage(node: dict[str, Any], kind: str) -> _Stage:
    result, state = _str(node.get("result")), _str(node.get("state"))
    status = result if result and result != "UNKNOWN" else state or None
    if state in {"SKIPPED", "NOT_BUILT"}:
        status = state
    return _Stage(
        id=str(node.get("id")),
        name=_str(node.get("displayName")) or str(node.get("id")),
        kind=kind,
        status=status,
        start=iso_to_ms(node.get("startTime")),
        duration=_int(node.get("durationInMillis")),
    )


def _blue_tree(nodes: Any, build_name: str) -> list[_Stage]:
    """Blue Ocean's node graph -> nested stages, parallel branches as their own nodes.

    In the graph a stage's ``edges`` lead to the next stage, or fan out to its parallel
    branches (``type: PARALLEL`` where Blue Ocean says so); each branch's chain of edges
    holds its nested stages until the chains meet again.
    """
    items = _dicts(nodes)
    if not isinstance(nodes, list) or len(items) != len(nodes):
        raise MalformedBuild(f"{build_name}: Blue Ocean nodes is not a list of objects")
    by_id = {str(item.get("id")): item for item in items}
    edges = {
        key: [
            str(edge.get("id"))
            for edge in _dicts(item.get("edges"))
            if str(edge.get("id")) in by_id
        ]
        for key, item in by_id.items()
    }
    targets = {target for outs in edges.values() for target in outs}
    starts = [key for key in by_id if key not in targets]
    placed: set[str] = set()

    def reachable(start: str) -> list[str]:
        order, stack, seen = [], [start], set()
        while stack:
            current = stack.pop(0)
            if current in seen:
                continue
            seen.add(current)
            order.append(current)
            stack.extend(edges[current])
        return order

    def join_of(branches: list[str]) -> str | None:
        others = [set(reachable(branch)) for branch in branches[1:]]
        for candidate in reachable(branches[0]):
            if candidate not in branches and all(candidate in seen for seen in others):
                return candidate
        return None

    def is_fan_out(key: str) -> bool:
        outs = edges[key]
        return len(outs) > 1 or any(_str(by_id[out].get("type")) == "PARALLEL" for out in outs)

    def sequence(start: str | None, stop: str | None) -> list[_Stage]:
        out: list[_Stage] = []
        current = start
        while current is not None and current != stop and current not in placed:
            placed.add(current)
            stage = _blue_stage(by_id[current], "stage")
            out.append(stage)
            outs = edges[current]
            if is_fan_out(current):
                join = join_of(outs) if len(outs) > 1 else None
                for branch_id in outs:
                    if branch_id in placed:
                        continue
                    placed.add(branch_id)
                    branch = _blue_stage(by_id[branch_id], "parallel")
                    follow = [o for o in edges[branch_id] if o != join]
                    branch.children = sequence(follow[0], join) if follow else []
                    stage.children.append(branch)
                current = join
            else:
                current = outs[0] if outs else None
        return out

    tree: list[_Stage] = []
    for start in starts:
        tree.extend(sequence(start, None))
    for key in by_id:  # anything the walk could not reach (a cycle) is kept, flat
        if key not in placed:
            placed.add(key)
            tree.append(_blue_stage(by_id[key], "stage"))
    return tree


def _merge(tree: list[_Stage], flat: list[_Stage]) -> list[_Stage]:
    """Blue Ocean's shape with Stage View's facts (raw status words, pauses, agents).

    Stages match by flow-node id; a Declarative parallel branch is also a stage of the
    same name inside the branch, matched by name. Stage View stages the graph lacks
    are kept at the top level.
    """
    by_id = {stage.id: stage for stage in flat}
    in_graph: set[str] = set()
    used: set[str] = set()

    def ids(nodes: Iterable[_Stage]) -> None:
        for node in nodes:
            in_graph.add(node.id)
            ids(node.children)

    def visit(nodes: Iterable[_Stage]) -> None:
        for node in nodes:
            match = by_id.get(node.id)
            if match is None or match.id in used:
                match = next(
                    (
                        s
                        for s in flat
                        if s.id not in used and s.id not in in_graph and s.name == node.name
                    ),
                    None,
                )
            if match is not None:
                used.add(match.id)
                node.status = match.status or node.status
                node.start = match.start if match.start else node.start
                node.duration = match.duration if match.duration is not None else node.duration
                node.pause, node.agent = match.pause, match.agent
            visit(node.children)

    ids(tree)
    visit(tree)
    return tree + [stage for stage in flat if stage.id not in used]


def _stage_node(stage: _Stage, build_url: str) -> Node:
    finished = (
        stage.start + max(stage.duration, 0)
        if (stage.start is not None and stage.duration is not None)
        else None
    )
    tags: dict[str, str | int] = {}
    if build_url and not stage.id.endswith("-synthetic"):
        tags["url"] = f"{build_url}execution/node/{stage.id}/"
    if stage.agent:
        tags["runner"] = stage.agent
    metrics: dict[str, int | float] = {}
    if stage.pause is not None:
        metrics["pause_ms"] = stage.pause
    return Node(
        kind=stage.kind,
        name=stage.name,
        id_part=f"stages/{stage.id}",
        key_part=stage.name,
        started_ms=stage.start,
        finished_ms=finished,
        conclusion=conclusion_of(stage.status),
        result=stage.status,
        tags=tags,
        metrics=metrics,
        children=[_stage_node(child, build_url) for child in stage.children],
    )


def stage_nodes(
    describe: Any, blue_nodes: Any, build_url: str, build_name: str
) -> tuple[list[Node], int | None]:
    """The build's stage subtree and its total input wait (``pause_ms``)."""
    flat = _wfapi_stages(describe, build_name)
    stages = _merge(_blue_tree(blue_nodes, build_name), flat) if blue_nodes else flat
    assert isinstance(describe, dict)
    pause = _int(describe.get("pauseDurationMillis"))
    stage_pause = sum(stage.pause or 0 for stage in flat)
    total = max(pause or 0, stage_pause)
    return [_stage_node(stage, build_url) for stage in stages], total


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
    number = _int(build.get("number"))
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
    started = _int(build.get("timestamp"))
    duration = _int(build.get("duration"))
    if started is None or duration is None:
        raise MalformedBuild(f"{name}: timestamp or duration missing")
    result = _str(build.get("result")) or None
    url = _str(build.get("url"))
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
        or (_short_branch(own.branch) if own else "")
    )
    tags["branch"] = branch
    tags["sha"] = own.sha if own else ""
    pr_match = _PR_BRANCH.match(leaf) if branch_job else None
    tags["pr_number"] = params.get("CHANGE_ID") or (pr_match.group(1) if pr_match else "")
    actor = next((_str(c.get("userId")) for c in found if _str(c.get("userId"))), "")
    tags["actor"] = actor
    tags["runner"] = _str(build.get("builtOn"))
    metrics: dict[str, int | float] = {}
    for action in _actions(build, "queuingDurationMillis"):
        queue = _int(action["queuingDurationMillis"])
        if queue is not None:
            metrics["queue_ms"] = queue
    upstream = upstream_of(found)
    parent: ExternalParent | None = None
    if upstream is not None:
        tags["upstream_job"] = upstream.job
        tags["upstream_build"] = str(upstream.build)
        parent = ExternalParent(
            event_id=event_id(natural_key(context.host, upstream.job, upstream.build)),
            sequence_key=fit_sequence_key(upstream.job),
            chain_id=event_id(natural_key(context.host, upstream.top_job, upstream.top_build)),
        )
    children: list[Node] = []
    pipeline = is_pipeline(build)
    if describe is not None:
        children, pause = stage_nodes(describe, blue_nodes, url, name)
        metrics["pause_ms"] = pause or 0
    root = Node(
        kind="pipeline" if pipeline else "job",
        name=_str(build.get("fullDisplayName")) or name,
        id_part="",
        key_part=context.job_path,
        started_ms=started if started > 0 else None,
        finished_ms=started + max(duration, 0) if started > 0 else None,
        conclusion=conclusion_of(result),
        result=result,
        tags=tags,
        metrics=metrics,
        children=children,
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
