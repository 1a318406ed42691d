"""A GET's first try, sent without urllib3's request and response objects.

urllib3's ``urlopen`` spends about 0.2 ms of CPU on a GET beyond what http.client spends
sending it (each header put one by one, a response object, a header dictionary): a
tenth of a backfill's CPU, which makes about one GET a run. `FirstTry` sends the same
bytes on a connection the pool itself made (so connecting, TLS, and their failures and
warnings stay urllib3's) and reads the answer with http.client.

Anything else goes back to urllib3 where its ``urlopen`` would be:

- a failure is wrapped, counted by the `Retry`, slept and logged as ``urlopen`` does
  before it calls itself again, and ``urlopen`` carries on with the tries left;
- an answer with a status the retries repeat, or a body not framed by a plain
  Content-Length, becomes urllib3's own response object, handled as ``urlopen`` would;
- a request urllib3 would send differently is not sent here at all: through a recorder's
  connection class (vcrpy), a target urllib3 would re-encode, headers it would add to or
  http.client would refuse.
"""

from __future__ import annotations

import errno
import http.client
import logging
import re
import ssl
import sys
from collections.abc import Mapping
from typing import Any

import urllib3.connection as u3_connection
from requests import exceptions as req_exc
from urllib3 import HTTPConnectionPool, HTTPHeaderDict
from urllib3 import exceptions as u3_exc
from urllib3.response import HTTPResponse
from urllib3.util import Retry, Timeout, Url
from urllib3.util.response import assert_header_parsing
from urllib3.util.ssl_match_hostname import CertificateError

from .transport import BodyTooLarge, too_large

_POOL_LOG = logging.getLogger("urllib3.connectionpool")
_CONNECTION_LOG = logging.getLogger("urllib3.connection")
"""urllib3's own loggers: the lines it writes (``-v``, ``-vv``) are written all the same."""

_OWN_CLASSES = (u3_connection.HTTPConnection, u3_connection.HTTPSConnection)
_PLAIN_TARGET = re.compile(
    r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*"
    r"(?:\?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})*)?"
)
"""A target urllib3 sends as it is (it upper-cases escapes and quotes other characters)."""
_LEGAL_NAME = re.compile(r"[^:\s][^:\r\n]*")
_ILLEGAL_VALUE = re.compile(r"\n(?![ \t])|\r(?![ \t\n])")
"""http.client's checks of a header's name and value."""
_KNOWN_LINES = 256
_FRAMING = frozenset({"host", "content-length", "transfer-encoding"})
_NORMALIZED: Any = getattr(u3_connection, "_normalize_header_values", None)
"""How urllib3 (2.6 on) unfolds continued header lines; older versions keep them."""


def _header_line(name: str, value: str) -> bytes | None:
    """``Name: value`` as http.client encodes it; None where it would refuse it."""
    if not (
        isinstance(value, str)
        and name.isascii()
        and _LEGAL_NAME.fullmatch(name)
        and not _ILLEGAL_VALUE.search(value)
    ):
        return None
    try:
        return name.encode() + b": " + value.encode("latin-1")
    except UnicodeEncodeError:
        return None


class Reply:
    """An answer whose body is exactly as long as it says: read by `read`."""

    def __init__(
        self,
        pool: HTTPConnectionPool,
        conn: Any,
        response: http.client.HTTPResponse,
        headers: dict[str, str],
    ) -> None:
        self.status = response.status
        self.headers = headers
        """Lower-case names, repeated ones joined by ", " (as requests reads them)."""
        self._pool = pool
        self._conn = conn
        self._response = response

    def read(self, limit: int) -> bytes:
        """The whole body, as `transport.read_capped` reads urllib3's: more than `limit`
        bytes declared is `BodyTooLarge`, a failure the requests exception it raises."""
        length = self.headers.get("content-length")
        conn = self._conn
        pool: Any = self._pool
        if length is not None and int(length) > limit:
            self._response.close()
            conn.close()
            pool._put_conn(conn)  # closed, as urllib3 hands back a dropped answer's
            raise BodyTooLarge(too_large(limit))
        try:
            body = self._response.read()
        except BaseException as exc:
            conn.close()
            pool._put_conn(conn)
            if isinstance(exc, (http.client.HTTPException, OSError)):
                raise _body_failure(self._pool, exc)  # noqa: B904  # chained inside
            raise
        if self._response.will_close:
            conn.close()  # the pool sees it closed and opens a new one, as it would
        pool._put_conn(conn)
        return body


