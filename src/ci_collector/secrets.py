"""Keep tokens out of every byte the collector writes: logs, errors and files."""

from __future__ import annotations

import logging

_SECRETS: set[str] = set()
MASK = "***"


def register(*values: str | None) -> None:
    """Remember secret values so `redact` can mask them wherever they turn up."""
    for value in values:
        if value and len(value) >= 4:
            _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks registered secrets in a record's final message (and its exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True
