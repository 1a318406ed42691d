"""Running the real CLI in this process, and what its failures must look like."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import T0
from tests.sources.github.scenarios import bulk

Cli = Callable[..., tuple[int, list[str]]]
"""``cli(*args, env={...})`` -> (exit code, stderr lines), with ``-q --output FILE`` added."""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Runs ``ci-collector ARGS`` in this process (a dry run: nothing is sent) through
    `run_cli`: each call gets its own environment, streams, logging and secrets."""

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
        done = run_cli(*args, "-q", "--output", str(tmp_path / "out.jsonl"), env=env)
        return done.returncode, done.stderr.splitlines()

    return run


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
