"""`run_cli` (in-process) is a faithful stand-in for the real process, and leaves no trace.

Most CLI tests rely on it, so it is checked against `run_cli_subprocess` output for output:
the same exit code, stdout and stderr, byte for byte. Then what a process would have thrown
away must not survive a call: environment, logging set-up, registered secrets.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path

import pytest

from ci_collector import __version__, retry, secrets
from ci_collector.state import State
from tests.conftest import run_cli, run_cli_subprocess

SOURCE = "github:acme/widgets"


def cases(tmp_path: Path) -> list[list[str]]:
    """Few (each costs a process start): stdout, a command's own error, a collector's."""
    state = tmp_path / "state.sqlite"
    with State(state) as db:
        db.mark_delivered("run/1", SOURCE, "fp", 3)
    return [
        ["--help"],  # click's help at the width of no terminal
        ["state", "forget", "--source", "github:nowhere/x", "--state", str(state)],  # exit 2
        ["github", "--repo", "a/b", "--since", "soon"],  # a usage error from a collector
    ]


def test_in_process_gives_what_the_real_process_gives(tmp_path: Path) -> None:
    for args in cases(tmp_path):
        env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
        inside, real = run_cli(*args, env=env), run_cli_subprocess(*args, env=env)
        assert (inside.returncode, inside.stdout, inside.stderr) == (
            real.returncode,
            real.stdout,
            real.stderr,
        ), args
        assert real.stdout or real.stderr, args  # each case shows something to compare


def test_the_developers_own_variables_do_not_reach_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "real.sqlite"
    with State(state) as db:
        db.mark_delivered("run/1", SOURCE, "fp", 3)
    monkeypatch.setenv("CI_COLLECTOR_STATE", str(state))
    isolated = run_cli("state", "show", env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    # It looks for the state under the given XDG_STATE_HOME (none there), not the test's own.
    assert isolated.returncode == 2 and SOURCE not in isolated.stdout
    assert f"no state file at {tmp_path / 'xdg'}" in isolated.stderr
    given = run_cli("state", "show", env={"CI_COLLECTOR_STATE": str(state)})
    assert SOURCE in given.stdout
    assert os.environ["CI_COLLECTOR_STATE"] == str(state)  # the test's own is put back


def test_a_call_leaves_logging_secrets_and_cwd_as_it_found_them(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level, cwd = list(root.handlers), root.level, os.getcwd()
    token = "ghp_inprocess-secret-token"
    result = run_cli(
        "github",
        "--repo",
        "a/b",
        "-vv",
        "--github-api-url",
        "http://127.0.0.1:9/",  # never reached: the bad --since is refused first
        "--since",
        "soon",
        env={"GITHUB_TOKEN": token},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert (root.handlers, root.level, os.getcwd()) == (handlers, level, cwd)
    assert token not in secrets._SECRETS
    assert logging.getLogger("ci_collector").level == logging.NOTSET


def test_a_deadline_ends_with_its_call(tmp_path: Path) -> None:
    """``--deadline`` bounds one invocation; the next test's clients must not inherit it."""
    result = run_cli(
        "github",
        "--repo",
        "a/b",
        "--deadline",
        "30",
        "--github-api-url",
        "http://127.0.0.1:9/",
        "--output",
        str(tmp_path / "out.jsonl"),
        env={"CI_COLLECTOR_RETRY_BASE": "0.001"},
    )
    assert result.returncode != 0  # nothing listens there; the deadline was set all the same
    assert retry.invocation_remaining() == math.inf


def test_from_another_thread_it_is_the_real_process() -> None:
    """The environment and signal handlers belong to the whole process: a thread gets a
    subprocess (same result), never a half-swapped environment."""
    results = []
    worker = threading.Thread(target=lambda: results.append(run_cli("--version")))
    worker.start()
    worker.join(120)
    assert [(r.returncode, r.stdout) for r in results] == [
        (0, f"ci-collector, version {__version__}\n")
    ]
