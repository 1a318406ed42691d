"""``ci-collector health``: is every source still succeeding? For monitoring.

A poll that keeps ending in 75 ("come back later") looks like success to cron and systemd;
this check turns "no success for longer than --max-staleness" into a non-zero exit that a
timer, a Kubernetes probe or a monitoring agent can alert on.
"""

from __future__ import annotations

import fnmatch
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from ..errors import EXIT_OK, EXIT_PARTIAL, UserError
from ..state import SourceSummary, State, default_state_path
from ..terminal import printable
from ..times import iso_to_ms
from .params import Duration, configure_logging, logging_options


def open_existing(state_path: str | None) -> State:
    """The state file, refusing (exit 2) rather than creating one where none is."""
    path = Path(state_path) if state_path else default_state_path()
    if not path.is_file():
        raise UserError(f"no state file at {path}: check --state (or CI_COLLECTOR_STATE)")
    return State(path)


def age_of(summary: SourceSummary, now: datetime) -> timedelta | None:
    """How long ago the source last succeeded; None if never (or unreadable)."""
    ms = iso_to_ms(summary.last_success)
    if ms is None:
        return None
    return now - datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def describe_age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 120:
        return f"{minutes}m ago"
    if minutes < 48 * 60:
        return f"{minutes // 60}h ago"
    return f"{minutes // (24 * 60)}d ago"


@click.command()
@click.option(
    "--max-staleness",
    type=Duration(minimum=timedelta(minutes=1)),
    default="24h",
    show_default=True,
    envvar="CI_COLLECTOR_MAX_STALENESS",
    help="Fail when a source has not completed a poll for this long (6h, 2d...).",
)
@click.option(
    "--source",
    "patterns",
    multiple=True,
    metavar="GLOB",
    help="Only sources matching this glob, as `state show` prints them (repeatable).",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    envvar="CI_COLLECTOR_STATE",
    help=f"State file [env CI_COLLECTOR_STATE; default {default_state_path()}].",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@logging_options
def health(
    max_staleness: timedelta,
    patterns: tuple[str, ...],
    state_path: str | None,
    as_json: bool,
    **log_flags: Any,
) -> int:
    """Exit 1 when a source has not succeeded within --max-staleness (0 when all have).

    A success is a poll that completed (even with nothing new). Run it from a timer or a
    probe after the collector; it reads the state file and makes no request.
    """
    configure_logging(log_flags)
    with open_existing(state_path) as db:
        rows = [
            row
            for row in db.sources()
            if not patterns or any(fnmatch.fnmatchcase(row.source, p) for p in patterns)
        ]
    if not rows:
        what = "no source matches --source" if patterns else "no source has polled yet"
        raise UserError(f"{what} in {db.path}")
    now = datetime.now(timezone.utc)
    verdicts = []
    for row in rows:
        age = age_of(row, now)
        stale = age is None or age > max_staleness
        verdicts.append((row, age, stale))
    if as_json:
        entries = [
            {
                "source": row.source,
                "last_success": row.last_success,
                "age_seconds": None if age is None else int(age.total_seconds()),
                "stale": stale,
            }
            for row, age, stale in verdicts
        ]
        click.echo(json.dumps(entries, indent=2))
    else:
        for row, age, stale in verdicts:
            verdict = "STALE" if stale else "ok"
            click.echo(
                f"{verdict}\t{printable(row.source)}\tlast success: {describe_age(age)}"
                f" ({row.last_success or 'never'})"
            )
    stale_count = sum(stale for _, _, stale in verdicts)
    if stale_count:
        click.echo(
            f"ci-collector: {stale_count} of {len(verdicts)} sources have not succeeded "
            f"in {max_staleness}",
            err=True,
        )
        return EXIT_PARTIAL
    return EXIT_OK
