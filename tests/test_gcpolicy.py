"""A command-line run collects garbage less often; a test calling `main` keeps the defaults."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_collector import gcpolicy
from tests.conftest import run_cli


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds, settings = gc.get_threshold(), dict(gcpolicy._settings)
    yield
    gc.set_threshold(*thresholds)
    gcpolicy._settings.update(settings)
    gc.unfreeze()


def test_calling_main_in_process_leaves_the_collector_alone(tmp_path: Path) -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    result = run_cli(
        "github",
        "--repo",
        "acme/widgets",
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"GITHUB_API_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode != 0  # nothing listens there; the run still got to collect()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == frozen


def test_a_batch_process_raises_the_thresholds_and_freezes_after_imports(
    restored_gc: None,
) -> None:
    gcpolicy.imports_done()
    assert gc.get_freeze_count() == 0  # not a batch process: nothing frozen
    gcpolicy.batch_process()
    assert gc.get_threshold() == gcpolicy.BATCH_THRESHOLDS
    gcpolicy.imports_done()
    assert gc.get_freeze_count() > 0


def test_the_module_entry_point_runs_as_a_batch_process() -> None:
    probe = (
        "import gc, sys; from ci_collector import cli;"
        "cli.main = lambda: print(gc.get_threshold());"
        "cli.entry()"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(gcpolicy.BATCH_THRESHOLDS)
