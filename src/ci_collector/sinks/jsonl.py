"""The dry run: each request body that would be POSTed, one per line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from .base import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_EVENTS, BatchingSink


class OutputFailed(Exception):
    """Writing the dry-run file failed (a full disk): kept apart from network OSErrors."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class JsonlSink(BatchingSink):
    """Writes request bodies exactly as `TrunkSink` would send them (``-`` is stdout)."""

    def __init__(
        self,
        path: str | Path,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        super().__init__(batch_events, batch_bytes)
        self._owned = str(path) != "-"
        self._out: BinaryIO = open(path, "wb") if self._owned else sys.stdout.buffer  # noqa: SIM115

    def _deliver(self, body: bytes, events: int) -> bool:
        try:
            self._out.write(body + b"\n")
            self._out.flush()
        except OSError as exc:
            raise OutputFailed(exc) from None
        self.stats.requests += 1
        return True

    def close(self) -> None:
        if self._owned:
            self._out.close()
