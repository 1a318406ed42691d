"""POSTs straight through a urllib3 pool: what the Trunk sink needs of an HTTP client.

Through httpx, 560 POSTs of 70 kB cost 0.6 s of client CPU (h11's parser, httpx's
request and response models) where a urllib3 pool spends 0.25 s, and importing httpx
costs 0.12 s at every start. The sink keeps its own retry loop; a `Poster` sends one
request and says what happened: an `Answer`, or a `TransportFailure` whose class name
says how the exchange failed (the words of the sink's retry log).

Without a proxy, a POST goes straight through a kept-alive `http.client` connection
(`_Direct`): urllib3's pool and response objects cost 0.25 ms of CPU a POST over the
0.18 ms http.client itself spends, a second for every 4,000 bodies. Through a proxy,
urllib3's proxy manager still opens the tunnel or sends the absolute form.

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
import http.client
import logging
import queue
import select
import ssl
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from urllib3 import HTTPConnectionPool, HTTPHeaderDict, PoolManager, ProxyManager
from urllib3 import exceptions as u3_exc
from urllib3.util import Retry, Timeout

from .errors import UserError
from .proxies import proxy_for
from .tls import tls_context
from .transport import (
    TrackedHTTPPool,
    TrackedHTTPSPool,
    deadline_scope,
    late,
    request_deadline,
    track,
)

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
    """POSTs to one URL over kept-alive connections (safe across threads): straight, or
    through the proxy the environment names."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        headers: Mapping[str, str],
    ) -> None:
        """`ssl_context` may be a function that builds it: it is called only if a
        connection will need it (an https URL or proxy), since building one reads the
        whole CA bundle (50 ms and more) on every invocation."""
        self.url = without_credentials(url)
        self._headers = dict(headers)
        self._timeout = Timeout(connect=timeout, read=timeout)
        self._total = request_deadline(timeout)
        proxy = proxy_for(self.url)
        context: ssl.SSLContext | None = None
        if urlsplit(self.url).scheme == "https":
            context = ssl_context if isinstance(ssl_context, ssl.SSLContext) else ssl_context()
        self._manager: PoolManager | None = None
        self._direct: _Direct | None = None
        if proxy:
            self._manager = _manager(proxy, context)
            self._manager.pool_classes_by_scheme = {
                "http": TrackedHTTPPool,
                "https": _QuietHTTPSPool,
            }
        else:
            self._direct = _Direct(self.url, timeout, context)
        parts = urlsplit(self.url)
        self._target = urlunsplit(("", "", parts.path or "/", parts.query, ""))

    def post(self, body: bytes) -> Answer:
        """One POST of `body`: the answer, whatever its status, or a `TransportFailure`."""
        with deadline_scope(self._total) as deadline:  # its connection is cut when it passes
            try:
                if self._manager is None:
                    assert self._direct is not None
                    answer = self._direct.post(self._target, body, self._headers)
                else:  # the proxy manager picks a tunnel or the absolute form, and its headers
                    raw = self._manager.urlopen("POST", self.url, **self._arguments(body))
                    answer = Answer(raw.status, raw.headers, raw.data)
            except TransportFailure as exc:
                if deadline.expired:
                    raise NoCompleteAnswer(late(deadline)) from exc
                raise
            except (u3_exc.HTTPError, OSError) as exc:
                if deadline.expired:
                    raise NoCompleteAnswer(late(deadline)) from exc
                raise as_failure(exc) from exc
            if deadline.expired:
                raise NoCompleteAnswer(late(deadline))
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
        if self._direct is not None:
            self._direct.close()
        if self._manager is not None:
            self._manager.clear()


class _Direct:
    """Kept-alive `http.client` connections to one origin, lent one per POST.

    What urllib3's pool did for the sink, and no more: a connection is reused only after
    a whole answer that did not ask to close it, and only if the server has not closed
    it meanwhile (a readable idle socket); any failure closes it. Each is handed to the
    current request's deadline, which shuts its socket down when the deadline passes.
    """

    def __init__(self, url: str, timeout: float, ssl_context: ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._timeout = timeout
        self._context = ssl_context
        self._idle: queue.SimpleQueue[http.client.HTTPConnection] = queue.SimpleQueue()

    def post(self, target: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        connection = self._lend()
        try:
            track(connection)
            if connection.sock is None:
                _connect(connection)
            try:
                connection.request("POST", target, body=body, headers=headers)
            except TimeoutError as exc:
                raise WriteTimeout(exc) from exc
            response = connection.getresponse()
            content = _decoded(response.getheader("content-encoding"), response.read())
        except BaseException as exc:
            connection.close()
            if isinstance(exc, Exception) and not isinstance(exc, TransportFailure):
                raise _exchange_failure(exc) from exc
            raise
        if getattr(response, "will_close", True):  # a recorder's stand-in may not say
            connection.close()
        else:
            self._idle.put(connection)
        answer_headers = HTTPHeaderDict()
        for name, value in response.getheaders():
            answer_headers.add(name, value)
        return Answer(response.status, answer_headers, content)

    def _lend(self) -> http.client.HTTPConnection:
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                break
            if not _dropped(connection):
                return connection
            connection.close()
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _connect(connection: http.client.HTTPConnection) -> None:
    """Open the connection (TLS included); its failures as `TransportFailure`s."""
    try:
        connection.connect()
    except ssl.SSLError as exc:  # a refused certificate included
        raise TLSError(exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeout(exc) from exc
    except OSError as exc:  # refused, unknown host, unreachable
        raise ConnectError(exc) from exc


def _exchange_failure(exc: Exception) -> TransportFailure:
    """How sending the request or reading its answer failed, in the sink's words."""
    if isinstance(exc, ssl.SSLError):
        return TLSError(exc)
    if isinstance(exc, TimeoutError):
        return ReadTimeout(exc)
    if isinstance(exc, (ConnectionError, http.client.IncompleteRead)):
        return ConnectionDropped(exc)  # a reset, a closed connection, a cut-off body
    if isinstance(exc, (http.client.HTTPException, zlib.error)):
        return BadAnswer(exc)
    if isinstance(exc, OSError):
        return ConnectionDropped(exc)
    return BadAnswer(exc)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable was closed by the server (or is broken)."""
    sock = connection.sock
    if sock is None:
        return True
    if not hasattr(select, "poll"):  # Windows
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _decoded(encoding: str | None, content: bytes) -> bytes:
    """The body as urllib3 decoded it: gzip and deflate undone, other codings kept."""
    coding = (encoding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(content, 16 + zlib.MAX_WBITS) if content else content
    if coding == "deflate" and content:
        try:
            return zlib.decompress(content)
        except zlib.error:
            return zlib.decompress(content, -zlib.MAX_WBITS)
    return content


def _manager(proxy: str, ssl_context: ssl.SSLContext | None) -> ProxyManager:
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
        proxy_ssl_context=tls_context(True) if parts.scheme == "https" else None,
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
