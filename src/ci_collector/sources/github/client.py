"""GET JSON from the GitHub REST API, authenticated as PyGithub does it, politely.

PyGithub objects are skipped on purpose: parsed run pages cost far more than their JSON,
and every lazy attribute risks another request; GETs go out as its requester sent them
(`session.GitHubSession`), minus the requests session around each. On top: conditional
requests (ETag / If-None-Match, whose 304s cost no rate limit), rate-limit waits short
enough to sit out, `ComeBackLater` for the others, and a count of the budget spent.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests

from ... import __version__, jsonio, secrets
from ...errors import CollectorError, ComeBackLater, RemoteError, UserError
from ...pacing import Pacer
from ...retry import PacedRetry, invocation_remaining, retry_after
from ...times import ms_to_iso
from ...transport import DEFAULT_MAX_BODY_MB, BodyTooLarge, DeadlinePassed
from ...unreachable import never_connected, untrusted_certificate, untrusted_message
from .budget import Budget, Ledger
from .session import GitHubSession, HeaderAuth, RedirectLoop, RedirectRefused, TokenAuth

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
MAX_RATE_LIMIT_TRIES = 6
SECONDARY_BACKOFF_SECONDS = 60.0
"""GitHub's advice when a secondary limit comes without ``Retry-After``: wait a minute."""


Answer = tuple[int, dict[str, Any], str]
"""Status, response headers (lower-case names) and body of one GET."""


class NotFound(Exception):
    """404: the repository, run or attempt is gone or the token may not see it."""


NOT_GITHUB_HINT = "check --github-api-url (GitHub Enterprise: https://HOST/api/v3)"


class EtagCache(Protocol):
    def get(self, url: str) -> tuple[str, bytes] | None: ...

    def put(self, url: str, etag: str, body: bytes) -> None: ...


def web_host(api_url: str) -> str:
    """The host people know the server by: ``api.github.com`` -> ``github.com``."""
    host = urllib.parse.urlparse(api_url).hostname or "github.com"
    return host.removeprefix("api.")


def transient_retries(budget: float, base: float | None = None) -> PacedRetry:
    """What a GET retries down in urllib3: transport failures and 5xx. 403/429 rate
    limits come back to `GitHubClient._send`, which knows --max-wait."""
    return PacedRetry(
        total=3,
        connect=3,
        read=2,
        status=3,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,  # 429s are `_send`'s, which knows --max-wait
        budget=budget,
        base=base,
    )


