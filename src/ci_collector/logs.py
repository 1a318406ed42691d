"""Logging set-up: text for people, JSON lines for log shippers, secrets always masked."""

from __future__ import annotations

import json
import logging
import sys
import time

from .secrets import RedactingFilter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure(verbose: int = 0, quiet: bool = False, log_format: str = "text") -> None:
    """Ours at INFO (DEBUG with -v); libraries at ERROR (-v: WARNING, -vv: DEBUG)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries retry and complain on their own; we report the outcome, so their
    # warnings only show with -v (and their requests with -vv).
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING if verbose else logging.ERROR)
    ours = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    logging.getLogger("ci_collector").setLevel(ours)
