"""A command-line run freezes its imported objects; a test calling `main` does not."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_collector import gcpolicy
from tests.conftest import ROOT, run_cli


@pytest.fixture
def restored_gc() -> Iterator[None]:
    settings = dict(gcpolicy._settings)
    thresholds = gc.get_threshold()
    yield
    gcpolicy._settings.update(settings)
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_calling_main_in_process_leaves_the_collector_alone(tmp_path: Path) -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    result = run_cli(
        "github",
        "--repo",
        "acme/widgets",
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"GITHUB_API_URL": "http://127.0.0.1:9", "CI_COLLECTOR_RETRY_BASE": "0.001"},
    )
    assert result.returncode != 0  # nothing listens there; the run still got to collect()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == frozen


def test_a_batch_process_freezes_after_imports_and_collects_the_young_less_often(
    restored_gc: None,
) -> None:
    thresholds = gc.get_threshold()
    gcpolicy.imports_done()
    assert gc.get_freeze_count() == 0  # not a batch process: nothing frozen
    assert gc.get_threshold() == thresholds
    gcpolicy.batch_process()
    gcpolicy.imports_done()
    assert gc.get_freeze_count() > 0
    # rarer young passes, but not so rare that httpx's cycles pile up; the rest as it was
    assert gc.get_threshold() == (gcpolicy.YOUNGEST_THRESHOLD, *thresholds[1:])


def test_the_module_entry_point_runs_as_a_batch_process() -> None:
    probe = (
        "import gc, sys; from ci_collector import cli;"
        "from ci_collector import gcpolicy;"
        "cli.main = lambda: (gcpolicy.imports_done(), print(gc.get_freeze_count()));"
        "cli.entry()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout's code
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    assert int(out.stdout.strip()) > 0
