"""Logging set-up: text for people, JSON lines for log shippers, secrets always masked."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass

from . import actions
from .secrets import RedactingFilter
from .terminal import printable, printable_lines


class NeutralisingFilter(logging.Filter):
    """Shows control characters in a record as escapes: names come from CI platforms, and a
    job called ``\\x1b]0;...`` must not drive the reader's terminal or split a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = printable_lines(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = printable_lines(record.exc_text)
        return True


class ActionsFormatter(logging.Formatter):
    """Inside GitHub Actions: warnings and errors as workflow commands (annotations)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.ERROR:
            return actions.workflow_command("error", text)
        if record.levelno >= logging.WARNING:
            return actions.workflow_command("warning", text)
        return f"{record.levelname} {text}"


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


@dataclass
class _Flags:
    verbose: int = 0
    quiet: bool = False
    log_format: str | None = None


# What the command line asked for before the subcommand (`ci-collector -q github ...`);
# a subcommand's own flags add to it.
_GLOBAL = _Flags()
# The format configured last: it also shapes the final error line.
_CURRENT = _Flags(log_format="text")


def reset(log_format: str | None = None) -> None:
    """Start of a command line: forget earlier flags (`log_format` as seen in the raw args)."""
    _GLOBAL.verbose, _GLOBAL.quiet, _GLOBAL.log_format = 0, False, log_format
    configure(0, False, None)


def set_global(verbose: int = 0, quiet: bool = False, log_format: str | None = None) -> None:
    """Flags given before the subcommand; configures logging with them right away."""
    _GLOBAL.verbose, _GLOBAL.quiet = verbose, quiet
    _GLOBAL.log_format = log_format or _GLOBAL.log_format
    configure(0, False, None)


def current_format() -> str:
    return _CURRENT.log_format or "text"


def final_error(message: str, exit_code: int) -> str:
    """The last line a failing command prints: plain text, or a JSON record under json logs."""
    message = printable(message)
    if current_format() != "json":
        if actions.in_actions():
            return actions.workflow_command("error", f"ci-collector: error: {message}")
        return f"ci-collector: error: {message}"
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "level": "error",
        "logger": "ci_collector",
        "message": message,
        "exit_code": exit_code,
    }
    return json.dumps(entry, ensure_ascii=False)


def configure(verbose: int = 0, quiet: bool = False, log_format: str | None = "text") -> None:
    """Ours at INFO (DEBUG with -v); libraries at ERROR (-v: WARNING, -vv: DEBUG).

    Flags given before the subcommand count too: ``-v`` there and ``-v`` after add up.
    """
    verbose = (verbose or 0) + _GLOBAL.verbose
    quiet = quiet or _GLOBAL.quiet
    log_format = log_format or _GLOBAL.log_format or "text"
    _CURRENT.log_format = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.addFilter(NeutralisingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif actions.in_actions():
        handler.setFormatter(ActionsFormatter("%(message)s"))
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
