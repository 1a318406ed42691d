"""Check JSON-lines request bodies against the contract and the chain invariants.

Per body: the pydantic contract of `trunk.py`, plus what Trunk refuses or mis-files that
the schema alone lets through: a missing conclusion, a time no run can have. Across
bodies: one root per chain whose id is the chainId, every parent sent before its child
with a matching sequenceKey, no id sent twice with different content. A parent that
belongs to *another build* (a Jenkins downstream build's upstream) is only a warning,
wherever it is: the design lets it arrive in another poll, in either order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .trunk import CONCLUSIONS, PLAUSIBLE_FROM_MS, PLAUSIBLE_UNTIL_MS
from .trunk_contract import body_problems


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
    content: str


@dataclass(slots=True)
class _Dangling:
    where: str
    parent_id: str
    chain_id: str
    same_build: bool


def validate_lines(lines: Iterable[str | bytes]) -> Report:
    report = Report()
    seen: dict[str, _Seen] = {}
    roots: dict[str, str] = {}
    dangling: list[_Dangling] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.bodies += 1
        prefix = f"line {number}: "
        problems = body_problems(line)
        report.errors.extend(prefix + problem for problem in problems)
        if problems:
            continue
        body = json.loads(line)
        repo = json.dumps(body["repo"], sort_keys=True)
        for index, event in enumerate(body["events"]):
            report.events += 1
            where = f"{prefix}events[{index}]"
            report.errors.extend(f"{where}.{problem}" for problem in trunk_refusals(event))
            _check_event(event, repo, where, seen, roots, dangling, report)
    for item in dangling:
        if item.parent_id in seen and item.same_build:
            report.errors.append(
                f"{item.where}.parent.eventId: sent before its parent "
                f"({seen[item.parent_id].where})"
            )
            continue
        if item.parent_id in seen:
            report.warnings.append(
                f"{item.where}.parent.eventId: its parent, of another build, comes later "
                f"({seen[item.parent_id].where}); fine, Trunk links them either way"
            )
            continue
        report.warnings.append(
            f"{item.where}.parent.eventId: {item.parent_id} is not in this file "
            "(fine for a downstream build whose upstream was sent earlier)"
        )
        if item.chain_id not in roots:
            roots[item.chain_id] = item.where
    return report


def trunk_refusals(event: dict[str, Any]) -> list[str]:
    """What the schema allows but Trunk does not take: no conclusion, an impossible time."""
    problems: list[str] = []
    if event.get("conclusion") not in CONCLUSIONS:
        problems.append(f"conclusion: missing (every event needs one of {', '.join(CONCLUSIONS)})")
    for name in ("createdAt", "finishedAt"):
        value = event.get(name)
        if isinstance(value, int) and not PLAUSIBLE_FROM_MS <= value < PLAUSIBLE_UNTIL_MS:
            problems.append(f"{name}: {value} is not a plausible time (before 2005 or after 2099)")
    return problems


def same_build(child_key: str, parent_key: str) -> bool:
    """True when a parent is part of the child's own build: its key extends the parent's.

    The mapper builds every key inside a run as ``parent key/part``; a shortened key
    (``head~hash``) keeps its head. A Jenkins downstream build's key is its own job's.
    """
    if child_key.startswith(parent_key + "/"):
        return True
    head, tilde, _ = parent_key.rpartition("~")
    return bool(tilde) and child_key.startswith(head)


def _check_event(
    event: dict[str, Any],
    repo: str,
    where: str,
    seen: dict[str, _Seen],
    roots: dict[str, str],
    dangling: list[_Dangling],
    report: Report,
) -> None:
    event_id, chain_id = str(event["id"]), str(event["chainId"])
    sequence = event["sequence"]
    key = str(sequence["key"]) if isinstance(sequence, dict) else ""
    content = repo + json.dumps(event, sort_keys=True)
    if event_id in seen:
        earlier = seen[event_id]
        if earlier.content == content:
            report.warnings.append(f"{where}.id: {event_id} sent again (same as {earlier.where})")
        else:
            report.errors.append(
                f"{where}.id: {event_id} already sent at {earlier.where} with other content"
            )
        return
    seen[event_id] = _Seen(chain_id, key, where, content)
    parent = event.get("parent")
    if not isinstance(parent, dict):
        if chain_id in roots:
            report.errors.append(f"{where}: second root of chain {chain_id} ({roots[chain_id]})")
        elif event_id != chain_id:
            report.errors.append(f"{where}.chainId: a root's chainId must be its own id")
        else:
            roots[chain_id] = where
        return
    parent_id, parent_key = str(parent["eventId"]), str(parent["sequenceKey"])
    own_build = same_build(key, parent_key)
    found = seen.get(parent_id)
    if found is None:
        dangling.append(_Dangling(where, parent_id, chain_id, own_build))
        return
    if found.key != parent_key:
        report.errors.append(
            f"{where}.parent.sequenceKey: {parent_key!r} but the parent's "
            f"sequence key is {found.key!r}"
        )
    if found.chain_id != chain_id:
        report.errors.append(
            f"{where}.chainId: {chain_id} differs from its parent's chain {found.chain_id}"
        )
