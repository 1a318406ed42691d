"""What a Jenkins build's JSON says about itself: causes, parameters, checkouts, upstreams.

Pure readers that never trust the input, shared by the stage and build mappings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...model import Conclusion, Repo
from ..repos import parse_remote

CONCLUSIONS: dict[str, Conclusion] = {
    "SUCCESS": Conclusion.SUCCESS,
    "FAILURE": Conclusion.FAILURE,
    "FAILED": Conclusion.FAILURE,
    "UNSTABLE": Conclusion.FAILURE,
    "ABORTED": Conclusion.CANCELLED,
    "NOT_BUILT": Conclusion.SKIPPED,
    "NOT_BUILD": Conclusion.SKIPPED,
    "NOT_EXECUTED": Conclusion.SKIPPED,
    "SKIPPED": Conclusion.SKIPPED,
}
"""Build results and Stage View / Blue Ocean statuses; other words (IN_PROGRESS...) map to none."""

_LIBRARY_NAME = re.compile(
    r"(^|[-_.])(pipeline|shared|jenkins|ci)[-_.]?lib(rary|s)?($|[-_.])|"
    r"[-_.]lib(rary)?$",
    re.IGNORECASE,
)
PR_BRANCH = re.compile(r"^(?:PR|MR)-(\d+)$")


class MalformedBuild(ValueError):
    """A build whose JSON is not what Jenkins sends; the collector skips it."""


# ---- small readers that never trust the input ----------------------------------------


def read_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def read_actions(build: dict[str, Any], having: str) -> list[dict[str, Any]]:
    return [action for action in read_dicts(build.get("actions")) if having in action]


def conclusion_of(word: str | None) -> Conclusion | None:
    return CONCLUSIONS.get(word.upper()) if word else None


# ---- what a build says about itself --------------------------------------------------


def causes(build: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        cause for action in read_actions(build, "causes") for cause in read_dicts(action["causes"])
    ]


def parameters(build: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for action in read_actions(build, "parameters"):
        for parameter in read_dicts(action["parameters"]):
            name, value = parameter.get("name"), parameter.get("value")
            if (
                isinstance(name, str)
                and isinstance(value, (str, int))
                and not isinstance(value, bool)
            ):
                values.setdefault(name, str(value))
    return values


def trigger_of(found: list[dict[str, Any]]) -> str:
    """Why the build ran, in DESIGN's words; a replay is a user action but says so."""
    kinds = [str(cause.get("_class", "")) for cause in found]
    if any(kind.endswith("ReplayCause") for kind in kinds):
        return "replay"
    if any("upstreamProject" in cause for cause in found):
        return "upstream"
    if any(kind.endswith(("UserIdCause", "UserCause")) for kind in kinds) or any(
        "userName" in cause for cause in found
    ):
        return "user"
    if any(kind.endswith("TimerTriggerCause") for kind in kinds):
        return "timer"
    if any(kind.endswith("BranchIndexingCause") for kind in kinds):
        return "branch_indexing"
    if any(
        kind.endswith(("SCMTriggerCause", "BranchEventCause", "GitHubPushCause")) for kind in kinds
    ):
        return "scm"
    if any(kind.endswith("RemoteCause") for kind in kinds):
        return "remote"
    return kinds[0].rsplit("$", 1)[-1].rsplit(".", 1)[-1] if kinds and kinds[0] else ""


@dataclass(frozen=True, slots=True)
class Checkout:
    """One git `BuildData`: what a build checked out, and from where."""

    repo: Repo | None
    sha: str
    branch: str


def checkouts(build: dict[str, Any]) -> list[Checkout]:
    found: list[Checkout] = []
    for action in read_actions(build, "remoteUrls"):
        urls = (
            [url for url in action["remoteUrls"] if isinstance(url, str)]
            if isinstance(action["remoteUrls"], list)
            else []
        )
        repo = next((r for r in map(parse_remote, urls) if r is not None), None)
        revision = action.get("lastBuiltRevision")
        revision = revision if isinstance(revision, dict) else {}
        branches = read_dicts(revision.get("branch"))
        found.append(
            Checkout(
                repo,
                read_str(revision.get("SHA1")),
                read_str(branches[0].get("name")) if branches else "",
            )
        )
    return found


def library_names(build: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for action in read_actions(build, "libraries"):
        for library in read_dicts(action["libraries"]):
            names.add(read_str(library.get("name")).lower())
    return names - {""}


def is_library(checkout: Checkout, libraries: set[str]) -> bool:
    if checkout.repo is None:
        return False
    name = checkout.repo.name.lower()
    return name in libraries or bool(_LIBRARY_NAME.search(name))


def app_checkout(build: dict[str, Any]) -> Checkout | None:
    """The project's own checkout among the build's `BuildData` entries.

    Rule: drop shared-library checkouts (a repository named like a library the build
    loaded, or named ``*-library``/``*-lib``/``pipeline-lib*``...); of the rest, the
    first in action order is the project's (Jenkins records the Jenkinsfile's
    ``checkout scm`` before any later helper checkout). If only libraries were checked
    out, none is the project's.
    """
    libraries = library_names(build)
    candidates = [c for c in checkouts(build) if c.repo is not None]
    own = [c for c in candidates if not is_library(c, libraries)]
    return own[0] if own else None


def project_url_repo(job: dict[str, Any]) -> Repo | None:
    """The GitHub project property (``projectUrl``) of a job, when set."""
    for prop in read_dicts(job.get("property")):
        url = prop.get("projectUrl")
        if isinstance(url, str) and url:
            repo = parse_remote(url)
            if repo is not None:
                return repo
    return None


def is_branch_build(build: dict[str, Any]) -> bool:
    """Multibranch builds carry `SCMRevisionAction`: the job's name is then the branch."""
    return any(
        str(action.get("_class", "")).endswith("SCMRevisionAction")
        for action in read_dicts(build.get("actions"))
    )


def short_branch(ref: str) -> str:
    for prefix in ("refs/remotes/origin/", "refs/heads/", "origin/", "remotes/origin/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


# ---- upstream links ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upstream:
    job: str
    build: int
    top_job: str
    top_build: int


def upstream_of(found: list[dict[str, Any]]) -> Upstream | None:
    """The direct upstream build and the top-most one, following nested upstream causes."""
    for cause in found:
        direct = _upstream_pair(cause)
        if direct is None:
            continue
        top, current = direct, cause
        for _ in range(50):  # chains of triggers are short; a loop in the data is not
            nested = next(
                (c for c in read_dicts(current.get("upstreamCauses")) if _upstream_pair(c)), None
            )
            if nested is None:
                break
            pair = _upstream_pair(nested)
            assert pair is not None
            top, current = pair, nested
        return Upstream(direct[0], direct[1], top[0], top[1])
    return None


def _upstream_pair(cause: dict[str, Any]) -> tuple[str, int] | None:
    project, number = cause.get("upstreamProject"), read_int(cause.get("upstreamBuild"))
    if isinstance(project, str) and project and number is not None:
        return project.strip("/"), number
    return None
