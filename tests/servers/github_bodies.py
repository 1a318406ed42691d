"""GitHub REST bodies in the exact shape of the real ones (same fields, nesting and value
types as the recordings in ``shared/fixtures/github``), with our own values on one test host.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

WEB = "https://github.test"
API = "https://api.github.test"
T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str, user_id: int = 1001, kind: str = "User") -> dict[str, Any]:
    base = f"{API}/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_{user_id:08d}",
        "avatar_url": f"https://avatars.github.test/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


_REPO_URLS = (
    "forks",
    "keys{/key_id}",
    "collaborators{/collaborator}",
    "teams",
    "hooks",
    "issues/events{/number}",
    "events",
    "assignees{/user}",
    "branches{/branch}",
    "tags",
    "git/blobs{/sha}",
    "git/tags{/sha}",
    "git/refs{/sha}",
    "git/trees{/sha}",
    "statuses/{sha}",
    "languages",
    "stargazers",
    "contributors",
    "subscribers",
    "subscription",
    "commits{/sha}",
    "git/commits{/sha}",
    "comments{/number}",
    "issues/comments{/number}",
    "contents/{+path}",
    "compare/{base}...{head}",
    "merges",
    "{archive_format}{/ref}",
    "downloads",
    "issues{/number}",
    "pulls{/number}",
    "milestones{/number}",
    "notifications{?since,all,participating}",
    "labels{/name}",
    "releases{/id}",
    "deployments",
)
_REPO_URL_NAMES = (
    "forks_url",
    "keys_url",
    "collaborators_url",
    "teams_url",
    "hooks_url",
    "issue_events_url",
    "events_url",
    "assignees_url",
    "branches_url",
    "tags_url",
    "blobs_url",
    "git_tags_url",
    "git_refs_url",
    "trees_url",
    "statuses_url",
    "languages_url",
    "stargazers_url",
    "contributors_url",
    "subscribers_url",
    "subscription_url",
    "commits_url",
    "git_commits_url",
    "comments_url",
    "issue_comment_url",
    "contents_url",
    "compare_url",
    "merges_url",
    "archive_url",
    "downloads_url",
    "issues_url",
    "pulls_url",
    "milestones_url",
    "notifications_url",
    "labels_url",
    "releases_url",
    "deployments_url",
)


def repository(owner: str, name: str, repo_id: int = 5001) -> dict[str, Any]:
    api = f"{API}/repos/{owner}/{name}"
    body: dict[str, Any] = {
        "id": repo_id,
        "node_id": f"R_{repo_id:08d}",
        "name": name,
        "full_name": f"{owner}/{name}",
        "private": False,
        "owner": user(owner, 9000 + repo_id % 1000, "Organization"),
        "html_url": f"{WEB}/{owner}/{name}",
        "description": "test repository",
        "fork": False,
        "url": api,
    }
    for field, suffix in zip(_REPO_URL_NAMES, _REPO_URLS, strict=True):
        body[field] = f"{api}/{suffix}"
    return body


def run_body(
    owner: str,
    name: str,
    run_id: int,
    *,
    created: int,
    run_number: int = 1,
    attempt: int = 1,
    started: int | None = None,
    updated: int | None = None,
    status: str = "completed",
    conclusion: str | None = "success",
    workflow: str = "CI",
    path: str = ".github/workflows/ci.yml",
    workflow_id: int = 77001,
    branch: str = "main",
    sha: str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
    event: str = "push",
    actor: str = "octo-dev",
    triggering_actor: str | None = None,
    pr_number: int | None = None,
) -> dict[str, Any]:
    """One ``/actions/runs/{id}`` (or ``/attempts/{n}``) body."""
    api = f"{API}/repos/{owner}/{name}"
    run_api = f"{api}/actions/runs/{run_id}"
    pulls = []
    if pr_number is not None:
        ref = {"id": 5001, "url": api, "name": name}
        pulls.append(
            {
                "url": f"{api}/pulls/{pr_number}",
                "id": 880000 + pr_number,
                "number": pr_number,
                "head": {"ref": branch, "sha": sha, "repo": ref},
                "base": {"ref": "main", "sha": "1" * 40, "repo": ref},
            }
        )
    return {
        "id": run_id,
        "name": workflow,
        "node_id": f"WFR_{run_id}",
        "head_branch": branch,
        "head_sha": sha,
        "path": path,
        "display_title": f"{workflow} #{run_number}",
        "run_number": run_number,
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": workflow_id,
        "check_suite_id": 3_000_000 + run_id,
        "check_suite_node_id": f"CS_{run_id}",
        "url": run_api,
        "html_url": f"{WEB}/{owner}/{name}/actions/runs/{run_id}",
        "pull_requests": pulls,
        "created_at": iso(created),
        "updated_at": iso(updated or (started or created) + 600_000),
        "actor": user(actor),
        "run_attempt": attempt,
        "referenced_workflows": [],
        "run_started_at": iso(started or created),
        "triggering_actor": user(triggering_actor or actor),
        "jobs_url": f"{run_api}/jobs",
        "logs_url": f"{run_api}/logs",
        "check_suite_url": f"{api}/check-suites/{3_000_000 + run_id}",
        "artifacts_url": f"{run_api}/artifacts",
        "cancel_url": f"{run_api}/cancel",
        "rerun_url": f"{run_api}/rerun",
        "previous_attempt_url": f"{run_api}/attempts/{attempt - 1}" if attempt > 1 else None,
        "workflow_url": f"{api}/actions/workflows/{workflow_id}",
        "head_commit": {
            "id": sha,
            "tree_id": "2" * 40,
            "message": "Change things",
            "timestamp": iso(created),
            "author": {"name": actor, "email": f"{actor}@example.test"},
            "committer": {"name": "GitHub", "email": "noreply@example.test"},
        },
        "repository": repository(owner, name),
        "head_repository": repository(owner, name),
    }


def step(
    number: int,
    name: str,
    started: int | None,
    completed: int | None,
    conclusion: str | None = "success",
    status: str = "completed",
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "number": number,
        "started_at": iso(started),
        "completed_at": iso(completed),
    }


def job_body(
    owner: str,
    name: str,
    run: dict[str, Any],
    job_id: int,
    job_name: str,
    *,
    created: int,
    started: int | None,
    completed: int | None,
    conclusion: str | None = "success",
    status: str = "completed",
    attempt: int | None = None,
    steps: list[dict[str, Any]] | None = None,
    labels: tuple[str, ...] = ("ubuntu-latest",),
    runner: str | None = "GitHub Actions 1000001",
    runner_group: str | None = "GitHub Actions",
) -> dict[str, Any]:
    """One element of ``/attempts/{n}/jobs``'s ``jobs`` array."""
    api = f"{API}/repos/{owner}/{name}"
    run_id = run["id"]
    return {
        "id": job_id,
        "run_id": run_id,
        "workflow_name": run["name"],
        "head_branch": run["head_branch"],
        "run_url": f"{api}/actions/runs/{run_id}",
        "run_attempt": attempt or run["run_attempt"],
        "node_id": f"CR_{job_id}",
        "head_sha": run["head_sha"],
        "url": f"{api}/actions/jobs/{job_id}",
        "html_url": f"{WEB}/{owner}/{name}/actions/runs/{run_id}/job/{job_id}",
        "status": status,
        "conclusion": conclusion,
        "created_at": iso(created),
        "started_at": iso(started),
        "completed_at": iso(completed),
        "name": job_name,
        "steps": steps if steps is not None else [],
        "check_run_url": f"{api}/check-runs/{job_id}",
        "labels": list(labels),
        "runner_id": 1000001 if runner else None,
        "runner_name": runner,
        "runner_group_id": 0 if runner_group else None,
        "runner_group_name": runner_group,
    }


def standard_steps(start: int, conclusion: str = "success") -> list[dict[str, Any]]:
    """Set up job / checkout / test / Complete job, 10 s each."""
    names = ["Set up job", "Checkout", "Run tests", "Complete job"]
    return [
        step(
            n + 1,
            label,
            start + n * 10_000,
            start + (n + 1) * 10_000,
            conclusion if label == "Run tests" else "success",
        )
        for n, label in enumerate(names)
    ]
