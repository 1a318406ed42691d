"""POSTs straight through a urllib3 pool: what the Trunk sink needs of an HTTP client.

Through httpx, 560 POSTs of 70 kB cost 0.6 s of client CPU (h11's parser, httpx's
request and response models) where a urllib3 pool spends 0.25 s, and importing httpx
costs 0.12 s at every start. The sink keeps its own retry loop; a `Poster` sends one
request and says what happened: an `Answer`, or a `TransportFailure` whose class name
says how the exchange failed (the words of the sink's retry log).

Settings are the ones the sink had with httpx: its TLS context (`tls.tls_context`, or
``--trunk-ca-bundle``'s), the proxy httpx would have taken from the environment
(`proxies.proxy_for`, credentials sent as ``Proxy-Authorization``), one timeout for
connecting and for each read, and no redirect followed (a 3xx is the answer). Like every
request of the platform clients, a POST also ends at its total deadline (10x the timeout,
or the invocation's ``--deadline``), however slowly the answer trickles in.
"""

from __future__ import annotations

import base64
import codecs
import logging
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from urllib3 import HTTPConnectionPool, PoolManager, ProxyManager
from urllib3 import exceptions as u3_exc
from urllib3.util import Retry, Timeout

from .errors import UserError
from .proxies import proxy_for
from .tls import tls_context
from .transport import TrackedHTTPPool, TrackedHTTPSPool, deadline_scope, late, request_deadline

log = logging.getLogger(__name__)

_NO_RETRIES = Retry(total=False, redirect=False)
"""urllib3 raises each failure as it happens: the caller's loop decides about retrying."""


class TransportFailure(Exception):
    """No complete answer came; `problem` (the class name) is what the retry log shows."""

    @property
    def problem(self) -> str:
        return type(self).__name__


class ConnectError(TransportFailure):
    """No connection: refused, host unknown, network unreachable."""


class ConnectTimeout(TransportFailure):
    """The connection was not set up within the timeout."""


class ReadTimeout(TransportFailure):
    """The server went quiet for longer than the timeout while answering."""


class WriteTimeout(TransportFailure):
    """The body could not be sent within the timeout."""


class ConnectionDropped(TransportFailure):
    """The connection was closed or reset before the whole answer arrived."""


class ProxyError(TransportFailure):
    """The proxy could not be reached or would not open a tunnel."""


class TLSError(TransportFailure):
    """The TLS handshake or stream failed (a refused certificate is one: see `unreachable`)."""


class BadAnswer(TransportFailure):
    """The answer could not be read as HTTP (or its content-encoding was broken)."""


class NoCompleteAnswer(TransportFailure):
    """The total deadline passed first (the answer trickled, or ``--deadline`` came)."""

    @property
    def problem(self) -> str:
        return str(self.args[0])


