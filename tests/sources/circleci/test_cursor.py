"""The cursor rules on their own: one W per filter, held by pending workflows."""

from __future__ import annotations

from ci_collector.sources.circleci.cursor import (
    FIELD,
    Watermark,
    filter_name,
    legacy_point,
    next_cursor,
    resume_point,
)

HOLD = 0  # no hold limit in these examples


def test_pending_workflows_hold_the_cursor_and_sent_runs_do_not() -> None:
    mark = Watermark()
    mark.saw(300, pending=True, sent=0)
    mark.saw(200, pending=False, sent=2)
    mark.saw(100, pending=False, sent=0)
    # the checkpoint carrying it is written only once the two runs were acknowledged
    assert next_cursor(None, "all", None, 50, mark, HOLD) == {"all": {FIELD: 300}}


def test_all_settled_moves_to_the_newest_pipeline_and_never_back() -> None:
    mark = Watermark()
    mark.saw(150, pending=False, sent=0)
    assert next_cursor(None, "all", 100, 40, mark, HOLD) == {"all": {FIELD: 150}}
    assert next_cursor(None, "all", 500, 40, mark, HOLD) == {"all": {FIELD: 500}}
    assert next_cursor(None, "all", 500, 40, Watermark(), HOLD) == {"all": {FIELD: 500}}
    assert next_cursor(None, "all", None, 40, Watermark(), HOLD) is None


def test_a_narrower_since_leaves_the_cursor_alone() -> None:
    mark = Watermark()
    mark.saw(900, pending=False, sent=1)
    assert next_cursor(None, "all", 100, 800, mark, HOLD) is None


def test_a_workflow_pending_forever_stops_holding_at_the_limit() -> None:
    mark = Watermark()
    mark.saw(10, pending=True, sent=0)
    mark.saw(900, pending=False, sent=0)
    assert next_cursor(None, "all", None, 0, mark, hold_limit=600) == {"all": {FIELD: 600}}


def test_each_filter_moves_only_its_own_cursor() -> None:
    mark = Watermark()
    mark.saw(900, pending=False, sent=1)
    stored = {"all": {FIELD: 100}}
    moved = next_cursor(stored, filter_name("main"), None, 0, mark, HOLD)
    assert moved == {"all": {FIELD: 100}, "branch=main": {FIELD: 900}}
    assert resume_point(moved, "all") == 100
    assert resume_point(moved, filter_name("main")) == 900
    assert resume_point(moved, filter_name("feature/x")) is None


def test_unreadable_and_legacy_cursors() -> None:
    assert resume_point(None, "all") is None
    assert resume_point({"all": {FIELD: "soon"}}, "all") is None
    assert resume_point({FIELD: 5}, "all") is None  # written by some filter: not this one's
    assert legacy_point({FIELD: 5}) == 5 and legacy_point({FIELD: True}) is None
    mark = Watermark()
    mark.saw(900, pending=False, sent=0)
    assert next_cursor({FIELD: 5}, "all", None, 0, mark, HOLD) == {"all": {FIELD: 900}}
