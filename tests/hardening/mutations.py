"""Hypothesis strategies that spoil real platform bodies: null, drop or retype any field.

A body is walked to list every path (nested objects and lists alike); a few paths are
drawn and each is nulled, dropped or given a value of another type. What comes out is
the kind of body a platform upgrade, a proxy or a half-migrated server might send.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

ODD_VALUES: tuple[Any, ...] = (
    None,
    "",
    "text",
    "2024-13-45T99:99:99Z",
    0,
    -1,
    2**63,
    1.5,
    float("nan"),
    True,
    [],
    {},
    [None],
    {"_class": None},
)


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every path below `value` (not the root itself)."""
    found: list[Path] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(item, (*prefix, index)))
    return found


def _apply(body: Any, path: Path, how: str, replacement: Any) -> None:
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "drop":
        del parent[last]
    elif how == "null":
        parent[last] = None
    else:
        parent[last] = copy.deepcopy(replacement)


@st.composite
def spoiled(draw: st.DrawFn, body: Any, max_changes: int = 3) -> tuple[Any, list[str]]:
    """A deep copy of `body` with 1..max_changes fields spoiled, and what was done."""
    spoilt = copy.deepcopy(body)
    done: list[str] = []
    for _ in range(draw(st.integers(1, max_changes))):
        candidates = paths(spoilt)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        how = draw(st.sampled_from(("null", "drop", "retype")))
        replacement = draw(st.sampled_from(ODD_VALUES)) if how == "retype" else None
        _apply(spoilt, path, how, replacement)
        done.append(
            f"{how} {'/'.join(map(str, path))}" + (f" = {replacement!r}" if how == "retype" else "")
        )
    return spoilt, done
