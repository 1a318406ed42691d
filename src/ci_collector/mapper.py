"""Run tree -> Trunk event chain. Pure: no I/O, no clock, no randomness.

The same `Run` always yields byte-identical events, which is what makes retries,
re-polls and resumed backfills safe: a re-send carries the same ids and overwrites
nothing but itself.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass

from .model import Conclusion, Node, Run
from .trunk import (
    MAX_RUN_SPAN_MS,
    MAX_SEQUENCE_KEY,
    PLAUSIBLE_FROM_MS,
    PLAUSIBLE_UNTIL_MS,
    EventDict,
    KeyValueDict,
    ParentDict,
    SequenceDict,
)

EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/ci-collector/events")
"""Fixed namespace for every event id: changing it would re-identify all history."""

REPAIRED_TAG = "timestamps_repaired"

CHAIN_TAGS = ("branch", "sha", "pr_number", "trigger", "vcs_tag", "actor")
"""Root tags users filter by: every event of the chain carries them, so a job, stage or
step chart filters by branch as the run chart does (an event's own tag wins)."""


class MappingError(ValueError):
    """A run that cannot be expressed as a valid chain (the caller skips it, with a warning)."""


_NAMESPACED = hashlib.sha1(EVENT_NAMESPACE.bytes, usedforsecurity=False)
"""SHA-1 with the namespace already fed: each id copies it and adds its key."""
_namespaced_copy = _NAMESPACED.copy
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_CONCLUSION_TEXT = {conclusion: conclusion.value for conclusion in Conclusion}
"""`Enum.value` goes through a descriptor: a dict is faster, once per event."""


def event_id(natural_key: str) -> str:
    """The deterministic event id of a natural key (UUIDv5).

    Exactly ``str(uuid.uuid5(EVENT_NAMESPACE, natural_key))``, without building a `UUID`
    object: called once per event, this was a fifth of the mapper's time.
    """
    digest = _namespaced_copy()
    digest.update(natural_key.encode())
    text = digest.hexdigest()
    # version 5 replaces the 13th hex digit; the RFC 4122 variant sets the 17th's top bits
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"


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
    chain_id = event_id(run.natural_key)
    parent: ParentDict | None = None
    if run.external_parent is not None:
        chain_id = event_id(run.external_parent.chain_natural_key)
        parent = {
            "eventId": event_id(run.external_parent.natural_key),
            "sequenceKey": fit_sequence_key(run.external_parent.sequence_key),
        }
    chain_tags: list[KeyValueDict] = [
        {"k": k, "v": root.tags[k]} for k in CHAIN_TAGS if root.tags.get(k, "") != ""
    ]
    context = _Context(run.platform, chain_id, chain_tags, plausible_window(root), [], set())
    root_key = _clean_part(root.key_part, root.kind)
    _emit(context, [root], [run.natural_key], [root_key], parent, None, None)
    return context.out


@dataclass(slots=True)
class _Context:
    """What every event of one chain shares while it is being emitted."""

    platform: str
    chain_id: str
    chain_tags: list[KeyValueDict]
    window: tuple[int, int]
    out: list[EventDict]
    taken: set[str]


def _emit(
    context: _Context,
    nodes: list[Node],
    natural_keys: list[str],
    full_keys: list[str],
    parent: ParentDict | None,
    low: int | None,
    high: int | None,
) -> None:
    """Append each sibling's event, each followed by its children's (depth first).

    `low`..`high` is the parent's span. One call per family, not per event, and the
    usual case of each helper (plausible times inside the parent's span, a unique short
    key, no metrics, no tags of its own) is inline: this loop is most of the mapper."""
    taken, window, out = context.taken, context.window, context.out
    first, last = window[0], window[1] - 1
    if low is not None and high is not None:
        first, last = max(low, first), min(high, last)
    for node, natural_key, full_key in zip(nodes, natural_keys, full_keys, strict=True):
        start, finish = node.started_ms, node.finished_ms
        if start is not None and finish is not None and first <= start <= finish <= last:
            repaired = False
        else:
            start, finish, repaired = _repair_times(node, low, high, window)
        if len(full_key) <= MAX_SEQUENCE_KEY and full_key not in taken:
            taken.add(full_key)
            sequence_key = full_key
        else:
            full_key, sequence_key = _claim_key(full_key, taken)
        sequence: SequenceDict = {
            "platform": context.platform,
            "kind": node.kind,
            "key": sequence_key,
            "name": node.name or node.key_part or node.kind,
        }
        if node.sequence_tags:
            sequence["payload"] = {
                "tags": [{"k": k, "v": v} for k, v in node.sequence_tags.items() if v != ""]
            }
        if node.metrics:
            metrics = _metrics(node, finish - start)
        else:
            metrics = [{"k": "duration_ms", "v": finish - start}]
        if node.tags or repaired:
            tags = _tags(node, repaired, context.chain_tags)
        else:
            tags = list(context.chain_tags)
            if node.result is not None:
                tags.append({"k": "result", "v": node.result})
        node_id = event_id(natural_key)
        event: EventDict = {
            "id": node_id,
            "chainId": context.chain_id,
            "createdAt": start,
            "finishedAt": finish,
            "payload": {"metrics": metrics, "tags": tags},
            "sequence": sequence,
        }
        if parent is not None:
            event["parent"] = parent
        event["conclusion"] = _CONCLUSION_TEXT[node.conclusion or conclusion_of(node, window)]
        out.append(event)
        children = node.children
        if children:
            _emit(
                context,
                children,
                [f"{natural_key}/{part}" for part in _unique_id_parts(children)],
                [f"{full_key}/{part}" for part in _unique_key_parts(children)],
                {"eventId": node_id, "sequenceKey": sequence_key},
                start,
                finish,
            )


def conclusion_of(node: Node, window: tuple[int, int] | None = None) -> Conclusion:
    """The node's conclusion; a finished thing without one (a step whose job ended while it
    still said ``in_progress``, an unknown word) was cut off if it started, else skipped."""
    if node.conclusion is not None:
        return node.conclusion
    started = _known(node.started_ms, window or (PLAUSIBLE_FROM_MS, PLAUSIBLE_UNTIL_MS))
    return Conclusion.SKIPPED if started is None else Conclusion.CANCELLED


def _unique_id_parts(children: list[Node]) -> list[str]:
    """Siblings sharing an id part (two steps numbered 3) get ``#2``, ``#3``: one id, one event.

    The first keeps its plain id part, so ids already sent do not change.
    """
    return _numbered([child.id_part for child in children], "#")


def _numbered(parts: list[str], mark: str) -> list[str]:
    """`parts`, each repeat of a part suffixed `mark` and its count (2, 3...) in order."""
    if len(set(parts)) == len(parts):  # the usual case: nothing repeats
        return parts
    seen: dict[str, int] = {}
    numbered: list[str] = []
    for part in parts:
        count = seen.get(part, 0) + 1
        seen[part] = count
        numbered.append(part if count == 1 else f"{part}{mark}{count}")
    return numbered


def _claim_key(full_key: str, taken: set[str]) -> tuple[str, str]:
    """A key no other node of this run has: ``#n`` when names collide across levels.

    Sibling numbering covers the usual case; this catches the rest: a sibling literally
    named ``a #2``, or a job ``build/linux`` next to a job ``build`` with a step ``linux``.
    Returns the (unshortened) key children build on, and the key to send.
    """
    if len(full_key) <= MAX_SEQUENCE_KEY and full_key not in taken:  # the usual case
        taken.add(full_key)
        return full_key, full_key
    candidate, number = full_key, 1
    while (key := fit_sequence_key(candidate)) in taken:
        number += 1
        candidate = f"{full_key} #{number}"
    taken.add(key)
    return candidate, key


def _unique_key_parts(children: list[Node]) -> list[str]:
    """Siblings sharing a name (two ``checkout`` steps) get ``#2``, ``#3`` in order."""
    return _numbered([_clean_part(child.key_part, child.kind) for child in children], " #")


def _clean_part(key_part: str, kind: str) -> str:
    """One line, no edge blanks, never empty (an empty key would make Trunk refuse the body)."""
    return key_part.replace("\n", " ").strip() or kind


def _metrics(node: Node, duration_ms: int) -> list[KeyValueDict]:
    metrics: list[KeyValueDict] = [{"k": "duration_ms", "v": duration_ms}]
    if not node.metrics:
        return metrics
    for name, value in node.metrics.items():
        if name == "duration_ms" or isinstance(value, bool):
            continue
        if not math.isfinite(value) or (name.endswith("_ms") and value < 0):
            continue  # a negative wait is a platform artefact, never a measurement
        metrics.append({"k": name, "v": value})
    return metrics


def _tags(node: Node, repaired: bool, chain_tags: list[KeyValueDict]) -> list[KeyValueDict]:
    if node.tags:
        tags: list[KeyValueDict] = [{"k": k, "v": v} for k, v in node.tags.items() if v != ""]
        tags.extend(tag for tag in chain_tags if tag["k"] not in node.tags)
    else:
        tags = list(chain_tags)
    if node.result is not None and "result" not in node.tags:
        tags.append({"k": "result", "v": node.result})
    if repaired:
        tags.append({"k": REPAIRED_TAG, "v": "true"})
    return tags


def plausible_window(root: Node) -> tuple[int, int]:
    """The times a run can have: inside `PLAUSIBLE_FROM_MS`..`PLAUSIBLE_UNTIL_MS`, and within
    `MAX_RUN_SPAN_MS` of the run's typical time (the lower median of all its times).

    A platform that says a job "completed" in year 9999, or a run "started" in 1999,
    is wrong about that one time; the median of the tree's times is not.
    """
    values = _all_times(root)
    values.sort()
    if not values:
        return PLAUSIBLE_FROM_MS, PLAUSIBLE_UNTIL_MS
    middle = values[(len(values) - 1) // 2]
    return (
        max(PLAUSIBLE_FROM_MS, middle - MAX_RUN_SPAN_MS),
        min(PLAUSIBLE_UNTIL_MS, middle + MAX_RUN_SPAN_MS),
    )


def _all_times(root: Node) -> list[int]:
    """Every time in the tree inside the absolute bounds (level by level: this runs per run)."""
    low, high = PLAUSIBLE_FROM_MS, PLAUSIBLE_UNTIL_MS
    found: list[int] = []
    level = [root]
    while level:
        found += [
            time
            for node in level
            for time in (node.started_ms, node.finished_ms)
            if time is not None and low <= time < high
        ]
        level = [child for node in level for child in node.children]
    return found


def _known(value: int | None, window: tuple[int, int]) -> int | None:
    """Platforms send 0 (1970) or negatives for "never started", and sometimes nonsense:
    anything outside the run's plausible window is treated as unknown."""
    return value if value is not None and window[0] <= value < window[1] else None


def _subtree_span(node: Node, window: tuple[int, int]) -> tuple[int | None, int | None]:
    first: int | None = None
    last: int | None = None
    for child in node.children:
        for value in (
            _known(child.started_ms, window),
            _known(child.finished_ms, window),
            *_subtree_span(child, window),
        ):
            if value is None:
                continue
            first = value if first is None or value < first else first
            last = value if last is None or value > last else last
    return first, last


def _repair_times(
    node: Node, low: int | None, high: int | None, window: tuple[int, int]
) -> tuple[int, int, bool]:
    """Times a node can be sent with: plausible, known, ordered, inside its parent's span.

    Returns ``(start, finish, repaired)``; a missing or implausible time is borrowed from
    the node's children, then from its other end, then from its parent's start.
    """
    start, finish = node.started_ms, node.finished_ms
    if (
        start is not None
        and finish is not None
        and window[0] <= start <= finish < window[1]
        and (low is None or high is None or (low <= start and finish <= high))
    ):
        return start, finish, False  # the usual case: known, plausible, ordered, inside
    start, finish = _known(start, window), _known(finish, window)
    repaired = _implausible(node.started_ms, window) or _implausible(node.finished_ms, window)
    if start is None or finish is None:
        repaired = True
        first, last = _subtree_span(node, window)
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


def _implausible(value: int | None, window: tuple[int, int]) -> bool:
    """A time that was given but cannot be right (0 and negatives mean "never": not that)."""
    return value is not None and value > 0 and _known(value, window) is None
