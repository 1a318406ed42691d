"""Click parameter types over the shared parsers in `ci_collector.times`.

The parsers know nothing of click; these types turn their ValueError into a usage error
(exit 2, one line) naming the option.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click

from .. import logs
from ..times import parse_duration, parse_when

F = TypeVar("F", bound=Callable[..., Any])


class When(click.ParamType[datetime]):
    """``--since``/``--until``: an ISO date/time or an age (``90d``), as a UTC datetime."""

    name = "WHEN"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_when(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Duration(click.ParamType[timedelta]):
    """A length of time: ``3d``, ``12h``, ``90m``, ``2w`` (a bare number is days)."""

    name = "DURATION"

    def __init__(self, minimum: timedelta = timedelta(0)) -> None:
        self.minimum = minimum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        else:
            try:
                parsed = parse_duration(str(value))
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if parsed < self.minimum:
            self.fail(f"{value!r} is shorter than {_spoken(self.minimum)}", param, ctx)
        return parsed


def _spoken(length: timedelta) -> str:
    """``1h`` rather than ``1:00:00``: the way the option is typed."""
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Seconds(click.FloatRange):
    """A finite number of seconds: ``nan`` and ``inf`` are refused, not slept on."""

    name = "SECONDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


WHEN = When()


def lookback_option(help: str) -> Callable[[F], F]:
    """``--lookback``: how far behind the cursor every poll re-lists (same default everywhere)."""
    return click.option(
        "--lookback",
        type=Duration(),
        default="3d",
        show_default=True,
        envvar="CI_COLLECTOR_LOOKBACK",
        help=help,
    )


def logging_options(func: F) -> F:
    """``--verbose``/``--quiet``/``--log-format``, applied to every command.

    The same flags are accepted before the subcommand (`ci-collector -q github ...`);
    `configure_logging` combines both places.
    """
    func = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default=None,
        envvar="CI_COLLECTOR_LOG_FORMAT",
        help="Log lines for people (text, the default), or JSON for shippers; "
        "also accepted before the subcommand, like -v and -q.",
    )(func)
    func = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        envvar="CI_COLLECTOR_QUIET",
        help="Only errors on stderr.",
    )(func)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        envvar="CI_COLLECTOR_VERBOSE",
        help="More detail (-vv also shows every HTTP request).",
    )(func)


def configure_logging(options: dict[str, Any]) -> None:
    """Pop the logging flags out of a command's keyword arguments and apply them."""
    logs.configure(options.pop("verbose"), options.pop("quiet"), options.pop("log_format"))
