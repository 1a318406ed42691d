"""Keep tokens out of every byte the collector writes: logs, errors and files."""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .errors import UserError

_SECRETS: set[str] = set()
MASK = "***"


def register(*values: str | None) -> None:
    """Remember secret values so `redact` can mask them wherever they turn up."""
    for value in values:
        if value and len(value) >= 4:
            _SECRETS.add(value)


def clean_token(name: str, value: str | None) -> str | None:
    """A token as pasted, without the whitespace secrets files add; refused if more is wrong.

    A trailing newline would make every request fail (or be retried for minutes) with
    an error that never names the cause; a space or control character inside is not a
    token at all.
    """
    register(value)
    if value is None:
        return None
    token = value.strip()
    if any(char.isspace() or not char.isprintable() for char in token):
        raise UserError(f"{name} has a space or control character inside; set the token alone")
    if not token.isascii():  # HTTP headers cannot carry it: every request would crash
        raise UserError(f"{name} has a character that is not ASCII; tokens are ASCII")
    register(token)
    return token or None


def split_credentials(option: str, url: str) -> tuple[str, str | None, str | None]:
    """``https://user:TOKEN@host/`` -> (``https://host/``, user, token), the token a secret.

    Userinfo must never reach a message, the state's source names or an event id.
    """
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return url, None, None  # not a URL at all: the caller's own check says so
    if user is None and password is None:
        return url, None, None
    for value in (password, user if password is None else None):
        if value:
            register(value, quote(value, safe=""), unquote(value))
    host = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) if user else None, unquote(password) if password else None


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
