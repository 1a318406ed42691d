"""End to end through the core: a run tree -> JSONL dry run -> validate."""

from __future__ import annotations

from pathlib import Path

from ci_collector.model import Conclusion, Node, Repo, Run
from ci_collector.pipeline import deliver
from ci_collector.sinks import JsonlSink
from tests.conftest import run_cli

T0 = 1_700_000_000_000
"""Times must be plausible (after 2005): the mapper repairs and validate refuses others."""


def sample_run(run_id: int = 1) -> Run:
    steps = [
        Node(
            "step",
            "checkout",
            f"steps/{n}",
            "checkout",
            T0 + 1_000 + n,
            T0 + 1_500 + n,
            Conclusion.SUCCESS,
        )
        for n in range(1, 3)
    ]
    job = Node(
        "job",
        "build",
        "jobs/7",
        "build",
        T0 + 1_000,
        None,
        Conclusion.FAILURE,
        result="failure",
        children=steps,
    )
    root = Node(
        "workflow",
        "CI",
        "",
        ".github/workflows/ci.yml",
        T0 + 900,
        T0 + 2_000,
        Conclusion.FAILURE,
        result="failure",
        children=[job],
    )
    return Run(
        "github_actions",
        Repo("github.com", "o", "r"),
        f"github.com/o/r/actions/runs/{run_id}/attempts/1",
        root,
        "src",
        "fp",
    )


def test_dry_run_output_validates(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out, batch_events=2)
    summary = deliver([sample_run(1), sample_run(2)], sink)
    sink.close()
    assert summary.delivered_runs == 2
    assert summary.events == 8
    assert len(out.read_bytes().splitlines()) == 4
    result = run_cli("validate", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 events" in result.stderr
