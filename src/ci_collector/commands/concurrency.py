"""The ``--concurrency`` option every collecting command shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..prefetch import DEFAULT_CONCURRENCY

F = TypeVar("F", bound=Callable[..., Any])


def concurrency_option(func: F) -> F:
    return click.option(
        "--concurrency",
        type=click.IntRange(1, 64),
        default=DEFAULT_CONCURRENCY,
        show_default=True,
        envvar="CI_COLLECTOR_CONCURRENCY",
        help="Per-run requests in flight at once (1: one at a time). Runs are still "
        "sent in the same order, with the same bodies.",
    )(func)
