"""Jenkins stages -> run-tree nodes: Stage View's flat list, Blue Ocean's parallel graph.

Stage View (``wfapi/describe``) gives raw status words, pauses and agents; Blue Ocean's
node graph, fetched only when stages overlapped, gives the nesting of parallel branches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...model import Node
from ...times import iso_to_ms
from .actions import MalformedBuild, conclusion_of, read_dicts, read_int, read_str


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
        start = read_int(item.get("startTimeMillis"))
        stages.append(
            _Stage(
                id=node_id,
                name=read_str(item.get("name")) or node_id,
                status=read_str(item.get("status")) or None,
                start=start if start else None,  # NOT_EXECUTED stages say 0 (1970)
                duration=read_int(item.get("durationMillis")),
                pause=read_int(item.get("pauseDurationMillis")),
                agent=read_str(item.get("execNode")),
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
        start, duration = (
            read_int(item.get("startTimeMillis")),
            read_int(item.get("durationMillis")),
        )
        if not start or duration is None:
            continue
        if latest_end is not None and start < latest_end:
            return True
        end = start + max(duration, 0)
        latest_end = end if latest_end is None else max(latest_end, end)
    return False


def _blue_stage(node: dict[str, Any], kind: str) -> _Stage:
    result, state = read_str(node.get("result")), read_str(node.get("state"))
    status = result if result and result != "UNKNOWN" else state or None
    if state in {"SKIPPED", "NOT_BUILT"}:
        status = state
    return _Stage(
        id=str(node.get("id")),
        name=read_str(node.get("displayName")) or str(node.get("id")),
        kind=kind,
        status=status,
        start=iso_to_ms(node.get("startTime")),
        duration=read_int(node.get("durationInMillis")),
    )


def _blue_tree(nodes: Any, build_name: str) -> list[_Stage]:
    """Blue Ocean's node graph -> nested stages, parallel branches as their own nodes.

    In the graph a stage's ``edges`` lead to the next stage, or fan out to its parallel
    branches (``type: PARALLEL`` where Blue Ocean says so); each branch's chain of edges
    holds its nested stages until the chains meet again.
    """
    items = read_dicts(nodes)
    if not isinstance(nodes, list) or len(items) != len(nodes):
        raise MalformedBuild(f"{build_name}: Blue Ocean nodes is not a list of objects")
    by_id = {str(item.get("id")): item for item in items}
    edges = {
        key: [
            str(edge.get("id"))
            for edge in read_dicts(item.get("edges"))
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
        return len(outs) > 1 or any(read_str(by_id[out].get("type")) == "PARALLEL" for out in outs)

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
    pause = read_int(describe.get("pauseDurationMillis"))
    stage_pause = sum(stage.pause or 0 for stage in flat)
    total = max(pause or 0, stage_pause)
    return [_stage_node(stage, build_url) for stage in stages], total
