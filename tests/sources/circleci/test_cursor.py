"""The cursor rules on their own: strict W, the candidate, and when each is used."""

from __future__ import annotations

from ci_collector.sources.circleci.cursor import (
    CANDIDATE,
    FIELD,
    Watermark,
    next_cursor,
    resume_point,
)

HOLD = 0  # no hold limit in these examples


def test_sent_runs_hold_the_strict_cursor_and_make_a_candidate() -> None:
    mark = Watermark()
    mark.saw(300, pending=True, sent=0)
    mark.saw(200, pending=False, sent=2)
    mark.saw(100, pending=False, sent=0)
    cursor = next_cursor(None, 50, mark, HOLD, delivered_at_start=7)
    assert cursor == {FIELD: 200, CANDIDATE: {"before": 300, "delivered": 9}}
    assert resume_point(cursor, delivered=8) == 200  # one run was not accepted
    assert resume_point(cursor, delivered=9) == 300


def test_all_settled_moves_to_the_newest_pipeline_and_never_back() -> None:
    mark = Watermark()
    mark.saw(150, pending=False, sent=0)
    assert next_cursor(100, 40, mark, HOLD, 0) == {FIELD: 150}
    assert next_cursor(500, 40, mark, HOLD, 0) == {FIELD: 500}
    assert next_cursor(500, 40, Watermark(), HOLD, 0) == {FIELD: 500}
    assert next_cursor(None, 40, Watermark(), HOLD, 0) is None


def test_a_narrower_since_leaves_the_cursor_alone() -> None:
    mark = Watermark()
    mark.saw(900, pending=False, sent=1)
    assert next_cursor(100, 800, mark, HOLD, 0) is None


def test_a_workflow_pending_forever_stops_holding_at_the_limit() -> None:
    mark = Watermark()
    mark.saw(10, pending=True, sent=0)
    mark.saw(900, pending=False, sent=0)
    assert next_cursor(None, 0, mark, hold_limit=600, delivered_at_start=0) == {FIELD: 600}


def test_unreadable_cursors_fall_back_to_none() -> None:
    assert resume_point(None, 0) is None
    assert resume_point({FIELD: "soon", CANDIDATE: {"before": True}}, 99) is None
    assert resume_point({CANDIDATE: {"before": 5, "delivered": 1}}, 1) == 5
