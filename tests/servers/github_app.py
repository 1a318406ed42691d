"""GitHub App authentication in front of the GitHub stand-in: JWTs and installation tokens.

Installed as the stand-in's `LoopbackServer.intercept`. The app endpoints
(``/repos/O/R/installation``, ``/orgs/O/installation``,
``/app/installations/N/access_tokens``) accept only a JWT whose RS256 signature checks
out with the app's *public* key, issued by the right app id and not expired. Every other
request needs an installation token this layer issued, not yet expired (by `clock`,
which the tests may drive), for the installation that covers the repository asked for.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import urlsplit

import jwt

from .base import Reply, Request

_REPO_INSTALLATION = re.compile(r"^/repos/([^/]+)/([^/]+)/installation$")
_ORG_INSTALLATION = re.compile(r"^/orgs/([^/]+)/installation$")
_ACCESS_TOKENS = re.compile(r"^/app/installations/(\d+)/access_tokens$")
_OWNER = re.compile(r"^/(?:repos|orgs)/([^/]+)")


class GitHubAppLayer:
    def __init__(
        self,
        app_id: int,
        public_key_pem: bytes,
        installations: dict[str, int],
        *,
        token_ttl: float = 3600.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.app_id = app_id
        self.public_key = public_key_pem
        self.installations = installations
        """Account login -> installation id."""
        self.token_ttl = token_ttl
        self.clock = clock or (lambda: datetime.now(timezone.utc).timestamp())
        self.tokens: dict[str, tuple[int, float]] = {}
        """Issued token -> (installation id, expiry epoch)."""
        self.counts: Counter[str] = Counter()
        self.rejected: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request, handle: Callable[[], Reply]) -> Reply:
        path = urlsplit(request.path).path
        for pattern, kind in (
            (_REPO_INSTALLATION, "repo_installation"),
            (_ORG_INSTALLATION, "org_installation"),
            (_ACCESS_TOKENS, "access_token"),
        ):
            match = pattern.match(path)
            if match:
                return self._app_request(request, kind, match.groups())
        return self._installation_request(request, path, handle)

    # ---- as the app (JWT) ------------------------------------------------------------

    def _app_request(self, request: Request, kind: str, args: tuple[str, ...]) -> Reply:
        problem = self._bad_jwt(request.headers.get("authorization", ""))
        if problem:
            return self._refuse(f"{kind}: {problem}")
        with self._lock:
            self.counts[kind] += 1
        if kind == "access_token":
            if request.method != "POST" or int(args[0]) not in self.installations.values():
                return _json(404, {"message": "Not Found"})
            token = "ghs_" + secrets.token_hex(18)
            expires = self.clock() + self.token_ttl
            with self._lock:
                self.tokens[token] = (int(args[0]), expires)
            stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return _json(201, {"token": token, "expires_at": stamp, "permissions": {}})
        installation = self.installations.get(args[0])
        if installation is None:
            return _json(404, {"message": "Not Found"})
        return _json(
            200, {"id": installation, "app_id": self.app_id, "account": {"login": args[0]}}
        )

    def _bad_jwt(self, header: str) -> str:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "no bearer JWT"
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"], leeway=5)
        except jwt.PyJWTError as exc:
            return f"JWT rejected ({type(exc).__name__})"
        if str(claims.get("iss")) != str(self.app_id):
            return "JWT of another app"
        if claims.get("exp", 0) - claims.get("iat", 0) > 600:
            return "JWT lives longer than ten minutes"
        return ""

    # ---- as the installation (token) ---------------------------------------------------

    def _installation_request(
        self, request: Request, path: str, handle: Callable[[], Reply]
    ) -> Reply:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            granted = self.tokens.get(token) if scheme.lower() == "token" else None
        if granted is None:
            return self._refuse(f"{path}: not an installation token")
        installation, expires = granted
        if self.clock() >= expires:
            return self._refuse(f"{path}: installation token expired")
        owner = _OWNER.match(path)
        if owner is None or self.installations.get(owner.group(1)) != installation:
            return self._refuse(f"{path}: token of another installation")
        with self._lock:
            self.counts["api"] += 1
        return handle()

    def _refuse(self, why: str) -> Reply:
        with self._lock:
            self.rejected.append(why)
        return _json(401, {"message": "Bad credentials"})


def _json(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
