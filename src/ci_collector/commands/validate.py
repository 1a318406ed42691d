"""``ci-collector validate``: check a dry-run file before (or instead of) sending it."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import click

from ..validate import validate_lines
from .params import configure_logging, logging_options


@click.command()
@click.argument("file", type=click.File("rb"))
@logging_options
def validate(file: BinaryIO, **log_flags: Any) -> int:
    """Check JSON-lines request bodies (as written by --output) against Trunk's contract.

    Prints every problem with its field path, e.g. `line 1: events[3].finishedAt: earlier
    than createdAt`, and exits 1 if there is any. Parents outside the file are warnings;
    a file without any body is an error.
    """
    configure_logging(log_flags)
    report = validate_lines(file)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    errors = list(report.errors)
    if report.bodies == 0:  # a dry run that wrote nothing is not a valid delivery
        errors.append(f"no request bodies in {getattr(file, 'name', '<stdin>')} (empty file?)")
    for error in errors:
        click.echo(error)
    verdict = "invalid" if errors else "valid"
    click.echo(
        f"{verdict}: {report.bodies} bodies, {report.events} events, "
        f"{len(errors)} errors, {len(report.warnings)} warnings",
        err=True,
    )
    sys.stdout.flush()
    return 1 if errors else 0
