"""Trunk settings checked before any fetching, and what a poll does with refused chains.

A Trunk URL, host or dead-letter path that is wrong never heals: it is one line and
exit 2 at start, not minutes of retries (exit 75 tells cron to try again later).
"""

from __future__ import annotations

import logging
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .. import secrets
from ..errors import ComeBackLater, UserError
from ..proxies import proxy_for
from ..refusals import Refusal
from ..sinks.base import BodyRefused, Chain, encode
from ..state import State, default_state_path

if TYPE_CHECKING:
    from .common import DeliveryConfig

log = logging.getLogger("ci_collector")


def check_trunk_url(url: str) -> str:
    """An http(s) URL with a host and no credentials, or one line (exit 2)."""
    clean, user, password = secrets.split_credentials("--trunk-url", url)
    if user or password:
        raise UserError(
            f"--trunk-url {clean} carries credentials (user:token@): remove them; Trunk's "
            "token goes in TRUNK_API_TOKEN"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise UserError(f"--trunk-url {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UserError(f"--trunk-url {url!r} needs an https:// scheme (e.g. https://api.trunk.io)")
    if not parts.hostname:
        raise UserError(f"--trunk-url {url!r} has no host")
    return url


def resolve_trunk(url: str) -> None:
    """A Trunk host that does not exist is a typo (exit 2); a resolver down is transient.

    Behind a proxy the proxy resolves it: many networks that need one have no DNS of
    their own for outside names, so a lookup here would refuse a working setup.
    """
    if proxy_for(url) is not None:
        return
    host = urlsplit(url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise ComeBackLater(
                f"cannot resolve Trunk host {host} now ({exc.strerror}); run again later"
            ) from None
        raise UserError(
            f"Trunk host {host} does not resolve ({exc.strerror}); check --trunk-url"
        ) from None


def dead_letter_path(config: DeliveryConfig) -> Path:
    """``--dead-letter``, or next to the state file (never the working directory, which
    is ``/`` under systemd and read-only in many containers)."""
    if config.dead_letter:
        return Path(config.dead_letter)
    state = Path(config.state_path) if config.state_path else default_state_path()
    return state.with_suffix(".dead-letters.jsonl")


def check_dead_letter_path(path: Path, default: bool = False) -> None:
    """Before any fetching: a dead-letter file that cannot be written is one line, exit 2."""
    where = f"dead-letter file {path}"
    if path.is_dir():
        raise UserError(f"{where} is a directory; pass a file path to --dead-letter")
    if default and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True)  # the state file's own directory, made anyway
        except OSError as exc:
            raise UserError(f"{where} cannot be written ({exc.strerror or exc})") from None
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"{where}: {path.parent} is not a directory")
    if not path.parent.is_dir():
        raise UserError(f"{where}: directory {path.parent} does not exist; create it first")
    try:
        if path.exists():
            with path.open("a", encoding="utf-8"):
                pass
        else:
            with tempfile.TemporaryFile(dir=path.parent):
                pass
    except OSError as exc:
        raise UserError(f"{where} cannot be written ({exc.strerror or exc})") from None


class Refused:
    """Hears of each chain Trunk refused on its own: counts it in the state, once a poll.

    A chain refused in enough polls in a row is quarantined there (not re-sent, listed
    by ``ci-collector dead-letter``); the others of its batch were delivered.
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self.pending = bool(state.refusals())
        self.seen: dict[str, Refusal] = {}

    def __call__(self, chain: Chain, refusal: BodyRefused) -> None:
        self.pending = True
        if chain.run_key in self.seen:
            return
        repo = {"host": chain.repo.host, "owner": chain.repo.owner, "name": chain.repo.name}
        body = encode({"repo": repo, "events": chain.events}).decode()
        record = self.state.record_refusal(
            chain.run_key, chain.source, chain.fingerprint, refusal.status, refusal.message, body
        )
        self.seen[chain.run_key] = record
        if record.quarantine:
            log.warning(
                "%s: refused by Trunk in %d polls in a row; quarantined (not re-sent): "
                "see `ci-collector dead-letter list`",
                chain.run_key,
                record.polls,
            )

    def report(self) -> None:
        held = sum(1 for record in self.state.refusals() if record.quarantine == "held")
        if held:
            log.warning(
                "%d chains quarantined after repeated refusals by Trunk: see "
                "`ci-collector dead-letter list`",
                held,
            )
