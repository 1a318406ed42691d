"""PyGithub's requests session, fitted with the project's one HTTP behaviour.

Apart from the client because it reaches into a PyGithub private hook: when a PyGithub
release moves it, this is the one place to look.
"""

from __future__ import annotations

import logging
from typing import Any

from ...transport import LimitedAdapter, limit_session

log = logging.getLogger(__name__)


def install_adapter(requester: Any, adapter: LimitedAdapter, timeout: float) -> None:
    """Have PyGithub's requests session use `adapter` (deadline, body cap, paced retries)
    and ``--timeout`` as given (PyGithub only takes whole seconds).

    PyGithub builds its session lazily in a connection object of the class it chose for
    the URL's scheme; this wraps that class so every session it makes gets the adapter.
    """
    attribute = "_Requester__connectionClass"
    make = getattr(requester, attribute, None)
    if make is None:  # a PyGithub without this hook: its own adapter, no body cap
        log.debug("PyGithub has no connection class hook; HTTP limits not installed")
        return

    def connection(*args: Any, **kwargs: Any) -> Any:
        made = make(*args, **kwargs)
        made.timeout = timeout
        limit_session(made.session, adapter)
        return made

    setattr(requester, attribute, connection)
