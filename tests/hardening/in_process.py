"""Running the real CLI in this process, and what its failures must look like."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci_collector.cli import main
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import T0
from tests.sources.github.scenarios import bulk

PREFIXES = ("TRUNK_", "GITHUB_", "JENKINS_", "CIRCLECI_", "CI_COLLECTOR_")

Cli = Callable[..., tuple[int, list[str]]]
"""``cli(*args, env={...})`` -> (exit code, stderr lines), with ``-q --output FILE`` added."""


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[Cli]:
    """Runs ``ci-collector ARGS`` in this process (a dry run: nothing is sent)."""
    for key in list(os.environ):
        if key.startswith(PREFIXES):
            monkeypatch.delenv(key)

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            main([*args, "-q", "--output", str(tmp_path / "out.jsonl")])
        code = ended.value.code
        return (code if isinstance(code, int) else 1), capsys.readouterr().err.splitlines()

    root, ours = logging.getLogger(), logging.getLogger("ci_collector")
    saved = root.level, ours.level, list(root.handlers)
    yield run
    # the CLI configures logging for the process (-q silences ci_collector): undo that,
    # or later tests' log captures would miss every warning
    root.setLevel(saved[0])
    ours.setLevel(saved[1])
    root.handlers[:] = saved[2]


@pytest.fixture
def github_standin() -> Iterator[GitHubServer]:
    model = GitHubModel()
    bulk(model, 2, T0, 60_000)
    with running_github(model) as server:
        yield server


def one_line(result: tuple[int, list[str]], code: int, *fragments: str) -> str:
    """The single ``ci-collector: error:`` line, with `code` and every fragment."""
    status, lines = result
    assert status == code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("ci-collector: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
