"""GitHub GETs as PyGithub's requester sends them, without its requests session.

PyGithub's requester wraps every GET in a requests session call, which costs more CPU
than sending it; a backfill makes thousands. Who we are is written into each request by
a `HeaderAuth`: `TokenAuth` for a token (the header PyGithub's ``Auth.Token`` writes), or
a PyGithub `Auth` such as the installation token `app.InstallationAuth` renews. The rest
of what the requester does around a GET is kept here, rule for rule: the URL (API path
prefix, sorted query, lower-case booleans, re-quoted by requests' rules), its User-Agent
over requests' default headers, a 202 ("still computing") asked again after PyGithub's
wait, and a 301 followed only to another path of the same scheme and host. `pooled.PooledGetter`
sends it (retries, deadline, body cap).
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

import requests
from requests import utils as req_utils

from ...pooled import PooledGetter, ThreadGetters, environment_settings, text_of
from ...retry import PacedRetry
from ...transport import LimitedAdapter

_REQUESTS_LOG = logging.getLogger("github.Requester")
"""PyGithub's request log, which ``-vv`` shows: the lines it wrote are still written."""

MAX_HOPS = 30
"""301s (or 202s) in a row before giving up; PyGithub gave up at its recursion limit."""
PROCESSING_202_WAIT_SECONDS = 2
"""PyGithub's wait before asking again after a 202 ("still computing")."""

_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~-]*")
_PLAIN_QUERY = re.compile(r"(?:[A-Za-z0-9/._~+=&-]|%[0-9A-Fa-f]{2})*")


class HeaderAuth(Protocol):
    """What writes a request's Authorization header: PyGithub's `Auth` classes and `TokenAuth`."""

    def authentication(self, headers: dict[str, str]) -> None: ...

    def mask_authentication(self, headers: dict[str, str]) -> None: ...


class TokenAuth:
    """A personal or Actions token's header, written as PyGithub's ``Auth.Token`` writes it.

    Its own class so that a token run never imports PyGithub (0.17 s of CPU per
    invocation); only a GitHub App needs PyGithub's JWT signing and installation tokens.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def authentication(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"token {self._token}"

    def mask_authentication(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = "token (oauth token removed)"


class RedirectRefused(Exception):
    """A 301 to another scheme or host, or to the very URL asked: not GitHub's API."""


class RedirectLoop(Exception):
    """301s that do not end."""


class GitHubSession:
    """GETs to one GitHub API URL, authenticated by a PyGithub `Auth` (or anonymous)."""

    def __init__(
        self,
        api_url: str,
        auth: HeaderAuth | None,
        *,
        user_agent: str,
        timeout: float,
        max_body: int,
        verify: bool,
        retries: PacedRetry,
    ) -> None:
        parts = urllib.parse.urlparse(api_url)
        self._scheme = parts.scheme
        self._hostname = parts.hostname
        self._prefix = parts.path.rstrip("/")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
        self.origin = f"{parts.scheme}://{host}:{port}"
        """Where PyGithub sent its requests: scheme, host and an explicit port."""
        self._auth = auth
        self._valid_headers: set[tuple[str, str]] = set()
        """Header pairs requests' check already passed (a set: safe across threads)."""
        defaults = req_utils.default_headers()
        defaults["User-Agent"] = user_agent
        self._defaults = dict(defaults)
        self._verify = verify
        self._adapter_settings = (timeout, max_body, retries)
        self._getters = ThreadGetters(self._getter)

    def _getter(self) -> PooledGetter:
        """A worker thread's own pool; the environment (proxies, CA bundle) is read here,
        once, not on every request as a requests session would."""
        proxies, ca = environment_settings(f"{self.origin}/", self._verify)
        timeout, max_body, retries = self._adapter_settings
        adapter = LimitedAdapter(timeout, max_body, max_retries=retries)
        return PooledGetter(self.origin, adapter, timeout=timeout, verify=ca, proxies=proxies)

    def close(self) -> None:
        self._getters.close()

    def get(
        self, path: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], str]:
        """GET an API `path` (``/repos/...``): status, headers (lower-case names), text.

        Raises `RedirectRefused`, `RedirectLoop` or what `PooledGetter.get` raises.
        """
        own = dict(headers)  # PyGithub's own headers, in its order, then requests' defaults
        if self._auth is not None:
            self._auth.authentication(own)
        own["User-Agent"] = self._defaults["User-Agent"]
        sent = {**self._defaults, **own}
        for header in sent.items():
            if header not in self._valid_headers:  # the same few pairs, request after request
                req_utils.check_header_validity(header)  # requests' InvalidHeader, as before
                self._valid_headers.add(header)
        url = self.url(path, params)
        getter = self._getters.get()
        for _ in range(MAX_HOPS + 1):
            status, received, body = getter.get(self.target(url), sent)
            if _REQUESTS_LOG.isEnabledFor(logging.DEBUG):
                self._log(url, own, status, received, body)
            if status == 202:  # only ever asked of GET (safe to repeat), as PyGithub does
                time.sleep(PROCESSING_202_WAIT_SECONDS)
                continue
            if status == 301 and "location" in received:
                moved = self._follow(url, received["location"])
                _REQUESTS_LOG.info("Following Github server redirection from %s to %s", url, moved)
                url = moved
                continue
            return status, received, text_of(received, body)
        raise RedirectLoop(url)

    def url(self, path: str, params: Mapping[str, Any]) -> str:
        """The URL PyGithub's requester builds: prefix, path, the parameters sorted."""
        url = self._prefix + path
        if not _PLAIN_PATH.fullmatch(url):  # rare: PyGithub's own rules, imported when needed
            from github.Requester import Requester

            return Requester.add_parameters_to_url(url, dict(params))
        if params:
            pairs = ((k, str(v).lower() if isinstance(v, bool) else v) for k, v in params.items())
            url += "?" + urllib.parse.urlencode(sorted(pairs))
        return url

    def target(self, url: str) -> str:
        """The request target requests made of `url` (plain ones are left as they are)."""
        path, _, query = url.partition("?")
        plain = _PLAIN_PATH.fullmatch(path) and _PLAIN_QUERY.fullmatch(query)
        if plain and ("%" not in query or req_utils.unquote_unreserved(query) == query):
            return url
        prepared = requests.PreparedRequest()
        prepared.prepare_url(self.origin + url, None)
        return prepared.path_url

    def _log(
        self, url: str, own: dict[str, str], status: int, received: dict[str, str], body: bytes
    ) -> None:
        """The line PyGithub's requester logged for each request (``-vv``), token masked."""
        masked = dict(own)
        if self._auth is not None:
            self._auth.mask_authentication(masked)
        text = text_of(received, body)
        line = "%s %s://%s%s %s %s ==> %i %s %s"
        _REQUESTS_LOG.debug(
            line, "GET", self._scheme, self._hostname, url, masked, None, status, received, text
        )

    def _follow(self, url: str, location: str) -> str:
        """The path a 301 leads to, if PyGithub would follow it (query not kept)."""
        moved = urllib.parse.urlparse(location)
        if moved.scheme != self._scheme or moved.hostname != self._hostname or moved.path == url:
            raise RedirectRefused
        return moved.path
