"""Many repositories in one invocation (``--org``): a fair share of one budget, and no
idle wait between repositories.

Repositories are polled in turns of at most `TURN` runs each, round-robin, so one
repository's long backfill cannot spend the token's budget before the others were
polled at all. And an idle poll of 200 repositories is 200 conditional list requests
that each wait for GitHub: their first pages are requested ahead (up to --concurrency
in flight, paced like every other request) and each repository's poll finds its
answer waiting when its turn comes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

from ...errors import CollectorError
from ...prefetch import OrderedPrefetch
from .client import Answer, GitHubClient

T = TypeVar("T")

TURN = 100
"""Runs one repository may hand on before the next repository's turn (one list page)."""

FirstPage = tuple[str, dict[str, str | int], str | None]
"""Path, query and the ETag to send of a repository's first list request."""
Early = tuple[str, str | None, Answer | CollectorError]


def round_robin(streams: Iterable[Iterator[T]], turn: int = TURN) -> Iterator[T]:
    """Up to `turn` items from each stream in turn until every stream is done."""
    active = deque(streams)
    while active:
        stream = active.popleft()
        for taken, item in enumerate(stream, 1):
            yield item
            if taken >= turn:
                active.append(stream)
                break


def early_first_pages(
    client: GitHubClient, prefetch: OrderedPrefetch, pages: Iterable[FirstPage | None]
) -> Iterator[Early | None]:
    """Each repository's first list answer, in repository order, fetched ahead."""

    def fetch(page: FirstPage | None) -> Early | None:
        return None if page is None else client.fetch_early(*page)

    return prefetch.map(fetch, pages)
