"""Progress for long work: a live line on a terminal, a periodic log line otherwise.

rich is imported only for the live line: a cron job or CI step never draws one, and
loading rich is a tenth of the collector's start-up.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from .pipeline import Summary

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text

log = logging.getLogger("ci_collector.progress")


class Progress:
    """Call with the running `Summary` after each run; cheap enough for every run."""

    def __init__(
        self,
        label: str,
        interactive: bool | None = None,
        log_every: float = 30.0,
        position: Callable[[], float | None] | None = None,
    ) -> None:
        self.label = label
        self.position = position
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.log_every = log_every
        self._started = time.monotonic()
        self._last_shown = float("-inf")
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.interactive:
            from rich.console import Console
            from rich.live import Live

            console = Console(stderr=True)
            self._live = Live(
                self._text(None), console=console, transient=True, refresh_per_second=4
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, value, traceback)

    def __call__(self, summary: Summary) -> None:
        now = time.monotonic()
        if self._live is not None:
            if now - self._last_shown >= 0.25:
                self._last_shown = now
                self._live.update(self._text(summary))
        elif now - self._last_shown >= self.log_every:
            self._last_shown = now
            log.info("%s", self._line(summary))

    def _text(self, summary: Summary | None) -> Text:
        from rich.text import Text

        return Text(self._line(summary))

    def _line(self, summary: Summary | None) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        runs = summary.runs if summary else 0
        events = summary.events if summary else 0
        delivered = summary.delivered_runs if summary else 0
        line = (
            f"{self.label}: {runs} runs read, {delivered} delivered, {events} events, "
            f"{runs / elapsed:.1f} runs/s, {elapsed:.0f}s"
        )
        done = self.position() if self.position is not None else None
        if done is not None and 0.0 < done < 1.0:
            line += f", ~{elapsed * (1 - done) / done:.0f}s left ({done:.0%})"
        return line
