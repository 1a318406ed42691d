"""The fast JSON codec writes what the standard library wrote and reads what it read."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci_collector import jsonio

STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(),  # any code point, surrogates included
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


@given(values)
def test_without_floats_the_bytes_are_the_standard_librarys(value: Any) -> None:
    written = jsonio.dumps(value)
    if _has_surrogate(value):
        text = written.decode("utf-8")  # still valid UTF-8
        assert "\ufffd" in text
        assert not _has_surrogate(json.loads(text))
    else:
        assert written == STDLIB.encode(value).encode()
        assert jsonio.loads(written) == value


@given(values)
def test_reads_what_the_standard_library_reads(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        try:
            expected = json.loads(text)
        except ValueError:
            continue
        assert jsonio.loads(text) == expected
        if not _has_surrogate(value):
            assert jsonio.loads(text.encode()) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(number: float) -> None:
    assert json.loads(jsonio.dumps({"v": number}))["v"] == number


def test_a_lone_surrogate_escape_is_read_and_written_as_a_replacement() -> None:
    value = jsonio.loads('{"name": "step \\ud800 one"}')
    assert value == {"name": "step \ud800 one"}
    assert jsonio.dumps(value) == '{"name":"step \ufffd one"}'.encode()


@pytest.mark.parametrize("text", ["", "[1] x", "<html></html>", "{'a': 1}", b"\xff\xfe"])
def test_what_is_not_json_is_a_value_error(text: str | bytes) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)


def test_non_finite_numbers_are_read_as_the_standard_library_reads_them() -> None:
    read = jsonio.loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(read[0]) and read[1:] == [math.inf, -math.inf]
