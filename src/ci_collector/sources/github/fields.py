"""The fields of GitHub's run and job bodies the mapping reads, read strictly.

Also what identifies a run attempt (its natural key, its repository as the API names
it) and the slimmed run a listing keeps in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ...model import Conclusion, Repo
from ...times import iso_to_ms

PLATFORM = "github_actions"
PARTIAL_FINGERPRINT = "partial"
"""Fingerprint of an attempt sent while still running; a later full collection replaces it."""

CONCLUSIONS: dict[str, Conclusion] = {
    "success": Conclusion.SUCCESS,
    "neutral": Conclusion.SUCCESS,
    "failure": Conclusion.FAILURE,
    "action_required": Conclusion.FAILURE,
    "startup_failure": Conclusion.FAILURE,
    "cancelled": Conclusion.CANCELLED,
    "stale": Conclusion.CANCELLED,
    "timed_out": Conclusion.TIMED_OUT,
    "skipped": Conclusion.SKIPPED,
}
"""Every conclusion word GitHub documents for runs, jobs and steps. A finished thing
without one (a step still ``in_progress`` when its job was cancelled) is concluded by the
mapper: CANCELLED if it started, SKIPPED if not; `result` keeps the status word."""
UNFINISHED = frozenset({"queued", "in_progress", "waiting", "pending", "requested"})

JsonObject = Mapping[str, Any]


class MalformedRun(ValueError):
    """A body GitHub should never send (wrong types, missing ids): skip the run, say why."""


# ---- small, strict readers -----------------------------------------------------------


def require_int(obj: JsonObject, field: str, what: str) -> int:
    value = obj.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRun(f"{what} has no integer {field!r} (got {value!r:.40})")
    return value


def optional_int(obj: JsonObject, field: str, what: str, default: int) -> int:
    if obj.get(field) is None:
        return default
    return require_int(obj, field, what)


def optional_str(obj: JsonObject, field: str, what: str) -> str | None:
    value = obj.get(field)
    if value is None or isinstance(value, str):
        return value
    raise MalformedRun(f"{what} has a non-string {field!r} (got {type(value).__name__})")


def read_time(obj: JsonObject, field: str, what: str) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    return iso_to_ms(value if isinstance(value, str) else optional_str(obj, field, what))


def login_of(obj: JsonObject, field: str) -> str:
    """``actor.login``; tags are best effort, so an odd shape just leaves the tag out."""
    user = obj.get(field)
    if isinstance(user, Mapping):
        login = user.get("login")
        if isinstance(login, str):
            return login
    return ""


def lower(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def conclusion_of(raw: Any) -> Conclusion | None:
    return CONCLUSIONS.get(lower(raw))


def is_finished(obj: JsonObject) -> bool:
    """Completed runs/jobs/steps. Upper-case words (seen in hand-edited data) count too."""
    status = lower(obj.get("status"))
    if status == "completed":
        return True
    if status in UNFINISHED:
        return False
    return lower(obj.get("conclusion")) in CONCLUSIONS


RUN_FIELDS = (
    "id",
    "name",
    "path",
    "workflow_id",
    "head_branch",
    "head_sha",
    "run_number",
    "event",
    "status",
    "conclusion",
    "created_at",
    "updated_at",
    "run_started_at",
    "run_attempt",
    "html_url",
    "pull_requests",
    "actor",
    "triggering_actor",
    "repository",
)


def slim_run(run: Any) -> Any:
    """Only what the mapping reads: a listed window can hold 1,000 runs of ~13 kB each."""
    if not isinstance(run, Mapping):
        return run
    slim = {field: run[field] for field in RUN_FIELDS if field in run}
    for field in ("actor", "triggering_actor"):
        user = slim.get(field)
        if isinstance(user, Mapping):
            slim[field] = {"login": user.get("login")}
    pulls = slim.get("pull_requests")
    if isinstance(pulls, list):
        slim["pull_requests"] = [
            {"number": pull.get("number"), "base": {"repo": base_repo(pull)}}
            for pull in pulls
            if isinstance(pull, Mapping)
        ]
    repository = slim.get("repository")
    if isinstance(repository, Mapping):
        slim["repository"] = {
            field: repository.get(field) for field in ("id", "full_name", "html_url")
        }
    return slim


def base_repo(pull: Mapping[str, Any]) -> dict[str, Any]:
    base = pull.get("base")
    repo = base.get("repo") if isinstance(base, Mapping) else None
    return {"id": repo.get("id"), "url": repo.get("url")} if isinstance(repo, Mapping) else {}


# ---- identity --------------------------------------------------------------------------


def run_id_of(run: JsonObject) -> int:
    return require_int(run, "id", "run")


def attempt_of(run: JsonObject) -> int:
    """``run_attempt``; runs from before GitHub had re-runs carry none and are attempt 1."""
    return optional_int(run, "run_attempt", f"run {run.get('id')!r}", 1)


def natural_key(repo: Repo, run_id: int, attempt: int) -> str:
    """Lower-case: ``Acme/Widgets`` and ``acme/widgets`` are one repository on GitHub."""
    return f"{repo.slug.lower()}/actions/runs/{run_id}/attempts/{attempt}"


def own_repo(repo: Repo, run: JsonObject) -> Repo:
    """The repository as the API names it: ``repository.full_name``, host of its web URL.

    Never the spelling the user typed (``--repo Acme/Widgets``) nor the API's host
    (``api.github.com``, a GHES ``/api/v3`` base): the same run always lands under one
    repository. Without the field, the typed name in lower case.
    """
    repository = run.get("repository")
    if isinstance(repository, Mapping):
        full_name, web = repository.get("full_name"), repository.get("html_url")
        host = urlsplit(web).hostname if isinstance(web, str) else None
        if isinstance(full_name, str) and full_name.count("/") == 1 and host:
            owner, name = full_name.split("/")
            return Repo(host.lower(), owner, name)
    return Repo(repo.host.lower(), repo.owner.lower(), repo.name.lower())


def fingerprint_of(run: JsonObject) -> str:
    """Changes when a finished attempt would map differently; ``updated_at`` is left out
    on purpose: GitHub bumps it long after the run ended."""
    return f"{lower(run.get('status'))}:{lower(run.get('conclusion'))}"


def workflow_path(run: JsonObject) -> str:
    """``.github/workflows/ci.yml`` from ``path`` (minus any ``@ref``), else a stable stand-in."""
    what = f"run {run.get('id')!r}"
    path = optional_str(run, "path", what)
    if path:
        return path.split("@", 1)[0]
    name = optional_str(run, "name", what)
    if name:
        return name
    return f"workflows/{require_int(run, 'workflow_id', what)}"
