"""The trackEvents contract of ``shared/trunk-api.md`` as pydantic models, for checking.

Used wherever a body must be *checked*: ``ci-collector validate``, the local Trunk
stand-in of the tests and the mapper's own property tests. Collecting never imports it.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .trunk import MAX_SEQUENCE_KEY

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


# ---- the contract, for checking ------------------------------------------------------


class _Strict(BaseModel):
    # NaN and Infinity are not JSON numbers (Python's json writes and reads them anyway).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class Tag(_Strict):
    k: NonEmpty
    v: StrictStr | StrictInt | StrictFloat


class Metric(_Strict):
    k: NonEmpty
    v: StrictInt | StrictFloat


class Payload(_Strict):
    metrics: list[Metric] = []
    tags: list[Tag] = []


class SequencePayload(_Strict):
    tags: list[Tag] = []


class Sequence(_Strict):
    platform: NonEmpty
    kind: NonEmpty
    key: NonEmpty
    name: NonEmpty
    payload: SequencePayload | None = None

    @field_validator("platform")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _SNAKE_CASE.match(value):
            raise ValueError(f"{value!r} is not snake_case")
        return value

    @field_validator("key")
    @classmethod
    def _short_key(cls, value: str) -> str:
        if len(value) > MAX_SEQUENCE_KEY:
            raise ValueError(f"{len(value)} characters; must be shorter than 128")
        return value


class Parent(_Strict):
    eventId: NonEmpty
    sequenceKey: NonEmpty


class Event(_Strict):
    id: NonEmpty
    chainId: NonEmpty
    parent: Parent | None = None
    createdAt: Annotated[StrictInt, Field(ge=0)]
    finishedAt: Annotated[StrictInt, Field(ge=0)]
    conclusion: Literal["SUCCESS", "FAILURE", "CANCELLED", "TIMED_OUT", "SKIPPED"] | None = None
    payload: Payload | None = None
    sequence: Sequence

    @field_validator("finishedAt")
    @classmethod
    def _not_before_start(cls, value: int, info: ValidationInfo) -> int:
        created = info.data.get("createdAt")
        if isinstance(created, int) and value < created:
            raise ValueError("earlier than createdAt")
        return value


class RepoModel(_Strict):
    host: NonEmpty
    owner: NonEmpty
    name: NonEmpty


class TrackEventsBody(_Strict):
    repo: RepoModel
    events: Annotated[list[Event], Field(min_length=1)]


# ---- checking a body -----------------------------------------------------------------


def format_location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a field path: ``events[3].finishedAt``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("str", "int", "float", "literal", "function-after"):
            continue  # union branch names: noise to a reader
        else:
            path += f".{part}" if path else part
    return path or "body"


def body_problems(raw: str | bytes) -> list[str]:
    """Every way a request body breaks the contract, each as ``path: message``."""
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        return [f"body: not JSON ({exc})"]
    problems: list[str] = []
    try:
        TrackEventsBody.model_validate(data)
    except ValidationError as exc:
        seen: set[str] = set()
        for error in exc.errors(include_url=False):
            line = f"{format_location(error['loc'])}: {_short_message(error)}"
            if line not in seen:
                seen.add(line)
                problems.append(line)
    problems.extend(_null_fields(data, ""))
    return problems


def _short_message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _null_fields(value: Any, path: str) -> list[str]:
    """The contract says absent fields are omitted, never sent as null."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if item is None:
                found.append(f"{child}: null (omit absent fields instead)")
            else:
                found.extend(_null_fields(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_null_fields(item, f"{path}[{index}]"))
    return found
