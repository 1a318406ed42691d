"""GETs sent straight to the urllib3 pool a `LimitedAdapter` built, without a requests session.

A requests session spends about half a millisecond of CPU on every request merging
settings, preparing, hooking and wrapping it, more than urllib3 spends sending it; a
backfill makes thousands. Here the adapter still chooses, once per thread, the pool a
request goes to (proxies, CA bundle, verification). Each GET then goes to that pool's
``urlopen`` with the arguments the adapter's ``send`` would pass (the paced retries,
``--timeout``, no redirects), under the same total deadline and body cap, and its
failures come out as the requests exceptions ``send`` raises, so callers and their
messages stay as they were. Without a proxy, a GET's first try is sent by
`firsttry.FirstTry`, which hands anything but a plain answer back to ``urlopen``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

import requests
from requests import exceptions as req_exc
from requests import utils as req_utils
from urllib3 import HTTPConnectionPool
from urllib3 import exceptions as u3_exc
from urllib3.util import Retry, Timeout

from .firsttry import FirstTry, Reply
from .transport import LimitedAdapter, read_capped, total_deadline

_DETECTOR: Any = getattr(requests.compat, "chardet", None)
"""requests' guesser of a body's charset (chardet or charset_normalizer), if installed."""

Answer = tuple[int, dict[str, str], bytes]
"""Status, response headers (lower-case names, repeated ones joined) and whole body."""


class PooledGetter:
    """GETs to one origin (``scheme://host:port``) through one thread's adapter pool.

    Not shared between threads: each worker makes its own, as each had its own session.
    """

    def __init__(
        self,
        origin: str,
        adapter: LimitedAdapter,
        *,
        timeout: float,
        verify: bool | str,
        proxies: Mapping[str, str],
        direct: bool = True,
    ) -> None:
        self.origin = origin
        self.adapter = adapter
        self._verify = verify
        self._proxies = dict(proxies)
        self._timeout = Timeout(connect=timeout, read=timeout)
        self._pool: Any = None
        self._absolute = False
        """An http:// origin through an HTTP proxy: the request line carries the whole URL."""
        self._direct = direct
        self._first: FirstTry | None = None
        """First tries sent without urllib3's request machinery (False: all through it)."""

    def _connection_pool(self) -> Any:
        """The pool (and request-line form) the adapter's ``send`` would pick, found once."""
        if self._pool is None:
            probe = requests.PreparedRequest()
            probe.prepare(method="GET", url=f"{self.origin}/")
            try:
                pool = self.adapter.get_connection_with_tls_context(
                    probe, self._verify, proxies=self._proxies
                )
            except u3_exc.LocationValueError as exc:
                raise req_exc.InvalidURL(exc) from exc
            verify_pool: Any = self.adapter.cert_verify  # untyped in types-requests
            verify_pool(pool, f"{self.origin}/", self._verify, None)
            self._absolute = not self.adapter.request_url(probe, self._proxies).startswith("/")
            self._pool = pool
            if self._direct and not self._absolute:
                self._first = FirstTry(cast(HTTPConnectionPool, pool), self._timeout)
        return self._pool

    def get(self, target: str, headers: Mapping[str, str]) -> Answer:
        """GET `target` (a path with its query); `DeadlinePassed`, `BodyTooLarge` or
        another `requests.RequestException` when no whole answer came."""
        pool = self._connection_pool()  # also learns whether the target must be absolute
        url = self.origin + target if self._absolute else target
        limit = self.adapter.max_body
        with total_deadline(self.adapter.total_seconds):
            try:
                raw = self._open(pool, url, headers)
            except (u3_exc.HTTPError, OSError) as exc:
                raise as_requests_error(exc) from exc
            if isinstance(raw, Reply):
                return raw.status, raw.headers, raw.read(limit)
            body = read_capped(raw, limit)
        received: dict[str, str] = {}
        for name in raw.headers:  # as requests reads them: repeated names joined by ", "
            received[name.lower()] = raw.headers[name]
        return raw.status, received, body

    def _open(self, pool: Any, url: str, headers: Mapping[str, str]) -> Any:
        """The first try straight (`FirstTry`), the rest through the pool's ``urlopen``."""
        retries: Any = self.adapter.max_retries
        if self._first is not None:
            tried = self._first.get(url, headers, retries)
            if not isinstance(tried, Retry):
                return tried
            retries = tried
        return pool.urlopen(
            "GET",
            url,
            body=None,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=retries,
            timeout=self._timeout,
            chunked=False,
        )

    def close(self) -> None:
        self.adapter.close()


def as_requests_error(exc: Exception) -> Exception:
    """The exception requests' ``HTTPAdapter.send`` raises for this urllib3 failure."""
    if isinstance(exc, u3_exc.MaxRetryError):
        reason = exc.reason
        if isinstance(reason, u3_exc.ConnectTimeoutError) and not isinstance(
            reason, u3_exc.NewConnectionError
        ):
            return req_exc.ConnectTimeout(exc)
        if isinstance(reason, u3_exc.ResponseError):
            return req_exc.RetryError(exc)
        if isinstance(reason, u3_exc.ProxyError):
            return req_exc.ProxyError(exc)
        if isinstance(reason, u3_exc.SSLError):
            return req_exc.SSLError(exc)
        return req_exc.ConnectionError(exc)
    if isinstance(exc, (u3_exc.ProtocolError, OSError, u3_exc.ClosedPoolError)):
        return req_exc.ConnectionError(exc)
    if isinstance(exc, u3_exc.ProxyError):
        return req_exc.ProxyError(exc)
    if isinstance(exc, u3_exc.SSLError):
        return req_exc.SSLError(exc)
    if isinstance(exc, u3_exc.ReadTimeoutError):
        return req_exc.ReadTimeout(exc)
    if isinstance(exc, u3_exc.InvalidHeader):
        return req_exc.InvalidHeader(exc)
    return exc


def text_of(headers: Mapping[str, str], body: bytes) -> str:
    """The body as requests' ``Response.text`` reads it: the charset the headers name
    (JSON: UTF-8, other text: Latin-1), else a guess; undecodable bytes replaced."""
    if not body:
        return ""
    encoding = req_utils.get_encoding_from_headers(headers)
    if encoding is None:
        encoding = _DETECTOR.detect(body)["encoding"] if _DETECTOR is not None else "utf-8"
    try:
        return str(body, encoding or "utf-8", errors="replace")
    except (LookupError, TypeError):
        return str(body, errors="replace")


def environment_settings(url: str, verify: bool | str) -> tuple[dict[str, str], bool | str]:
    """Proxies and CA bundle for `url` from the environment, read once, as a requests
    session would on every request (``*_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE``)."""
    with requests.Session() as session:
        settings = session.merge_environment_settings(url, {}, None, verify, None)
    found = settings["verify"]
    return dict(settings["proxies"]), verify if found is None else found


class ThreadGetters:
    """One `PooledGetter` per thread, closed together."""

    def __init__(self, make: Callable[[], PooledGetter]) -> None:
        self._make = make
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[PooledGetter] = []

    def get(self) -> PooledGetter:
        getter: PooledGetter | None = getattr(self._local, "getter", None)
        if getter is None:
            getter = self._local.getter = self._make()
            with self._lock:
                self._all.append(getter)
        return getter

    def close(self) -> None:
        with self._lock:
            for getter in self._all:
                getter.close()
            self._all.clear()
        self._local = threading.local()
