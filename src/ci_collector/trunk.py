"""The Trunk trackEvents wire format: the typed shapes and limits the hot path builds.

The mapper builds plain dicts typed by the ``*Dict`` TypedDicts below (fast to build and
to serialise). The pydantic models that *check* a body live in `trunk_contract`, so a
collecting run does not pay for importing pydantic (a tenth of a second per invocation).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

MAX_SEQUENCE_KEY = 127
"""Sequence keys must be *shorter than* 128 characters."""

PLAUSIBLE_FROM_MS = 1_104_537_600_000
"""2005-01-01: no CI system this collector reads kept history before then."""
PLAUSIBLE_UNTIL_MS = 4_102_444_800_000
"""2100-01-01: later times are platform placeholders (year 9999), not measurements."""
MAX_RUN_SPAN_MS = 90 * 24 * 3600 * 1000
"""How far a time may lie from the rest of its run (builds waiting weeks for input)."""

CONCLUSIONS = ("SUCCESS", "FAILURE", "CANCELLED", "TIMED_OUT", "SKIPPED")


# ---- the wire shape the mapper emits -------------------------------------------------


class KeyValueDict(TypedDict):
    k: str
    v: str | int | float


class PayloadDict(TypedDict):
    metrics: list[KeyValueDict]
    tags: list[KeyValueDict]


class SequencePayloadDict(TypedDict):
    tags: list[KeyValueDict]


class SequenceDict(TypedDict):
    platform: str
    kind: str
    key: str
    name: str
    payload: NotRequired[SequencePayloadDict]


class ParentDict(TypedDict):
    eventId: str
    sequenceKey: str


class EventDict(TypedDict):
    id: str
    chainId: str
    parent: NotRequired[ParentDict]
    createdAt: int
    finishedAt: int
    conclusion: NotRequired[str]
    payload: PayloadDict
    sequence: SequenceDict


class RepoDict(TypedDict):
    host: str
    owner: str
    name: str
