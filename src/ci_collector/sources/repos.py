"""Which repository a CI build belongs to: git remote parsing and the user's job->repo map.

Trunk files every event under a repository, but Jenkins knows repositories only as the
git remotes a build checked out, so this is where remote URLs in all their spellings
(HTTPS, scp-like ``git@host:owner/name.git``, ``ssh://``, GitHub Enterprise, with or
without ``.git``) become a `Repo`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UserError
from ..model import Repo

_SCP_LIKE = re.compile(r"^(?:[\w.\-]+@)?(?P<host>[\w.\-]+):(?!//)(?P<path>[^\\]+)$")
_SLUG = re.compile(r"^(?P<owner>[\w.\-]+)/(?P<name>[\w.\-]+)$")


def parse_remote(url: str) -> Repo | None:
    """`Repo` of a git remote URL, or None when it names no owner/name repository.

    The owner is everything between the host and the repository name, so GitLab
    subgroups (``group/sub/name``) keep their full path.
    """
    text = url.strip()
    if not text:
        return None
    host: str | None
    path: str
    if "://" in text:
        parts = urlsplit(text)
        host, path = parts.hostname, parts.path
        if parts.scheme == "file":
            return None
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            return None
        host, path = match.group("host"), match.group("path")
    if not host:
        return None
    segments = [segment for segment in path.strip("/").split("/") if segment]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1][: -len(".git")]
    if len(segments) >= 3 and segments[0] == "scm":
        segments = segments[1:]  # Bitbucket Server / some GHE proxies put the repo under /scm
    if len(segments) < 2 or not segments[-1]:
        return None
    return Repo(host.lower(), "/".join(segments[:-1]), segments[-1])


def parse_slug(text: str, host: str = "github.com") -> Repo:
    """``OWNER/NAME`` (or a full remote URL) as typed by a user; raises `UserError`."""
    match = _SLUG.match(text.strip())
    if match:
        return Repo(host, match.group("owner"), match.group("name"))
    repo = parse_remote(text)
    if repo is None:
        raise UserError(f"{text!r} is not OWNER/NAME or a git remote URL")
    return repo


@dataclass(frozen=True, slots=True)
class RepoMap:
    """Job-path globs -> repositories, first match wins.

    File format: one ``GLOB = OWNER/NAME`` (or ``= remote URL``) per line; ``#`` starts
    a comment. Globs use shell syntax (``*`` also crosses ``/``), matched against the
    full job path, e.g. ``payments/* = acme/payments``.
    """

    rules: tuple[tuple[str, Repo], ...]

    @classmethod
    def load(cls, path: str | Path) -> RepoMap:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise UserError(f"--repo-map: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            at = exc.object[: exc.start].count(b"\n") + 1
            raise UserError(f"--repo-map {path}:{at}: not UTF-8 text") from None
        rules: list[tuple[str, Repo]] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            glob, sep, target = line.partition("=")
            if not sep or not glob.strip() or not target.strip():
                raise UserError(f"--repo-map {path}:{number}: expected 'GLOB = OWNER/NAME'")
            try:
                repo = parse_slug(target.strip().strip("\"'"))
            except UserError as exc:
                raise UserError(f"--repo-map {path}:{number}: {exc}") from None
            rules.append((glob.strip().strip("\"'"), repo))
        return cls(tuple(rules))

    def lookup(self, job_path: str) -> Repo | None:
        for glob, repo in self.rules:
            if fnmatch.fnmatchcase(job_path, glob):
                return repo
        return None


TRUNK_HOST = "github.com"
"""The only ``repo.host`` Trunk accepts (``shared/trunk-api.md``)."""


class ForeignHosts:
    """Runs whose repository is not on github.com: every one is a skip, never a delivery.

    They are gathered per job and reported through the skip policy once per job, with
    the remedy, so a job with a hundred GitLab builds makes one warning, not a hundred.
    """

    def __init__(self, remedy: str) -> None:
        self.remedy = remedy
        self._pending: dict[str, tuple[Repo, list[str]]] = {}

    def holds(self, job: str, run: str, repo: Repo) -> bool:
        """True (and the run is held for `report`) when `repo` is not on github.com."""
        if repo.host == TRUNK_HOST:
            return False
        self._pending.setdefault(job, (repo, []))[1].append(run)
        return True

    def report(self, skip: Callable[[str, str], None]) -> None:
        for job, (repo, runs) in self._pending.items():
            listed = ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
            what = runs[0] if len(runs) == 1 else f"{len(runs)} runs of {job} ({listed})"
            skip(
                what,
                f"its repository {repo.slug} is not on github.com, the only host Trunk "
                f"accepts; {self.remedy}",
            )
        self._pending.clear()
