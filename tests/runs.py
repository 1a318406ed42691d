"""Small run trees for the core's tests: readable to build, realistic in shape."""

from __future__ import annotations

from ci_collector.model import Conclusion, Node, Repo, Run

REPO = Repo("github.com", "acme", "widgets")
T0 = 1_700_000_000_000  # a plausible epoch-ms start, far from 0


def step(number: int, name: str = "", start: int | None = None, end: int | None = None) -> Node:
    begin = T0 + 1_000 * number if start is None else start
    return Node(
        "step",
        name or f"step {number}",
        f"steps/{number}",
        name or f"step {number}",
        begin,
        begin + 500 if end is None and start is None else end,
        Conclusion.SUCCESS,
        result="success",
    )


def job(number: int, steps: int = 2, name: str = "") -> Node:
    return Node(
        "job",
        name or f"job {number}",
        f"jobs/{number}",
        name or f"job {number}",
        T0,
        T0 + 100_000,
        Conclusion.SUCCESS,
        result="success",
        tags={"runner": "ubuntu-latest"},
        metrics={"queue_ms": 1_500},
        children=[step(n) for n in range(1, steps + 1)],
    )


def make_run(
    run_id: int = 1,
    jobs: int = 1,
    steps: int = 2,
    repo: Repo = REPO,
    platform: str = "github_actions",
) -> Run:
    """A workflow run attempt with `1 + jobs * (1 + steps)` events."""
    root = Node(
        "workflow",
        "CI",
        "",
        ".github/workflows/ci.yml",
        T0 - 1_000,
        T0 + 200_000,
        Conclusion.SUCCESS,
        result="success",
        tags={"branch": "main"},
        children=[job(n, steps) for n in range(1, jobs + 1)],
    )
    key = f"{repo.slug}/actions/runs/{run_id}/attempts/1"
    return Run(platform, repo, key, root, source=f"github:{repo.slug}", fingerprint=f"fp{run_id}")
