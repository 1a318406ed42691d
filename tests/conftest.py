from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.inprocess import run_main
from tests.servers.trunk import TrunkStandIn, running_trunk

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
"""Real recorded API responses (third-party data): read in place, never copied here."""
CASSETTES = ROOT / "cassettes"
IN_CI = os.environ.get("CI") == "true"
ISOLATED_PREFIXES = ("TRUNK_", "GITHUB_", "JENKINS_", "CIRCLECI_", "CI_COLLECTOR_", "OTEL_")
"""The CLI's own variables: a developer's real tokens must never reach a test run."""

# CI replays the same examples every time and keeps no example database between runs.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: chaos schedules, SIGKILL/resume, browser and big-data tests (`pytest -m slow`)",
    )


@pytest.fixture
def shared_recordings() -> Path:
    """The recordings folder, for every test that reads it (see `require_shared_recordings`)."""
    return require_shared_recordings()


def require_shared_recordings() -> Path:
    """The recordings folder, or the test is skipped (naming the folder) when it is absent,
    and failed when it is absent under CI=true, where it must always be."""
    if not SHARED_FIXTURES.is_dir():
        reason = f"the shared recordings are not at {SHARED_FIXTURES}"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}: CI must check out ../shared beside the repository")
        pytest.skip(f"{reason} (put the shared folder beside the repository to run this)")
    return SHARED_FIXTURES


def recorded_names(
    platform: str, pattern: str, keep: Callable[[Path], bool] = lambda path: True
) -> list[str]:
    """Recording file names for parametrising at collection time. Without the folder, one
    placeholder, so each test still shows up and `shared_recordings` skips or fails it."""
    folder = SHARED_FIXTURES / platform
    if not folder.is_dir():
        return ["shared-recordings-absent"]
    return sorted(path.name for path in folder.glob(pattern) if keep(path))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL that refuses connections. Its port stays bound (not listening) for the
    whole test, so no other process can take it and answer: a closed-then-reused port can."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def trunk() -> Iterator[TrunkStandIn]:
    with running_trunk() as stand_in:
        yield stand_in


def cli_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the CLI's own variables, plus `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_PREFIXES)}
    full_env.update(env or {})
    return full_env


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``ci-collector args`` in this process as if it were its own (see tests/inprocess.py):
    same environment isolation, exit code, stdout and stderr as `run_cli_subprocess`.
    `timeout` is pytest-timeout's job here; it is kept so callers need not care. From another
    thread (the environment and signals are the process's) it starts the real process."""
    if threading.current_thread() is not threading.main_thread():
        return run_cli_subprocess(*args, env=env, cwd=cwd, timeout=timeout)
    from ci_collector.cli import main

    return run_main(main, list(args), cli_environment(env), cwd)


def run_cli_subprocess(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``ci-collector`` in a subprocess, with this checkout's source: for tests
    where the process boundary is the point (signals, locks, the interpreter's own exit)."""
    full_env = cli_environment(env)
    full_env["PYTHONPATH"] = str(ROOT / "src")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ci_collector", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """None of the developer's proxy settings (``*_proxy``/``*_PROXY``, ``NO_PROXY``; and
    ``REQUEST_METHOD``, under which proxy variables are ignored): tests set their own."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    return monkeypatch
