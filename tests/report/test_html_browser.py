"""The HTML report in a real headless Chromium: it renders, its script runs without a
console message, and every chart is drawn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ci_collector.report.render_html import render_html
from tests.report.history import C, History, Job

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
IN_CI = os.environ.get("CI") == "true"
pytestmark = pytest.mark.slow  # a real headless browser


def browser() -> str:
    if BROWSER is None:
        if IN_CI:
            pytest.fail("CI=true but no chromium: .ci/run must `apt-get install -y chromium`")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this")
    return BROWSER


def headless(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def busy_history() -> History:
    history = History()
    for n in range(40):
        red = n % 7 == 3
        history.run(
            n * 20_000,
            300 + 17 * (n % 9),
            C.FAILURE if red else C.SUCCESS,
            sha=f"c{n // 2}",
            branch="main" if n % 3 else "feature/<x>",
            jobs=[
                Job(
                    "test",
                    200,
                    C.FAILURE if red else C.SUCCESS,
                    queue_s=n % 11,
                    steps=[("pytest", 150)],
                ),
                Job("lint", 30, queue_s=2),
            ],
        )
    return history


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    report = busy_history().report(tmp_path / "state.sqlite", days=14, end_s=14 * 86_400)
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    result = headless(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    dom = result.stdout
    assert re.search(r'<body[^>]*data-ready="true"', dom), "the page script did not finish"
    for chart in ("chart-duration", "chart-success", "chart-queue", "chart-flaky"):
        assert f'id="{chart}"' in dom
    assert dom.count('class="line"') == 4  # p50 and p95, durations and queue
    assert dom.count('class="bar"') >= 2 + 1  # success-rate days and a flaky job
    assert 'id="workflows"' in dom and 'id="slowest-p95"' in dom


def test_a_deliberate_error_is_seen(tmp_path: Path) -> None:
    """The console check above can fail: a broken script is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>notDefined();</script></body></html>")
    result = headless(page, tmp_path / "profile", "--dump-dom")
    assert any(":CONSOLE" in line for line in result.stderr.splitlines())
