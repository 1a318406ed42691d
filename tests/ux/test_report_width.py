"""The text report fits the terminal: 80, 120 or 200 columns, no cell broken mid-value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.history import C, History, Job
from tests.ux.cli import invoke

UNTIL = "2023-12-15T00:00:00Z"


def state(tmp_path: Path) -> Path:
    made = History()
    for n in range(6):
        made.run(
            n * 3600,
            100 + n * 400,
            C.FAILURE if n == 2 else C.SUCCESS,
            sha=f"s{n // 2}",
            jobs=[
                Job(
                    "unit tests (py3.12, ubuntu-latest)",
                    80 + n * 300,
                    queue_s=n * 90,
                    steps=[("pytest", 70)],
                ),
                Job("lint", 20, C.FAILURE if n == 2 else C.SUCCESS, steps=[("ruff", 5)]),
            ],
        )
    made.run(
        7200,
        3000,
        name="Release and publish every package to every registry",
        workflow=".github/workflows/release-and-publish-everything-everywhere.yml",
    )
    return made.store(tmp_path / "state.sqlite")


def tables(text: str) -> list[list[str]]:
    """Each table's lines, from its top border to its bottom border."""
    found: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("┏"):
            found.append([])
        if found and (not found[-1] or not found[-1][-1].startswith("└")):
            found[-1].append(line)
    return found


def check_fits(text: str, width: int) -> None:
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    assert len(tables(text)) >= 4
    for table in tables(text):
        header = table[1 : table.index(next(x for x in table if x.startswith("┡")))]
        assert len(header) == 1, "\n".join(table)  # every title on one line
        for row in table:
            if not row.startswith("│"):
                continue
            cells = [cell.strip() for cell in row.strip("│").split("│")]
            numeric = [c for c in cells[1:] if c and (c[0].isdigit() or c in ("—", "new"))]
            # A continuation line (a long name folding) carries no numbers: a value that
            # had to wrap would show up here as its tail ("42s", "3%").
            if not cells[0] or not any(numeric):
                assert all(not c or not c[0].isdigit() for c in cells[1:]), row


@pytest.mark.parametrize("width", [80, 100, 120, 160, 200])
@pytest.mark.parametrize("how", ["COLUMNS", "--width"])
def test_the_text_report_fits_the_terminal(
    width: int,
    how: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["report", "--state", str(state(tmp_path)), "--until", UNTIL]
    if how == "--width":
        result = invoke(monkeypatch, capsys, *args, "--width", str(width))
    else:
        result = invoke(monkeypatch, capsys, *args, env={"COLUMNS": str(width)})
    assert result.code == 0, result.stderr
    check_fits(result.stdout, width)
    assert "Release and publish" in result.stdout and "lint" in result.stdout
    assert ("Std dev" in result.stdout) == (width >= 170)
