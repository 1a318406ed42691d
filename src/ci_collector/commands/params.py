"""Click parameter types over the shared parsers in `ci_collector.times`.

The parsers know nothing of click; these types turn their ValueError into a usage error
(exit 2, one line) naming the option.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import click

from ..times import parse_duration, parse_when


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
            self.fail(f"{value!r} is shorter than {self.minimum}", param, ctx)
        return parsed


class Seconds(click.FloatRange):
    """A finite number of seconds: ``nan`` and ``inf`` are refused, not slept on."""

    name = "SECONDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


WHEN = When()
