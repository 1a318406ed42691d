"""Run the real ``ci-collector`` entry point in this process (fast, and debuggable)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from ci_collector.cli import main

PREFIXES = ("TRUNK_", "GITHUB_", "JENKINS_", "CIRCLECI_", "CI_COLLECTOR_", "COLUMNS")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stderr.splitlines()


def invoke(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    env: dict[str, str] | None = None,
) -> Result:
    """`ci_collector.cli.main` with a clean environment plus `env`; never raises SystemExit."""
    for key in list(os.environ):
        if key.startswith(PREFIXES):
            monkeypatch.delenv(key)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    else:
        code = 0
    out, err = capsys.readouterr()
    return Result(code, out, err)


def one_line(result: Result, code: int, *fragments: str) -> str:
    """The single ``ci-collector: error:`` line, after checking the exit code and fragments."""
    assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.lines) == 1, result.stderr
    line = result.lines[0]
    assert line.startswith("ci-collector: error: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line
