"""Run tree -> Trunk event chain. Pure: no I/O, no clock, no randomness.

The same `Run` always yields byte-identical events, which is what makes retries,
re-polls and resumed backfills safe: a re-send carries the same ids and overwrites
nothing but itself.
"""

from __future__ import annotations

import hashlib
import math
import uuid

from .model import Node, Run
from .trunk import MAX_SEQUENCE_KEY, EventDict, KeyValueDict, ParentDict

EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/ci-collector/events")
"""Fixed namespace for every event id: changing it would re-identify all history."""

REPAIRED_TAG = "timestamps_repaired"


class MappingError(ValueError):
    """A run that cannot be expressed as a valid chain (the caller skips it, with a warning)."""


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def event_id(natural_key: str) -> str:
    """The deterministic event id of a natural key (UUIDv5).

    Exactly ``str(uuid.uuid5(EVENT_NAMESPACE, natural_key))``, without building a `UUID`
    object: called once per event, this was a fifth of the mapper's time.
    """
    name = _NAMESPACE_BYTES + natural_key.encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def fit_sequence_key(key: str) -> str:
    """Keep a readable key under Trunk's 128-character limit without losing uniqueness.

    Over-long keys keep their readable head and end in ``~`` plus a hash of the whole
    key, so two long keys that share a prefix still differ.
    """
    if len(key) <= MAX_SEQUENCE_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{key[: MAX_SEQUENCE_KEY - len(digest) - 1]}~{digest}"


def map_run(run: Run) -> list[EventDict]:
    """Map one run attempt to its chain, root first, every parent before its children."""
    root = run.root
    start, finish, repaired = _repair_times(root, None, None)
    root_id = event_id(run.natural_key)
    chain_id = run.external_parent.chain_id if run.external_parent else root_id
    parent: ParentDict | None = None
    if run.external_parent is not None:
        parent = {
            "eventId": run.external_parent.event_id,
            "sequenceKey": run.external_parent.sequence_key,
        }
    events: list[EventDict] = []
    _emit(
        run.platform,
        root,
        root_id,
        chain_id,
        parent,
        _clean_part(root.key_part, root.kind),
        run.natural_key,
        start,
        finish,
        repaired,
        events,
        set(),
    )
    return events


def _emit(
    platform: str,
    node: Node,
    node_id: str,
    chain_id: str,
    parent: ParentDict | None,
    full_key: str,
    natural_key: str,
    start: int,
    finish: int,
    repaired: bool,
    out: list[EventDict],
    taken: set[str],
) -> None:
    full_key, sequence_key = _claim_key(full_key, taken)
    event: EventDict = {
        "id": node_id,
        "chainId": chain_id,
        "createdAt": start,
        "finishedAt": finish,
        "payload": {"metrics": _metrics(node, finish - start), "tags": _tags(node, repaired)},
        "sequence": {
            "platform": platform,
            "kind": node.kind,
            "key": sequence_key,
            "name": node.name or node.key_part or node.kind,
        },
    }
    if parent is not None:
        event["parent"] = parent
    if node.conclusion is not None:
        event["conclusion"] = node.conclusion.value
    out.append(event)
    if not node.children:
        return
    child_parent: ParentDict = {"eventId": node_id, "sequenceKey": sequence_key}
    for child, key_part in zip(node.children, _unique_key_parts(node.children), strict=True):
        child_natural = f"{natural_key}/{child.id_part}"
        child_start, child_finish, child_repaired = _repair_times(child, start, finish)
        _emit(
            platform,
            child,
            event_id(child_natural),
            chain_id,
            child_parent,
            f"{full_key}/{key_part}",
            child_natural,
            child_start,
            child_finish,
            child_repaired,
            out,
            taken,
        )


def _claim_key(full_key: str, taken: set[str]) -> tuple[str, str]:
    """A key no other node of this run has: ``#n`` when names collide across levels.

    Sibling numbering covers the usual case; this catches the rest: a sibling literally
    named ``a #2``, or a job ``build/linux`` next to a job ``build`` with a step ``linux``.
    Returns the (unshortened) key children build on, and the key to send.
    """
    candidate, number = full_key, 1
    while (key := fit_sequence_key(candidate)) in taken:
        number += 1
        candidate = f"{full_key} #{number}"
    taken.add(key)
    return candidate, key


def _unique_key_parts(children: list[Node]) -> list[str]:
    """Siblings sharing a name (two ``checkout`` steps) get ``#2``, ``#3`` in order."""
    seen: dict[str, int] = {}
    parts: list[str] = []
    for child in children:
        part = _clean_part(child.key_part, child.kind)
        count = seen.get(part, 0) + 1
        seen[part] = count
        parts.append(part if count == 1 else f"{part} #{count}")
    return parts


def _clean_part(key_part: str, kind: str) -> str:
    """One line, no edge blanks, never empty (an empty key would make Trunk refuse the body)."""
    return key_part.replace("\n", " ").strip() or kind


def _metrics(node: Node, duration_ms: int) -> list[KeyValueDict]:
    metrics: list[KeyValueDict] = [{"k": "duration_ms", "v": duration_ms}]
    for name, value in node.metrics.items():
        if name == "duration_ms" or isinstance(value, bool):
            continue
        if not math.isfinite(value) or (name.endswith("_ms") and value < 0):
            continue  # a negative wait is a platform artefact, never a measurement
        metrics.append({"k": name, "v": value})
    return metrics


def _tags(node: Node, repaired: bool) -> list[KeyValueDict]:
    tags: list[KeyValueDict] = [{"k": k, "v": v} for k, v in node.tags.items() if v != ""]
    if node.result is not None and "result" not in node.tags:
        tags.append({"k": "result", "v": node.result})
    if repaired:
        tags.append({"k": REPAIRED_TAG, "v": "true"})
    return tags


def _known(value: int | None) -> int | None:
    """Platforms send 0 (1970) or negatives for "never started": treat as unknown."""
    return value if value is not None and value > 0 else None


def _subtree_span(node: Node) -> tuple[int | None, int | None]:
    first: int | None = None
    last: int | None = None
    for child in node.children:
        for value in (_known(child.started_ms), _known(child.finished_ms), *_subtree_span(child)):
            if value is None:
                continue
            first = value if first is None or value < first else first
            last = value if last is None or value > last else last
    return first, last


def _repair_times(node: Node, low: int | None, high: int | None) -> tuple[int, int, bool]:
    """Times a node can be sent with: known, ordered, and inside its parent's span.

    Returns ``(start, finish, repaired)``; a missing time is borrowed from the node's
    children, then from its other end, then from its parent's start.
    """
    start, finish = _known(node.started_ms), _known(node.finished_ms)
    repaired = False
    if start is None or finish is None:
        repaired = True
        first, last = _subtree_span(node)
        if start is None:
            start = first if first is not None else finish if finish is not None else low
        if finish is None:
            finish = last if last is not None and (start is None or last >= start) else start
    if start is None or finish is None:
        raise MappingError(f"{node.kind} {node.name!r} has no timestamps at all")
    if finish < start:
        finish, repaired = start, True
    if low is not None and high is not None:
        if start < low or start > high:
            start, repaired = min(max(start, low), high), True
        if finish > high or finish < start:
            finish, repaired = min(max(finish, start), high), True
    return start, finish, repaired
