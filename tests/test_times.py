"""Time parsing: platform timestamps to epoch ms, and ``--since``/``--until`` input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click
import pytest

from ci_collector.commands.params import WHEN
from ci_collector.times import iso_to_ms, ms_to_iso, parse_when

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", NOW - timedelta(days=90)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("45min", NOW - timedelta(minutes=45)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 7D ", NOW - timedelta(days=7)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00Z", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01T12:30:00+02:00", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    parsed = parse_when(text, now=NOW)
    assert parsed == expected
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("text", ["garbage", "", "90", "-3d", "12y", "2024-13-01", "yesterday"])
def test_parse_when_refuses_garbage_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date, a time or a relative age") as caught:
        parse_when(text, now=NOW)
    assert repr(text) in str(caught.value)


def test_relative_ages_count_from_now_by_default() -> None:
    before = datetime.now(timezone.utc)
    parsed = parse_when("1h")
    assert before - timedelta(hours=1, seconds=5) < parsed <= before - timedelta(minutes=59)


def test_the_click_type_turns_garbage_into_a_usage_error() -> None:
    assert WHEN.convert("2024-05-01", None, None) == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert WHEN.convert(NOW, None, None) is NOW
    with pytest.raises(click.BadParameter, match="'soon' is not a date"):
        WHEN.convert("soon", None, None)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T10:30:00Z", 1_714_559_400_000),
        ("2024-05-01T10:30:00.250Z", 1_714_559_400_250),
        ("2024-05-01T12:30:00+02:00", 1_714_559_400_000),
        ("2024-05-01T10:30:00", 1_714_559_400_000),  # no zone: UTC
        ("2024-05-01T10:30:00.123456z", 1_714_559_400_123),
    ],
)
def test_iso_to_ms(text: str, ms: int) -> None:
    assert iso_to_ms(text) == ms


@pytest.mark.parametrize("value", [None, "", "not a time", 1714559400, "2024-02-30T00:00:00Z"])
def test_iso_to_ms_gives_none_for_unusable_values(value: object) -> None:
    assert iso_to_ms(value) is None


def test_ms_to_iso() -> None:
    assert ms_to_iso(1_714_559_400_999) == "2024-05-01T10:30:00Z"
    assert iso_to_ms(ms_to_iso(1_714_559_400_000)) == 1_714_559_400_000
