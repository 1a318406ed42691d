"""The progress line: counts, rate, and an ETA when the source says how far it is."""

from __future__ import annotations

import logging

import pytest

from ci_collector.pipeline import Summary
from ci_collector.progress import Progress


def test_log_lines_carry_counts_and_an_eta(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci_collector")
    with Progress("backfill", interactive=False, log_every=0, position=lambda: 0.25) as progress:
        progress(Summary(runs=40, events=400, delivered_runs=30))
    line = caplog.records[-1].getMessage()
    assert line.startswith("backfill: 40 runs read, 30 delivered, 400 events, ")
    assert "s left (25%)" in line


def test_no_eta_without_a_position(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci_collector")
    with Progress("poll", interactive=False, log_every=0) as progress:
        progress(Summary(runs=1, events=3, delivered_runs=1))
    assert "left" not in caplog.records[-1].getMessage()


def test_log_lines_are_spaced_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci_collector")
    with Progress("poll", interactive=False, log_every=3600) as progress:
        for runs in range(1, 50):
            progress(Summary(runs=runs))
    assert len(caplog.records) == 1  # the first call, then nothing for an hour


def test_the_live_line_on_a_terminal_does_not_get_in_the_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Progress("backfill", interactive=True, position=lambda: 0.5) as progress:
        progress(Summary(runs=5, events=50, delivered_runs=5))
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout stays clean for `--output -`
