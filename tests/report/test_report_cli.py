"""``ci-collector report`` end to end: the store or a JSONL file in, three formats out."""

from __future__ import annotations

import json
from pathlib import Path

from ci_collector.pipeline import deliver
from ci_collector.sinks import JsonlSink
from tests.conftest import run_cli
from tests.report.history import C, History, Job

UNTIL = "2023-12-15T00:00:00Z"  # 30 days after the history's T0
TOP_LEVEL = {
    "schema_version",
    "generated_at",
    "window",
    "previous_window",
    "filters",
    "totals",
    "previous_totals",
    "trend",
    "workflows",
    "branch_classes",
    "flaky_jobs",
    "slowest_by_p95",
    "slowest_by_total",
    "daily",
}


def history() -> History:
    made = History()
    for n in range(6):
        made.run(
            n * 3600,
            100 + n,
            C.FAILURE if n == 2 else C.SUCCESS,
            sha=f"s{n // 2}",
            jobs=[
                Job(
                    "unit <tests> [py3]",
                    80,
                    C.FAILURE if n == 2 else C.SUCCESS,
                    queue_s=n,
                    steps=[("pytest", 70)],
                )
            ],
        )
    return made


def test_json_from_the_store_and_from_a_dry_run_file_agree(tmp_path: Path) -> None:
    state = history().store(tmp_path / "state.sqlite")
    from_store = run_cli("report", "--state", str(state), "--format", "json", "--until", UNTIL)
    assert from_store.returncode == 0, from_store.stderr
    bodies = tmp_path / "bodies.jsonl"
    sink = JsonlSink(bodies, batch_events=4)
    deliver(history().runs, sink)
    sink.close()
    from_file = run_cli("report", "--input", str(bodies), "--format", "json", "--until", UNTIL)
    assert from_file.returncode == 0, from_file.stderr
    first, second = json.loads(from_store.stdout), json.loads(from_file.stdout)
    assert set(first) == TOP_LEVEL and first["schema_version"] == 1
    first.pop("generated_at"), second.pop("generated_at")
    assert first == second
    workflow = first["workflows"][0]
    assert workflow["metrics"]["total_runs"] == 6
    assert workflow["metrics"]["success_rate"] == 5 / 6
    assert set(workflow["metrics"]["duration_metrics"]) == {
        "count",
        "min",
        "median",
        "mean",
        "p95",
        "max",
        "standard_deviation",
        "total",
    }
    assert workflow["jobs"][0]["name"] == "unit <tests> [py3]"
    assert first["flaky_jobs"][0]["flaky_commits"] == 1


def test_text_report(tmp_path: Path) -> None:
    state = history().store(tmp_path / "state.sqlite")
    result = run_cli("report", "--state", str(state), "--until", UNTIL)
    assert result.returncode == 0, result.stderr
    assert "6 runs" in result.stdout and "unit <tests> [py3]" in result.stdout
    assert "Flaky jobs" in result.stdout and "pytest" in result.stdout


def test_html_written_to_a_file_is_self_contained(tmp_path: Path) -> None:
    state = history().store(tmp_path / "state.sqlite")
    out = tmp_path / "report.html"
    result = run_cli(
        "report", "--state", str(state), "--until", UNTIL, "--format", "html", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    for chart in ("chart-duration", "chart-success", "chart-queue", "chart-flaky"):
        assert f'id="{chart}"' in page
    assert "unit &lt;tests&gt;" in page and "<tests>" not in page  # names are escaped
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "src=" not in page and "<link" not in page


def test_user_mistakes_are_one_line(tmp_path: Path) -> None:
    missing = run_cli("report", "--state", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2 and "no local store" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.sqlite").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"repo": 1}\n')
    broken = run_cli("report", "--input", str(bad))
    assert broken.returncode == 2 and "bad.jsonl:1" in broken.stderr
    window = run_cli("report", "--window", "soon", "--input", str(bad))
    assert window.returncode == 2 and "--window" in window.stderr
