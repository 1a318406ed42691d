"""The real ``ci-collector`` in-process: `main` with a tiny collector of known runs.

The collector yields runs from `tests.runs` (an invalid one makes the strict Trunk
stand-in answer 400 for real), skipping what the state says is settled, exactly as the
platform collectors do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from ci_collector.cli import cli
from ci_collector.commands.common import DeliveryConfig, collect, delivery_options
from ci_collector.model import Run
from tests.conftest import run_cli
from tests.runs import make_run

RUNS: list[Run] = []
"""What the next ``tiny`` invocation collects."""


def good(run_id: int) -> Run:
    return make_run(run_id)


def bad(run_id: int) -> Run:
    """Trunk refuses it (platform not snake_case): the stand-in's own contract check."""
    return make_run(run_id, platform="GitHub Actions")


@click.command()
@delivery_options
def tiny(**options: Any) -> int:
    """A stand-in collector of `RUNS`."""
    config = DeliveryConfig.from_options(options)
    return collect(
        config,
        lambda state, skip: (
            run for run in list(RUNS) if not state.is_delivered(run.natural_key, run.fingerprint)
        ),
    )


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """`ci_collector.cli.main(args)` in this process (tests/inprocess.py: environment,
    logging and secrets put back afterwards): exit code, stdout, stderr."""
    cli.add_command(tiny)  # only for this call: other tests see the group as shipped
    try:
        done = run_cli(*args, env=env)
    finally:
        cli.commands.pop("tiny", None)
    return Result(done.returncode, done.stdout, done.stderr)
