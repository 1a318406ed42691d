"""GitHub App authentication: an app id and private key instead of a personal token.

Organisations install an app rather than hand out a person's token. The app signs a
short JWT with its private key, finds the installation that covers the repositories
(or organisation) to collect, and trades the JWT for an installation token that lasts
an hour. A long backfill outlives that hour, so the token is renewed a few minutes
before it expires. One token is shared by every worker thread (PyGithub's own
installation auth would fetch one per requester, so one per thread). The key, the JWT
and every token are registered as secrets: they never reach logs, errors or output.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timezone
from functools import partial
from pathlib import Path
from typing import TypeVar

import requests
from github import Auth, GithubException, GithubIntegration

from ... import __version__, secrets
from ...errors import ComeBackLater, RemoteError, UserError

T = TypeVar("T")

REFRESH_MARGIN_SECONDS = 300.0
"""Renew an installation token this long before it expires (requests may be in flight)."""


@dataclass(frozen=True, slots=True)
class AppCredentials:
    app_id: str
    private_key: str

    @classmethod
    def from_options(
        cls, app_id: str | None, key_file: str | None, key_text: str | None
    ) -> AppCredentials | None:
        """Both or neither: the id with a key file (or GITHUB_APP_PRIVATE_KEY's text)."""
        if key_file:
            try:
                key_text = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise UserError(
                    f"cannot read the GitHub App private key file {key_file}: {exc.strerror}"
                ) from None
        secrets.register(key_text)
        if not app_id and not key_text:
            return None
        if not app_id or not key_text:
            raise UserError(
                "a GitHub App needs both its id (--github-app-id / GITHUB_APP_ID) and its "
                "private key (--github-app-private-key-file / GITHUB_APP_PRIVATE_KEY_FILE "
                "or GITHUB_APP_PRIVATE_KEY)"
            )
        if not app_id.strip().isdigit():
            raise UserError(f"--github-app-id {app_id!r} is not a number")
        if "PRIVATE KEY" not in key_text:
            raise UserError("the GitHub App private key is not a PEM private key")
        return cls(app_id.strip(), key_text)


class InstallationAuth(Auth.Auth):
    """An installation token for PyGithub, renewed before it expires; thread-safe."""

    def __init__(
        self,
        integration: GithubIntegration,
        installation_id: int,
        *,
        margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.installation_id = installation_id
        self.refreshed = 0
        """Tokens fetched so far (the first one included)."""
        self._integration = integration
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        with self._lock:
            if not self._token or self._clock() >= self._expires - self._margin:
                self._renew()
            return self._token

    def _renew(self) -> None:
        granted = _call(
            lambda: self._integration.get_access_token(self.installation_id),
            f"installation {self.installation_id}",
        )
        secrets.register(granted.token)
        self._token = granted.token
        expires = granted.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        self._expires = expires.timestamp()
        self.refreshed += 1

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


def integration(
    credentials: AppCredentials, api_url: str, *, timeout: float, verify: bool
) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(int(credentials.app_id), credentials.private_key),
        base_url=api_url,
        timeout=max(1, round(timeout)),
        user_agent=f"ci-collector/{__version__}",
        verify=verify,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


@dataclass(slots=True)
class Covered:
    """What one installation of the app covers among what the command line named."""

    repos: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)


def installations_for(
    app: GithubIntegration, repos: Iterable[tuple[str, str]], orgs: Iterable[str]
) -> dict[int, Covered]:
    """The installation of each repository and organisation named, grouped by installation.

    An app installed on several accounts has one installation (and one token, with its own
    rate limit) per account: each group is collected with its own token.
    """
    found: dict[int, Covered] = {}
    for org in orgs:
        installation = _call(partial(app.get_org_installation, org), f"--org {org}").id
        found.setdefault(installation, Covered()).orgs.append(org)
    for owner, name in repos:
        what = f"--repo {owner}/{name}"
        installation = _call(partial(app.get_repo_installation, owner, name), what).id
        found.setdefault(installation, Covered()).repos.append(f"{owner}/{name}")
    return found


def _call(request: Callable[[], T], what: str) -> T:
    """One app request, its failures worded for the user (never with the JWT or key)."""
    try:
        return request()
    except GithubException as exc:
        status = exc.status
        if status == 404:
            raise UserError(f"the GitHub App is not installed for {what}") from None
        if status == 401:
            raise UserError(
                "GitHub rejected the GitHub App's signed token (check the app id and the "
                "private key, and this machine's clock)"
            ) from None
        if status in (403, 429) or status >= 500:
            raise ComeBackLater(f"GitHub answered {status} to the GitHub App ({what})") from None
        raise RemoteError(f"GitHub answered {status} to the GitHub App ({what})") from None
    except requests.RequestException as exc:
        raise ComeBackLater(
            f"GitHub did not answer the GitHub App's request ({what}): {type(exc).__name__}"
        ) from None
    except (ValueError, TypeError) as exc:  # PyJWT / cryptography: a key that is not RSA
        raise UserError(f"the GitHub App private key cannot sign ({type(exc).__name__})") from None
