"""Walking paged listings, the same way for every platform.

A caller says how to fetch a page and where its items are; this module owns when to
stop, so every listing costs the same, predictable number of requests: a short page
ends a numbered listing, as does reaching the total the server announced; a token
listing ends when no next token comes (or after `max_pages`, against a server that
never stops handing them out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import RemoteError


def numbered_pages(
    fetch: Callable[[int], Any],
    items_of: Callable[[Any, int], list[Any]],
    *,
    per_page: int,
    total_of: Callable[[Any], int | None] | None = None,
    first: Any = None,
) -> Iterator[list[Any]]:
    """The items of pages 1, 2, ... of a ``page=N`` listing, one list per page.

    `fetch(n)` returns page n's body (page 1 may be given as `first` when the caller
    already has it); `items_of(body, n)` returns its items (raising on a malformed page);
    `total_of(body)`, when given, is how many items the whole listing holds.
    """
    page = 1
    body = fetch(1) if first is None else first
    seen = 0
    while True:
        items = items_of(body, page)
        total = total_of(body) if total_of is not None else None
        del body  # a suspended caller must not keep a page alive while it works
        yield items
        seen += len(items)
        if len(items) < per_page or (total is not None and seen >= total):
            return
        page += 1
        body = fetch(page)


def token_pages(
    fetch: Callable[[str | None], Any],
    items_of: Callable[[Any], list[Any]],
    token_of: Callable[[Any], str | None],
    *,
    max_pages: int,
    too_many: Callable[[], Exception],
) -> Iterator[list[Any]]:
    """The items of a ``next_page_token`` listing, one list per page; lazy, so a caller
    that stops early fetches no further page."""
    token: str | None = None
    for _ in range(max_pages):
        body = fetch(token)
        items = items_of(body)
        token = token_of(body)
        del body
        yield items
        if not token:
            return
    raise too_many()


def listed_items(body: Any, what: str, key: str | None = None) -> list[Any]:
    """The items of one page: the body itself, or its `key` array."""
    items = body.get(key) if key is not None and isinstance(body, dict) else body
    if not isinstance(items, list):
        raise RemoteError(f"{what} is malformed" if key else f"{what} is not a list")
    return items


def total_count(body: Any) -> int | None:
    """GitHub's ``total_count`` of a listing, None when absent."""
    total = body.get("total_count") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None