def _body_failure(pool: HTTPConnectionPool, exc: Exception) -> Exception:
    """The requests exception `read_capped` raises when urllib3 meets `exc` in a body."""
    inner: Exception
    if isinstance(exc, TimeoutError):
        inner = u3_exc.ReadTimeoutError(pool, None, "Read timed out.")
        outer: Exception = req_exc.ConnectionError(inner)
    elif isinstance(exc, ssl.SSLError):
        inner = u3_exc.SSLError(exc)
        outer = req_exc.ConnectionError(inner)
    else:
        inner = u3_exc.ProtocolError(f"Connection broken: {exc!r}", exc)
        outer = req_exc.ChunkedEncodingError(inner)
    inner.__cause__ = exc
    outer.__cause__ = inner
    return outer


class FirstTry:
    """First tries of GETs to one urllib3 pool's origin, over kept-alive connections
    the pool made. One thread's: each worker has its own, as each has its own pool."""

    def __init__(self, pool: HTTPConnectionPool, timeout: Timeout) -> None:
        self.pool = pool
        self._connect_timeout = timeout.connect_timeout
        self._read_timeout = timeout.read_timeout
        self._usable = timeout.total is None and pool.proxy is None
        self._host_line: bytes | None = None
        self._lines: dict[tuple[str, str], bytes] = {}
        """Header lines already checked and encoded, by (name, value)."""

    def get(
        self, url: str, headers: Mapping[str, str], retries: Retry
    ) -> Reply | HTTPResponse | Retry:
        """GET `url` (a path and query) once: a `Reply` or a urllib3 response to read,
        or the `Retry` ``urlopen`` goes on with (untouched if nothing was sent here).
        Raises what ``urlopen`` raises when the retries give up."""
        pool = self.pool
        if not self._usable or pool.ConnectionCls not in _OWN_CLASSES:
            return retries
        request = self._request(url, headers)
        if request is None:
            return retries
        pool.num_requests += 1
        conn = None
        try:
            conn = self._lend()
            response = self._exchange(conn, url, request)
        except (
            u3_exc.TimeoutError,
            http.client.HTTPException,
            OSError,
            u3_exc.ProtocolError,
            u3_exc.SSLError,
            CertificateError,
        ) as exc:  # `urlopen`'s handling of a failed try, step for step
            new_exc: Exception = exc
            if isinstance(exc, (ssl.SSLError, CertificateError)):
                new_exc = u3_exc.SSLError(exc)
            elif isinstance(exc, (OSError, http.client.HTTPException)):
                new_exc = u3_exc.ProtocolError("Connection aborted.", exc)
            try:
                retries = retries.increment(
                    "GET", url, error=new_exc, _pool=pool, _stacktrace=sys.exc_info()[2]
                )
                retries.sleep()
            finally:
                self._drop(conn)
            _POOL_LOG.warning(
                "Retrying (%r) after connection broken by '%r': %s",
                retries,
                exc,
                url,
                extra={"__urllib3-retry-warning": {"host": pool.host}},
            )
            return retries
        except BaseException:
            self._drop(conn)
            raise
        return self._answer(conn, url, response, retries)

    def _lend(self) -> Any:
        """A connection from the pool, as ``urlopen`` takes one: kept alive (reset if
        the server closed it), else new, with the pool's TLS settings; handed to the
        request's deadline by the pool (`transport.TrackedHTTPPool`)."""
        pool: Any = self.pool
        return pool._get_conn()

    def _drop(self, conn: Any) -> None:
        """After a failed try: closed, and its place in the pool given back empty."""
        pool: Any = self.pool
        if conn is not None:
            conn.close()
        pool._put_conn(None)

    def _request(self, url: str, headers: Mapping[str, str]) -> bytes | None:
        """The bytes urllib3 would send for this GET; None when it would send others
        (or refuse): then ``urlopen`` sends it from the start."""
        if not _PLAIN_TARGET.fullmatch(url):
            return None
        names = {name.lower() for name in headers}
        if "user-agent" not in names or "accept-encoding" not in names or names & _FRAMING:
            return None  # urllib3 or http.client would add headers of their own
        lines = [b"GET " + url.encode() + b" HTTP/1.1", self._host()]
        known = self._lines
        for header in headers.items():
            line = known.get(header)
            if line is None:
                line = _header_line(*header)
                if line is None:
                    return None
                if len(known) < _KNOWN_LINES:  # the same few, GET after GET (ETags vary)
                    known[header] = line
            lines.append(line)
        lines += [b"", b""]
        return b"\r\n".join(lines)

    def _host(self) -> bytes:
        """The Host line http.client writes for the pool's host and port, from its own code."""
        if self._host_line is None:
            probe: Any = self.pool.ConnectionCls(host=self.pool.host, port=self.pool.port)
            http.client.HTTPConnection.putrequest(probe, "GET", "/", skip_accept_encoding=True)
            self._host_line = bytes(probe._buffer[1])
        return self._host_line

    def _exchange(self, conn: Any, url: str, request: bytes) -> http.client.HTTPResponse:
        """Connect if needed, send, read the status line and headers (``_make_request``)."""
        pool: Any = self.pool
        conn.timeout = self._connect_timeout
        try:
            try:
                pool._validate_conn(conn)  # HTTPS: connects, and warns if unverified
            except (TimeoutError, ssl.SSLError) as exc:
                pool._raise_timeout(err=exc, url=url, timeout_value=conn.timeout)
                raise
        except (ssl.SSLError, CertificateError) as exc:  # the rest go on as they are
            raise u3_exc.SSLError(exc)  # noqa: B904  # chained as urllib3 chains it
        try:
            if conn.sock is None:
                conn.connect()  # plain HTTP: as http.client's send opens it
            else:
                conn.sock.settimeout(conn.timeout)
            conn.sock.sendall(request)
        except BrokenPipeError:
            pass  # the answer may still be readable, as urllib3 assumes
        except OSError as exc:
            if exc.errno not in (errno.EPROTOTYPE, errno.ECONNRESET):
                raise
        conn.timeout = self._read_timeout
        try:
            conn.sock.settimeout(conn.timeout)
            response = http.client.HTTPResponse(conn.sock, method="GET")
            try:
                response.begin()
            except ConnectionError:
                conn.close()  # as http.client's getresponse does
                raise
        except (ssl.SSLError, OSError) as exc:
            pool._raise_timeout(err=exc, url=url, timeout_value=self._read_timeout)
            raise
        try:
            assert_header_parsing(response.msg)
        except (u3_exc.HeaderParsingError, TypeError) as problem:
            where = Url(scheme=pool.scheme, host=conn.host, port=conn.port, path=url).url
            _CONNECTION_LOG.warning(
                "Failed to parse headers (url=%s): %s", where, problem, exc_info=True
            )
        return response

    def _answer(
        self, conn: Any, url: str, response: http.client.HTTPResponse, retries: Retry
    ) -> Reply | HTTPResponse | Retry:
        """A plain answer as a `Reply`; any other as ``urlopen`` goes on with it."""
        received: dict[str, str] = {}
        folded = False
        for name, value in response.msg.items():
            key = name.lower()
            received[key] = f"{received[key]}, {value}" if key in received else value
            folded = folded or "\r\n" in value
        status = response.status
        length = received.get("content-length")
        if (
            not folded
            and "transfer-encoding" not in received
            and received.get("content-encoding", "identity") == "identity"
            and (
                (length is not None and length.isascii() and length.isdigit())
                or (length is None and status in (204, 304))
            )
            and not retries.is_retry("GET", status, bool(received.get("retry-after")))
        ):
            if _POOL_LOG.isEnabledFor(logging.DEBUG):
                remaining = 0 if status in (204, 304) or 100 <= status < 200 else length
                self._log_answer(url, status, None if remaining is None else int(remaining))
            return Reply(self.pool, conn, response, received)
        return self._as_urllib3(conn, url, response, retries)

    def _as_urllib3(
        self, conn: Any, url: str, response: http.client.HTTPResponse, retries: Retry
    ) -> HTTPResponse | Retry:
        """The answer as urllib3's response (``getresponse``), and what ``urlopen``
        does next: a status the retries repeat is drained, slept on and counted."""
        pool = self.pool
        if response.will_close:
            conn.close()  # as http.client's getresponse does
        items = _NORMALIZED(response.msg) if _NORMALIZED is not None else response.msg.items()
        answer = HTTPResponse(
            body=response,
            headers=HTTPHeaderDict(items),
            status=response.status,
            version=response.version,
            version_string="HTTP/1.1",
            reason=response.reason,
            preload_content=False,
            decode_content=False,
            original_response=response,
            enforce_content_length=True,
            request_method="GET",
            request_url=url,
        )
        answer.retries = retries
        answer._connection = conn  # released to the pool once read, as urlopen's would be
        answer._pool = pool
        if _POOL_LOG.isEnabledFor(logging.DEBUG):
            self._log_answer(url, answer.status, answer.length_remaining)
        if not retries.is_retry("GET", answer.status, bool(answer.headers.get("Retry-After"))):
            return answer
        try:
            retries = retries.increment("GET", url, response=answer, _pool=pool)
        except u3_exc.MaxRetryError:
            if retries.raise_on_status:
                answer.drain_conn()
                raise
            return answer
        answer.drain_conn()
        retries.sleep(answer)
        _POOL_LOG.debug("Retry: %s", url)
        return retries

    def _log_answer(self, url: str, status: int, length: int | None) -> None:
        """The line ``_make_request`` logs for each answer (``-vv``)."""
        pool = self.pool
        _POOL_LOG.debug(
            '%s://%s:%s "%s %s %s" %s %s',
            pool.scheme,
            pool.host,
            pool.port,
            "GET",
            url,
            "HTTP/1.1",
            status,
            length,
        )