class Answer:
    """Status, headers (case-insensitive) and whole body of one answer."""

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body decoded as httpx decodes it: the charset named, else UTF-8."""
        return self.content.decode(_charset(self.headers.get("content-type", "")), "replace")


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("'\"")
            try:
                return codecs.lookup(charset).name
            except LookupError:
                break
    return "utf-8"


class _QuietHTTPSPool(TrackedHTTPSPool):
    """urllib3's HTTPS pool without its per-connection warning when verification is off:
    ``--trunk-insecure`` already warned once, as it did when httpx sent (which never warns)."""

    def _validate_conn(self, conn: Any) -> None:
        HTTPConnectionPool._validate_conn(self, conn)  # skips only HTTPSConnectionPool's warning
        if conn.is_closed:
            conn.connect()


def without_credentials(url: str) -> str:
    """`url` with no ``user:password@``: for logs, and never sent as Basic auth."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class Poster:
    """POSTs to one URL over kept-alive connections (urllib3's pool: safe across threads)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext,
        headers: Mapping[str, str],
    ) -> None:
        self.url = without_credentials(url)
        self._headers = dict(headers)
        self._timeout = Timeout(connect=timeout, read=timeout)
        self._total = request_deadline(timeout)
        proxy = proxy_for(self.url)
        self._manager = (
            _manager(proxy, ssl_context) if proxy else PoolManager(ssl_context=ssl_context)
        )
        self._manager.pool_classes_by_scheme = {
            "http": TrackedHTTPPool,
            "https": _QuietHTTPSPool,
        }
        self._proxied = proxy is not None
        parts = urlsplit(self.url)
        self._target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self._pool = None if proxy else self._manager.connection_from_url(self.url)

    def post(self, body: bytes) -> Answer:
        """One POST of `body`: the answer, whatever its status, or a `TransportFailure`."""
        with deadline_scope(self._total) as deadline:  # its connection is cut when it passes
            try:
                if self._pool is not None:
                    raw = self._pool.urlopen("POST", self._target, **self._arguments(body))
                else:  # the proxy manager picks a tunnel or the absolute form, and its headers
                    raw = self._manager.urlopen("POST", self.url, **self._arguments(body))
            except (u3_exc.HTTPError, OSError) as exc:
                if deadline.expired:
                    raise NoCompleteAnswer(late(deadline)) from exc
                raise as_failure(exc) from exc
            if deadline.expired:
                raise NoCompleteAnswer(late(deadline))
        answer = Answer(raw.status, raw.headers, raw.data)
        log.debug(
            "POST %s: HTTP %d (%d bytes sent, %d received)",
            self.url,
            answer.status_code,
            len(body),
            len(answer.content),
        )
        return answer

    def _arguments(self, body: bytes) -> dict[str, Any]:
        return {
            "body": body,
            "headers": self._headers,
            "redirect": False,
            "assert_same_host": False,
            "retries": _NO_RETRIES,
            "timeout": self._timeout,
            "preload_content": True,
            "decode_content": True,
        }

    def close(self) -> None:
        self._manager.clear()


def _manager(proxy: str, ssl_context: ssl.SSLContext) -> ProxyManager:
    """A urllib3 proxy manager for `proxy` as httpx used it: its credentials as Basic
    ``Proxy-Authorization``, the proxy's own certificate checked against the default
    trust store (``--trunk-ca-bundle`` and ``--trunk-insecure`` are for Trunk's)."""
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https"):
        raise UserError(
            f"proxy {without_credentials(proxy)} for Trunk: only http:// and https:// "
            "proxies are supported (set HTTPS_PROXY/NO_PROXY)"
        )
    return ProxyManager(
        without_credentials(proxy),
        proxy_headers=proxy_authorization(proxy),
        proxy_ssl_context=tls_context(True),
        ssl_context=ssl_context,
    )


def proxy_authorization(proxy: str) -> dict[str, str]:
    """The header httpx sent a proxy whose URL carries ``user:password@`` (unquoted)."""
    parts = urlsplit(proxy)
    if not (parts.username or parts.password):
        return {}
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def as_failure(exc: Exception) -> TransportFailure:
    """The `TransportFailure` a urllib3 (or socket) failure is: the wrapped cause kept as
    the first argument, so `unreachable.untrusted_certificate` still finds it."""
    if isinstance(exc, u3_exc.ProxyError):
        return ProxyError(exc)
    if isinstance(exc, u3_exc.NewConnectionError):  # also DNS failures
        return ConnectError(exc)
    if isinstance(exc, u3_exc.ConnectTimeoutError):
        return ConnectTimeout(exc)
    if isinstance(exc, u3_exc.ReadTimeoutError):
        return ReadTimeout(exc)
    if isinstance(exc, u3_exc.SSLError):
        return TLSError(exc)
    if isinstance(exc, u3_exc.ProtocolError):
        inner = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(inner, TimeoutError):
            return WriteTimeout(exc)
        return ConnectionDropped(exc)
    if isinstance(exc, ConnectionError):
        return ConnectionDropped(exc)
    if isinstance(exc, TimeoutError):
        return ReadTimeout(exc)
    return BadAnswer(exc)
