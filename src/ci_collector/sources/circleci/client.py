"""A small CircleCI API v2 client: the token header, page tokens, retries and rate limits.

No SDK: the collector needs four GET endpoints, and owning the HTTP layer is what lets
it honour ``Retry-After``, bound its waiting, and count every request it makes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ... import __version__, jsonio
from ...errors import ComeBackLater, RemoteError
from ...retry import (
    BACKOFF_CAP,
    RETRYABLE_STATUS,
    RetryClock,
    default_backoff_base,
    retry_after,
)
from ...transport import DEFAULT_MAX_BODY_MB
from ...transport_httpx import ResponseTooLarge, limited_httpx_client
from ...unreachable import untrusted_certificate, untrusted_message
from ..paging import token_pages

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://circleci.com/api/v2"
MAX_PAGES = 10_000
"""A server that keeps handing out page tokens must not keep us here forever."""


class NotFound(Exception):
    """The API answered 404: the thing was deleted (or never visible to this token)."""


class Malformed(Exception):
    """The API answered 2xx with a body that is not the JSON object it documents."""


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0


class CircleCIClient:
    """GETs against one CircleCI API v2 base URL, with bounded retries on 429/5xx."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 30.0,
        verify: bool = True,
        retry_budget: float = 300.0,
        backoff_base: float | None = None,
        backoff_cap: float = BACKOFF_CAP,
        sleep: Callable[[float], None] = time.sleep,
        max_body_mb: float = DEFAULT_MAX_BODY_MB,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retry_budget = retry_budget
        self.backoff_base = default_backoff_base() if backoff_base is None else backoff_base
        self.backoff_cap = backoff_cap
        self.stats = ClientStats()
        self._answered = False
        self._sleep = sleep
        self._client = limited_httpx_client(
            timeout,
            int(max_body_mb * 1_048_576),
            verify=verify,
            headers={
                "Circle-Token": token,
                "Accept": "application/json",
                "User-Agent": f"ci-collector/{__version__}",
            },
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CircleCIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """One JSON object from `path` (relative to the API URL); retries what is worth it."""
        url = f"{self.api_url}{path}"
        clock = RetryClock(self.retry_budget, self.backoff_base, self.backoff_cap, self._sleep)
        while True:
            clock.start_attempt()
            self.stats.requests += 1
            try:
                response = self._client.get(url, params=params)
            except ResponseTooLarge as exc:
                raise RemoteError(f"CircleCI at {self.api_url}: {path}: {exc}") from None
            except httpx.TransportError as exc:
                reason = untrusted_certificate(exc)
                if reason is not None:
                    raise RemoteError(untrusted_message("CircleCI", self.api_url, reason)) from None
                if isinstance(exc, httpx.ConnectError) and not self._answered:
                    # nothing has ever answered: a wrong URL or no network, not a busy API
                    raise RemoteError(f"cannot reach CircleCI at {self.api_url}") from None
                problem, asked = _problem(exc), None
            else:
                self._answered = True
                status = response.status_code
                if 200 <= status < 300:
                    return _json_object(response, path)
                if status in (401, 403):
                    raise RemoteError(
                        f"CircleCI rejected the token (CIRCLECI_TOKEN) with HTTP {status} "
                        f"for {path}"
                    )
                if status == 404:
                    raise NotFound(path)
                if status not in RETRYABLE_STATUS:
                    raise RemoteError(f"CircleCI answered HTTP {status} for {path}")
                problem, asked = f"HTTP {status}", retry_after(response.headers)
            delay = clock.pause(f"CircleCI request {path}", problem, asked)
            if delay is None:
                raise ComeBackLater(
                    f"CircleCI still failing after {clock.attempts} attempts ({problem} for "
                    f"{path}); state is saved, run again later"
                )
            self.stats.retries += 1
            self.stats.waited_seconds += delay

    def items(self, path: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a ``{items, next_page_token}`` listing, one page at a time.

        Lazy on purpose: a caller that stops early (the --since window) fetches no
        further pages.
        """
        query = dict(params or {})

        def fetch(token: str | None) -> dict[str, Any]:
            if token is not None:
                query["page-token"] = token
            return self.get(path, query)

        def items_of(page: dict[str, Any]) -> list[Any]:
            items = page.get("items")
            if not isinstance(items, list):
                raise Malformed(f"{path}: no 'items' list")
            return items

        def token_of(page: dict[str, Any]) -> str | None:
            token = page.get("next_page_token")
            return token if isinstance(token, str) and token else None

        for items in token_pages(
            fetch,
            items_of,
            token_of,
            max_pages=MAX_PAGES,
            too_many=lambda: Malformed(f"{path}: more than {MAX_PAGES} pages"),
        ):
            for item in items:
                if not isinstance(item, dict):
                    raise Malformed(f"{path}: an item is not an object")
                yield item


def _problem(exc: httpx.TransportError) -> str:
    """What went wrong, in a few words: the exception's name, and the deadline if it was that."""
    text = str(exc)
    return (
        f"{type(exc).__name__}: {text}"
        if text.startswith("no complete answer")
        else (type(exc).__name__)
    )


def path_segment(value: str) -> str:
    """A project slug or id as it goes into a URL path (slashes kept, the rest quoted)."""
    return quote(value, safe="/")


def _json_object(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        body = jsonio.loads(response.content)
    except ValueError:
        raise Malformed(f"{path}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise Malformed(f"{path}: the answer is not a JSON object")
    return body
