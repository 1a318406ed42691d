"""Check JSON-lines request bodies against the contract and the chain invariants.

Per body: the pydantic contract of `trunk.py`. Across bodies: one root per chain whose id
is the chainId, every parent sent before its child with a matching sequenceKey, no id
sent twice. A parent outside the file is only a warning: a Jenkins downstream build
links to an upstream that may have been collected in an earlier poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .trunk import body_problems


@dataclass(slots=True)
class Report:
    bodies: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Seen:
    chain_id: str
    key: str
    where: str


def validate_lines(lines: Iterable[str | bytes]) -> Report:
    report = Report()
    seen: dict[str, _Seen] = {}
    roots: dict[str, str] = {}
    dangling: list[tuple[str, str, str]] = []  # (where, parent id, chain id)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.bodies += 1
        prefix = f"line {number}: "
        problems = body_problems(line)
        report.errors.extend(prefix + problem for problem in problems)
        if problems:
            continue
        for index, event in enumerate(json.loads(line)["events"]):
            report.events += 1
            _check_event(event, f"{prefix}events[{index}]", seen, roots, dangling, report)
    for where, parent_id, chain_id in dangling:
        if parent_id in seen:
            report.errors.append(
                f"{where}.parent.eventId: sent before its parent ({seen[parent_id].where})"
            )
            continue
        report.warnings.append(
            f"{where}.parent.eventId: {parent_id} is not in this file "
            "(fine for a downstream build whose upstream was sent earlier)"
        )
        if chain_id not in roots:
            roots[chain_id] = where
    return report


def _check_event(
    event: dict[str, object],
    where: str,
    seen: dict[str, _Seen],
    roots: dict[str, str],
    dangling: list[tuple[str, str, str]],
    report: Report,
) -> None:
    event_id, chain_id = str(event["id"]), str(event["chainId"])
    sequence = event["sequence"]
    key = str(sequence["key"]) if isinstance(sequence, dict) else ""
    if event_id in seen:
        report.errors.append(f"{where}.id: {event_id} already sent at {seen[event_id].where}")
        return
    seen[event_id] = _Seen(chain_id, key, where)
    parent = event.get("parent")
    if not isinstance(parent, dict):
        if chain_id in roots:
            report.errors.append(f"{where}: second root of chain {chain_id} ({roots[chain_id]})")
        elif event_id != chain_id:
            report.errors.append(f"{where}.chainId: a root's chainId must be its own id")
        else:
            roots[chain_id] = where
        return
    parent_id = str(parent["eventId"])
    found = seen.get(parent_id)
    if found is None:
        dangling.append((where, parent_id, chain_id))
        return
    if found.key != parent["sequenceKey"]:
        report.errors.append(
            f"{where}.parent.sequenceKey: {parent['sequenceKey']!r} but the parent's "
            f"sequence key is {found.key!r}"
        )
    if found.chain_id != chain_id:
        report.errors.append(
            f"{where}.chainId: {chain_id} differs from its parent's chain {found.chain_id}"
        )
