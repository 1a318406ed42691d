"""``ci-collector report``: what CI dashboards answer, from the local store, with no account."""

from __future__ import annotations

import logging
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from ..eventstore import EventStore, load_request_bodies
from ..report import ReportQuery, build_report
from ..report.render_html import render_html
from ..report.render_json import render_json
from ..report.render_text import render_text
from ..state import default_state_path
from .files import check_writable, write_failed
from .params import WHEN, Duration, configure_logging, logging_options

log = logging.getLogger("ci_collector")


@click.command("report")
@click.option(
    "--window",
    type=Duration(minimum=timedelta(hours=1)),
    default="30d",
    show_default=True,
    help="How far back to look; the trend compares with the window before it.",
)
@click.option(
    "--until",
    type=WHEN,
    default=None,
    help="End of the window (date, time or age like 7d) [default: now].",
)
@click.option("--repo", metavar="OWNER/NAME", help="Only this repository.")
@click.option("--branch", help="Only runs of this branch.")
@click.option(
    "--platform",
    type=click.Choice(["github_actions", "jenkins", "circleci"]),
    help="Only this CI platform.",
)
@click.option(
    "--default-branch",
    "default_branches",
    multiple=True,
    metavar="NAME",
    help="Branch names of the 'default branch' class (repeatable) [default: main, master].",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Rows in the flaky-job and slowest-step lists.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write the report here [default: stdout].",
)
@click.option(
    "--width",
    type=click.IntRange(40, 1000),
    envvar="CI_COLLECTOR_WIDTH",
    help="Columns of the text report [default: the terminal's width, or $COLUMNS, else 120]; "
    "narrower reports show fewer metric columns rather than wrap.",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, exists=True),
    help="Report on a JSON-lines file of request bodies (an --output dry run) "
    "instead of the local store.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    envvar="CI_COLLECTOR_STATE",
    help=f"State file holding the store [env CI_COLLECTOR_STATE; default {default_state_path()}].",
)
@logging_options
def report(
    window: timedelta,
    until: datetime | None,
    repo: str | None,
    branch: str | None,
    platform: str | None,
    default_branches: tuple[str, ...],
    limit: int,
    output_format: str,
    output: str,
    width: int | None,
    input_path: str | None,
    state_path: str | None,
    **log_flags: Any,
) -> int:
    """Success rate, durations, queue time, MTTR, flaky jobs and slow steps, per workflow.

    Reads the events stored by a collector run without TRUNK_API_TOKEN (or with --store).
    """
    configure_logging(log_flags)
    check_writable(output, "--output")
    store = _open_store(input_path, state_path)
    try:
        end = until or datetime.now(timezone.utc)
        end_ms = int(end.timestamp() * 1000)
        log.debug("report window %s .. %s", end - window, end)
        query = ReportQuery(
            start_ms=end_ms - int(window.total_seconds() * 1000),
            end_ms=end_ms,
            repo=repo,
            branch=branch,
            platform=platform,
            default_branches=default_branches or ("main", "master"),
            limit=limit,
        )
        second = store.reader()
        try:
            result = build_report(store.db, query, second)
        finally:
            if second is not None:
                second.close()
    finally:
        store.close()
    if output_format == "json":
        text = render_json(result)
    elif output_format == "html":
        text = render_html(result)
    else:
        columns = width or shutil.get_terminal_size(fallback=(120, 24)).columns
        text = render_text(result, width=columns, color=output == "-" and sys.stdout.isatty())
    if output == "-":
        click.echo(text, nl=False)
    else:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise write_failed("--output", output, exc) from None
        click.echo(f"report written to {output}", err=True)
    return 0


def _open_store(input_path: str | None, state_path: str | None) -> EventStore:
    if input_path is not None:
        store = EventStore(":memory:")
        try:
            with open(input_path, encoding="utf-8") as lines:
                load_request_bodies(store, lines, input_path)
        except (OSError, UnicodeDecodeError) as exc:
            store.close()
            raise UserError(f"--input {input_path}: {exc}") from None
        except BaseException:
            store.close()
            raise
        return store
    path = Path(state_path) if state_path else default_state_path()
    if not path.exists():
        raise UserError(
            f"no local store at {path}: run a collector without TRUNK_API_TOKEN (or with "
            "--store) first, or pass --input FILE.jsonl"
        )
    return EventStore(path, read_only=True)  # a report never writes: works on any readable file
