from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.trunk import TrunkStandIn, running_trunk

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
CASSETTES = ROOT / "cassettes"


@pytest.fixture
def trunk() -> Iterator[TrunkStandIn]:
    with running_trunk() as stand_in:
        yield stand_in


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``ci-collector`` in a subprocess, with this checkout's source."""
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("TRUNK_", "GITHUB_", "JENKINS_", "CIRCLECI_", "CI_COLLECTOR_", "OTEL_")
        )
    }
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
