"""The platform-neutral run tree that every collector yields and the mapper reads.

Plain slotted dataclasses rather than pydantic models: collectors build hundreds of
thousands of nodes during a backfill, and these objects are never parsed from untrusted
input (the collectors do that at the edge), so validation here would be pure cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Conclusion(str, Enum):
    """Trunk's conclusion vocabulary; each collector maps its platform's raw words to it."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    SKIPPED = "SKIPPED"


TagValue = str | int
MetricValue = int | float


@dataclass(frozen=True, slots=True)
class Repo:
    """Where Trunk files the events: one request body carries events of one repo."""

    host: str
    owner: str
    name: str

    @property
    def slug(self) -> str:
        return f"{self.host}/{self.owner}/{self.name}"


@dataclass(slots=True)
class Node:
    """One unit of work: a workflow attempt, job, step, pipeline build, stage or branch.

    `id_part` names the node among its siblings for its event id (e.g. ``jobs/123``) and
    must never change between polls; `key_part` is the readable segment of its sequence
    key (e.g. the job name), stable across *runs* so Trunk can trend it.
    """

    kind: str
    name: str
    id_part: str
    key_part: str
    started_ms: int | None = None
    finished_ms: int | None = None
    conclusion: Conclusion | None = None
    result: str | None = None
    tags: dict[str, TagValue] = field(default_factory=dict)
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    sequence_tags: dict[str, str] = field(default_factory=dict)
    """Stable facts about the *sequence* (workflow path, job page), never per-run values."""


@dataclass(frozen=True, slots=True)
class ExternalParent:
    """The event a run hangs under when it belongs to another run's chain.

    Jenkins downstream builds use it. It holds natural keys only: the mapper turns them
    into ids (ids are computed in one place), so the upstream need not be fetched, or
    even collected in the same poll.
    """

    natural_key: str
    sequence_key: str
    chain_natural_key: str


@dataclass(slots=True)
class Run:
    """One finished run *attempt* and everything under it; maps to one chain.

    `natural_key` is the globally unique, stable identity of the attempt, e.g.
    ``github.com/o/r/actions/runs/42/attempts/2``; every event id derives from it.
    `source` names the stream it was read from (platform + host + repo or job) and
    `fingerprint` changes whenever the attempt's content would map differently.
    """

    platform: str
    repo: Repo
    natural_key: str
    root: Node
    source: str = ""
    fingerprint: str = ""
    external_parent: ExternalParent | None = None
    warnings: list[str] = field(default_factory=list)
