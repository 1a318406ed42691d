"""Telling a server that is not there from one that answered and then failed.

A refused connection or an unknown host on the first request means a wrong URL or no
network: one line and exit 1, since retrying from cron will not fix it. A connection
that was accepted and then dropped or timed out is the server's passing trouble:
come back later (75).
"""

from __future__ import annotations

from urllib3.exceptions import NewConnectionError


def never_connected(exc: BaseException) -> bool:
    """True when `exc` (from requests) failed before any connection was made."""
    seen: set[int] = set()
    current: object = exc
    while isinstance(current, BaseException) and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError):  # also NameResolutionError
            return True
        reason = getattr(current, "reason", None)
        arg = current.args[0] if current.args else None
        current = reason if isinstance(reason, BaseException) else arg
    return False
