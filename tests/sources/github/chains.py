"""Reading back the chains a test received: by root, by kind, with tags as dicts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any


def tags(event: dict[str, Any]) -> dict[str, Any]:
    return {t["k"]: t["v"] for t in event["payload"]["tags"]}


def metrics(event: dict[str, Any]) -> dict[str, Any]:
    return {m["k"]: m["v"] for m in event["payload"]["metrics"]}


@dataclass
class ChainView:
    root: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def run_id(self) -> int:
        return int(tags(self.root)["run_id"])

    @property
    def attempt(self) -> int:
        return int(tags(self.root)["attempt"])

    def kinds(self) -> Counter[str]:
        return Counter(e["sequence"]["kind"] for e in self.events)

    def jobs(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["sequence"]["kind"] == "job"]

    def job(self, name: str) -> dict[str, Any]:
        return next(e for e in self.jobs() if e["sequence"]["name"] == name)

    def children_of(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("parent", {}).get("eventId") == event["id"]]


def chains(events: list[dict[str, Any]]) -> dict[tuple[int, int], ChainView]:
    """Chains by (run id, attempt); asserts every parent is an event of the same chain."""
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_chain.setdefault(event["chainId"], []).append(event)
    views: dict[tuple[int, int], ChainView] = {}
    for chain_id, members in by_chain.items():
        roots = [e for e in members if "parent" not in e]
        assert len(roots) == 1 and roots[0]["id"] == chain_id
        ids = {e["id"]: e for e in members}
        for event in members:
            if "parent" in event:
                parent = ids[event["parent"]["eventId"]]
                assert event["parent"]["sequenceKey"] == parent["sequence"]["key"]
                assert parent["createdAt"] <= event["createdAt"] <= event["finishedAt"]
                assert event["finishedAt"] <= parent["finishedAt"]
        view = ChainView(roots[0], members)
        views[(view.run_id, view.attempt)] = view
    return views
