"""Telling a server that is not there (or not trusted) from one that answered and failed.

A refused connection or an unknown host on the first request means a wrong URL or no
network, and a certificate that does not verify means a missing CA (or a server that
is not the one meant): one line and exit 1, since retrying from cron will not fix it.
A connection that was accepted and then dropped or timed out is the server's passing
trouble: come back later (75).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

from urllib3.exceptions import NewConnectionError


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: causes, contexts, urllib3 reasons and first arguments."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            current.args[0] if current.args else None,
        ]


def never_connected(exc: BaseException) -> bool:
    """True when `exc` (from requests) failed before any connection was made."""
    return any(isinstance(e, NewConnectionError) for e in _chain(exc))  # also DNS failures


def untrusted_certificate(exc: BaseException) -> str | None:
    """The verification error when `exc` (requests or httpx) is a refused certificate."""
    for inner in _chain(exc):
        if isinstance(inner, ssl.SSLCertVerificationError):
            return inner.verify_message or "certificate verify failed"
    return None


def untrusted_message(what: str, url: str, reason: str) -> str:
    return (
        f"the TLS certificate of {what} at {url} was not accepted ({reason}); "
        "install its CA, or use --insecure if you trust this server"
    )
