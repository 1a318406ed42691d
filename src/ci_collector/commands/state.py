"""``ci-collector state``: look at and reset what the collector remembers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from ..errors import UserError
from ..state import State, default_state_path
from ..terminal import printable
from .health import age_of, describe_age, open_existing
from .params import configure_logging, logging_options

state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    envvar="CI_COLLECTOR_STATE",
    help=f"State file [env CI_COLLECTOR_STATE; default {default_state_path()}].",
)


@click.group()
def state() -> None:
    """Inspect or reset the state file (cursors and delivered runs)."""


@state.command()
@state_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@logging_options
def show(state_path: str | None, as_json: bool, **log_flags: Any) -> int:
    """Cursors, delivered run counts and last success per source."""
    configure_logging(log_flags)
    with open_existing(state_path) as db:
        rows = db.sources()
    if as_json:
        click.echo(
            json.dumps(
                [
                    row.__dict__
                    if hasattr(row, "__dict__")
                    else {
                        "source": row.source,
                        "cursor": row.cursor,
                        "last_success": row.last_success,
                        "runs_delivered": row.runs_delivered,
                    }
                    for row in rows
                ],
                indent=2,
            )
        )
        return 0
    if not rows:
        click.echo("no sources yet")
    now = datetime.now(timezone.utc)
    for row in rows:
        cursor = json.dumps(row.cursor, sort_keys=True) if row.cursor else "-"
        age = describe_age(age_of(row, now))
        success = f"{row.last_success} ({age})" if row.last_success else "never"
        click.echo(
            f"{printable(row.source)}\truns delivered: {row.runs_delivered}\t"
            f"last success: {success}\tcursor: {printable(cursor)}"
        )
    return 0


@state.command()
@state_option
@click.option("--source", required=True, help="Source to forget, as `state show` prints it.")
@logging_options
def forget(state_path: str | None, source: str, **log_flags: Any) -> int:
    """Forget a source: its runs will be collected and sent again (same ids)."""
    configure_logging(log_flags)
    with State(state_path or default_state_path()) as db:
        db.lock(wait=True)
        if db.forget(source) == 0:
            raise UserError(f"--source {source!r}: no such source in the state file")
    click.echo(f"forgot {source}")
    return 0
