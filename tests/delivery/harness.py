"""The real ``ci-collector`` in-process: `main` with a tiny collector of known runs.

The collector yields runs from `tests.runs` (an invalid one makes the strict Trunk
stand-in answer 400 for real), skipping what the state says is settled, exactly as the
platform collectors do.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from ci_collector import logs
from ci_collector.cli import cli, main
from ci_collector.commands.common import DeliveryConfig, collect, delivery_options
from ci_collector.model import Run
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


cli.add_command(tiny)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """`ci_collector.cli.main(args)`: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _env(env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        logs.configure(0, False, "text")  # bind the log handler to this stderr
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    names = [n for n in os.environ if n.startswith(("TRUNK_", "CI_COLLECTOR_", "JENKINS_"))]
    saved = {name: os.environ[name] for name in names}
    for name in names:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)
        os.environ.update(saved)