class GitHubClient:
    """One GitHub server, one token. All methods return parsed JSON."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        max_wait: float = 60.0,
        verify: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry_seconds: float = 300.0,
        max_body_mb: float = DEFAULT_MAX_BODY_MB,
        max_rate: float | None = None,
        auth: HeaderAuth | None = None,
    ) -> None:
        secrets.register(token)
        self.api_url = api_url.rstrip("/")
        self.has_token = bool(token)
        self.max_wait = max_wait
        self.budget = Budget()
        self.pacer = Pacer(max_rate)
        """Requests a second across every worker thread (None: unpaced), and their pause."""
        self._sleep = sleep
        self._clock = clock
        self._answered_json = False
        transient = transient_retries(retry_seconds)
        max_body = int(max_body_mb * 1_048_576)
        self._session = GitHubSession(
            self.api_url,
            auth or (TokenAuth(token) if token else None),
            user_agent=f"ci-collector/{__version__}",
            timeout=timeout,
            max_body=max_body,
            verify=verify,
            retries=transient,
        )
        self._preloaded: dict[str, tuple[str | None, Answer | CollectorError]] = {}
        self.ledger = Ledger()
        """--min-remaining, requests in flight, the budget per repository (thread-safe)."""

    def close(self) -> None:
        self._session.close()

    # ---- public --------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET and parse; raises `NotFound`, `RemoteError` or `ComeBackLater`."""
        status, _, body = self._send(path, dict(params or {}), {})
        return self._parse(path, status, body)

    def get_cached(
        self,
        path: str,
        params: Mapping[str, str | int],
        cache: EtagCache | None,
        keep: Callable[[Any], Any] | None = None,
    ) -> Any:
        """A conditional GET: an unchanged page comes back 304 and is read from `cache`.

        `keep` is what the caller reads of a page: only that is cached (a run list
        page is ~1 MB, its runs as the listing keeps them ~10%, and compressing the
        whole page for the state cost 9 ms)."""
        url = self._url_key(path, params)
        cached = cache.get(url) if cache is not None else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        early = self._preloaded.pop(url, None)
        if early is not None and early[0] == headers.get("If-None-Match"):
            if isinstance(early[1], CollectorError):
                raise early[1]
            status, response_headers, body = early[1]
        else:
            status, response_headers, body = self._send(path, dict(params), headers)
        if status == 304 and cached is not None:
            return self._decode(path, cached[1].decode())
        data = self._parse(path, status, body)
        etag = response_headers.get("etag")
        if cache is not None and etag:
            cache.put(url, etag, body.encode() if keep is None else jsonio.dumps(keep(data)))
        return data

    def fetch_early(
        self, path: str, params: Mapping[str, str | int], etag: str | None
    ) -> tuple[str, str | None, Answer | CollectorError]:
        """A conditional GET sent ahead of time (a worker thread may send it); hand the
        result to `preload` and the `get_cached` of the same URL and ETag will use it."""
        headers = {"If-None-Match": etag} if etag else {}
        try:
            answer: Answer | CollectorError = self._send(path, dict(params), headers)
        except CollectorError as exc:
            answer = exc
        return self._url_key(path, params), etag, answer

    def preload(self, early: tuple[str, str | None, Answer | CollectorError]) -> None:
        url, etag, answer = early
        self._preloaded[url] = (etag, answer)

    def url_key(self, path: str, params: Mapping[str, str | int]) -> str:
        return self._url_key(path, params)

    # ---- internals -----------------------------------------------------------------

    def _url_key(self, path: str, params: Mapping[str, str | int]) -> str:
        query = urllib.parse.urlencode(sorted((k, str(v)) for k, v in params.items()))
        return f"{self.api_url}{path}?{query}"

    def _send(
        self, path: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], str]:
        for tries in range(MAX_RATE_LIMIT_TRIES):
            self._reserve(path)
            self.pacer.wait()
            try:
                status, response_headers, body = self._session.get(path, params, headers)
                self._observe(status, response_headers, path)
            except DeadlinePassed as exc:
                raise ComeBackLater(
                    f"GitHub at {self.api_url} did not finish GET {path} ({exc}); run again later"
                ) from None
            except BodyTooLarge as exc:
                raise RemoteError(f"GitHub at {self.api_url}: GET {path}: {exc}") from None
            except RedirectLoop:
                raise UserError(
                    f"{self.api_url} redirects GET {path} in a loop; {NOT_GITHUB_HINT}"
                ) from None
            except RedirectRefused:  # to another host or scheme
                raise UserError(
                    f"{self.api_url} redirects GET {path} away from itself; {NOT_GITHUB_HINT}"
                ) from None
            except (requests.RequestException, OSError) as exc:
                reason = untrusted_certificate(exc)
                if reason is not None:
                    raise RemoteError(untrusted_message("GitHub", self.api_url, reason)) from None
                if not self.budget.requests and never_connected(exc):
                    raise RemoteError(
                        f"cannot reach GitHub at {self.api_url}: {type(exc).__name__}"
                    ) from None
                raise ComeBackLater(
                    f"GitHub at {self.api_url} did not answer GET {path} "
                    f"({type(exc).__name__}); run again later"
                ) from None
            finally:
                self._release()
            if status in (403, 429):
                wait = self._rate_limit_wait(status, response_headers, body, tries)
                if wait is not None:
                    if wait > invocation_remaining():
                        raise ComeBackLater(
                            f"GitHub rate limit: waiting {wait:.0f}s would pass --deadline; "
                            "what was sent is saved, run again later"
                        )
                    self.pacer.pause(wait)  # every worker stops at once, as GitHub asks
                    self._sleep(wait)
                    self.ledger.waited(self.budget, wait)
                    continue
            return status, response_headers, body
        raise ComeBackLater(f"GitHub kept rate-limiting GET {path}; run again later")

    def _reserve(self, path: str) -> None:
        self.ledger.reserve(self.budget)

    def _release(self) -> None:
        self.ledger.release()

    def _observe(self, status: int, headers: Mapping[str, Any], path: str = "") -> None:
        self.ledger.observe(
            self.budget,
            status,
            path,
            _int_header(headers, "x-ratelimit-remaining"),
            _int_header(headers, "x-ratelimit-limit"),
            _int_header(headers, "x-ratelimit-reset"),
        )

    def _rate_limit_wait(
        self, status: int, headers: Mapping[str, Any], body: str, tries: int
    ) -> float | None:
        """Seconds to sit out a rate limit, None if this 403 is not one.

        Raises `ComeBackLater` when the wait is longer than ``--max-wait``.
        """
        asked = retry_after(headers)  # seconds or an HTTP date; negative is now
        reset = _int_header(headers, "x-ratelimit-reset")
        now = self._clock()
        if asked is not None:
            wait, kind = asked, "secondary rate limit"
            resume = now + min(wait, 1e10)
        elif _int_header(headers, "x-ratelimit-remaining") == 0 and reset is not None:
            wait, kind = max(0.0, reset - now) + 1.0, "rate limit"
            resume = float(reset)
        elif status == 429 or "secondary rate limit" in _message(body).lower():
            wait, kind = SECONDARY_BACKOFF_SECONDS * 2**tries, "secondary rate limit"
            resume = now + wait
        else:
            return None
        until = ms_to_iso(int(resume * 1000))
        if not wait <= self.max_wait:  # also an absurd (infinite) Retry-After
            raise ComeBackLater(
                f"GitHub {kind} reached; it resets at {until} (in {_span(wait)}, more than "
                f"--max-wait {self.max_wait:.0f}s); what was sent is saved, run again then"
            )
        log.warning("GitHub %s reached; waiting %.0fs (until %s)", kind, wait, until)
        return wait

    def _parse(self, path: str, status: int, body: str) -> Any:
        if status == 404:
            if not _message(body):  # GitHub's 404s are JSON with a message; this is not GitHub
                raise UserError(
                    f"{self.api_url} answered 404 for GET {path} with a page that is not "
                    f"GitHub's API; {NOT_GITHUB_HINT}"
                )
            raise NotFound(f"GET {path}: not found ({_message(body)})")
        if status == 401:
            raise RemoteError("GITHUB_TOKEN was rejected by GitHub (401 Bad credentials)")
        if status == 403:
            raise RemoteError(
                f"GitHub refused GET {path} (403: {_message(body) or 'forbidden'}); "
                "the token needs the 'actions: read' permission"
            )
        if status >= 500:
            raise ComeBackLater(f"GitHub answered {status} to GET {path}; run again later")
        if 300 <= status < 400:
            raise UserError(
                f"{self.api_url} answered {status} (a redirect) to GET {path}; {NOT_GITHUB_HINT}"
            )
        if status != 200:
            raise RemoteError(f"GitHub answered {status} to GET {path}")
        return self._decode(path, body)

    def _decode(self, path: str, body: str) -> Any:
        try:
            data = jsonio.loads(body)
        except ValueError:
            if not self._answered_json:  # the first answer already is not an API's
                raise UserError(
                    f"{self.api_url} answered GET {path} with something that is not JSON; "
                    f"{NOT_GITHUB_HINT}"
                ) from None
            raise RemoteError(f"GitHub sent a body that is not JSON for GET {path}") from None
        self._answered_json = True
        return data

    def not_found(self, what: str) -> UserError:
        """The one line for a 404 on something the user named (a repository, a workflow)."""
        if self.has_token:
            cause = "or this token cannot see it (it needs 'actions: read')"
        else:
            cause = "or private: set GITHUB_TOKEN"
        return UserError(f"{what} not found on {web_host(self.api_url)}, {cause}")


def _span(seconds: float) -> str:
    """A wait as people read it; a Retry-After of centuries is not worth spelling out."""
    return f"{seconds:.0f}s" if seconds < 10**7 else "more than 100 days"


def _int_header(headers: Mapping[str, Any], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _message(body: str) -> str:
    try:
        data = jsonio.loads(body)
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else ""
