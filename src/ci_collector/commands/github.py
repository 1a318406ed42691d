"""``ci-collector github``: GitHub Actions run attempts -> Trunk chains."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import secrets
from ..errors import UserError
from ..sinks.base import SinkStats
from ..sources.github.client import DEFAULT_API_URL, GitHubClient
from ..sources.github.source import GitHubCollector, GitHubQuery, in_turn, split_repo
from ..transport import http_url
from .common import DeliveryConfig, collect, delivery_options
from .concurrency import concurrency_option
from .files import check_writable, write_failed
from .params import WHEN, Seconds, lookback_option

if TYPE_CHECKING:
    from ..sources.github.app import InstallationAuth


@click.command("github")
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="OWNER/NAME",
    help="Repository to collect (repeatable).",
)
@click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="ORG",
    help="Collect every non-archived repository of this organisation (repeatable).",
)
@click.option("--since", type=WHEN, help="Backfill runs created since (ISO date/time or 90d).")
@click.option("--until", type=WHEN, help="Only runs created before this.")
@click.option(
    "--run-id",
    type=click.IntRange(1),
    envvar="CI_COLLECTOR_RUN_ID",
    help="Collect this one run (its attempts not yet delivered).",
)
@click.option("--attempt", type=click.IntRange(1), help="With --run-id: only this attempt.")
@click.option(
    "--workflow", metavar="FILE_OR_NAME", help="Only this workflow: its file (ci.yml) or its name."
)
@click.option("--branch", metavar="NAME", help="Only runs of this branch.")
@lookback_option("Window re-listed on every poll, for re-runs and late finishers.")
@click.option(
    "--max-wait",
    type=Seconds(0),
    default=60.0,
    show_default=True,
    envvar="CI_COLLECTOR_MAX_WAIT",
    help="Sit out a GitHub rate limit that resets within this many seconds; "
    "otherwise exit 75 naming the reset time.",
)
@click.option(
    "--github-api-url",
    envvar="GITHUB_API_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    help="GitHub API (Enterprise: https://HOST/api/v3).",
)
@click.option(
    "--github-token",
    envvar="GITHUB_TOKEN",
    metavar="TOKEN",
    help="GitHub token [env GITHUB_TOKEN; prefer the env var: a flag's value shows in "
    "`ps`]; optional for public repositories.",
)
@click.option(
    "--github-app-id",
    envvar="GITHUB_APP_ID",
    metavar="ID",
    help="Authenticate as this GitHub App (with its private key) instead of a token.",
)
@click.option(
    "--github-app-private-key-file",
    envvar="GITHUB_APP_PRIVATE_KEY_FILE",
    type=click.Path(dir_okay=False),
    help="The GitHub App's private key (PEM); or its text in GITHUB_APP_PRIVATE_KEY.",
)
@click.option(
    "--github-output",
    type=click.Path(dir_okay=False),
    envvar="GITHUB_OUTPUT",
    help="Append 'events=N' here (a GitHub Actions step output file).",
)
@click.option(
    "--github-max-rate",
    type=click.FloatRange(0),
    default=14.0,
    show_default=True,
    envvar="CI_COLLECTOR_GITHUB_MAX_RATE",
    help="At most this many GitHub requests a second, whatever --concurrency is (GitHub "
    "allows 900 a minute); 0: no pacing (GitHub Enterprise without rate limits).",
)
@click.option(
    "--min-remaining",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    envvar="CI_COLLECTOR_MIN_REMAINING",
    help="Leave at least this many requests of the token's rate limit to its other users: "
    "stop (exit 75, naming the reset) rather than go below.",
)
@concurrency_option
@delivery_options
def github(**options: Any) -> int:
    """Collect GitHub Actions workflow run attempts, jobs and steps.

    Without --since, polls: re-lists the last --lookback of runs (cheap: unchanged pages
    are answered 304) and sends attempts not delivered yet. With --since, backfills
    oldest first and can be interrupted and resumed.
    """
    options["github_token"] = secrets.clean_token("GITHUB_TOKEN", options["github_token"])
    config = DeliveryConfig.from_options(options)
    query = _query(options)
    github_output = options["github_output"]
    check_writable(github_output, "--github-output")
    accepted: dict[str, int] = {"events": 0}

    def count(stats: SinkStats) -> None:
        accepted["events"] = stats.events_sent

    api_url = _api_url(options["github_api_url"])
    clients: list[GitHubClient] = []
    collectors: list[GitHubCollector] = []
    try:
        for part, auth in _by_installation(options, query, api_url, config):
            clients.append(_client(options, config, api_url, auth))
            collectors.append(
                GitHubCollector(clients[-1], part, concurrency=options["concurrency"])
            )
        return collect(config, in_turn(collectors), on_done=count)
    finally:
        for client in clients:
            client.close()
        if github_output:
            _write_output(github_output, accepted["events"])


def _client(
    options: dict[str, Any], config: DeliveryConfig, api_url: str, auth: InstallationAuth | None
) -> GitHubClient:
    client = GitHubClient(
        api_url,
        None if auth else options["github_token"] or None,
        timeout=config.timeout,
        max_wait=options["max_wait"],
        verify=not config.insecure,
        max_rate=options["github_max_rate"] or None,
        auth=auth,
        retry_seconds=config.retry_seconds,
        max_body_mb=config.max_body,
    )
    client.ledger.min_remaining = options["min_remaining"]
    return client


def _write_output(path: str, events: int) -> None:
    """The step output: events the sink accepted (Trunk's 2xx, or lines written dry)."""
    try:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(f"events={events}\n")
    except OSError as exc:
        raise write_failed("--github-output", path, exc) from None


def _by_installation(
    options: dict[str, Any], query: GitHubQuery, api_url: str, config: DeliveryConfig
) -> list[tuple[GitHubQuery, InstallationAuth | None]]:
    """What each GitHub App installation covers, with its token (it wins over
    GITHUB_TOKEN); without an app, the whole query with the token."""
    key_text = os.environ.get("GITHUB_APP_PRIVATE_KEY")
    if not (options["github_app_id"] or options["github_app_private_key_file"] or key_text):
        return [(query, None)]
    # PyGithub (JWT signing, installation tokens) is imported only when an app is used:
    # 0.17 s of CPU that every token run used to pay.
    from ..sources.github.app import (
        AppCredentials,
        InstallationAuth,
        installations_for,
        integration,
    )

    credentials = AppCredentials.from_options(
        options["github_app_id"], options["github_app_private_key_file"], key_text
    )
    if credentials is None:
        return [(query, None)]
    app = integration(credentials, api_url, timeout=config.timeout, verify=not config.insecure)
    repos = [split_repo(repo) for repo in query.repos]
    return [
        (
            replace(query, repos=tuple(covered.repos), orgs=tuple(covered.orgs)),
            InstallationAuth(app, installation),
        )
        for installation, covered in installations_for(app, repos, query.orgs).items()
    ]


def _api_url(text: str) -> str:
    clean, user, password = secrets.split_credentials("--github-api-url", text)
    if user or password:
        raise UserError(
            f"--github-api-url {clean} carries credentials (user:token@): remove them; "
            "the token goes in GITHUB_TOKEN"
        )
    http_url("--github-api-url", text)
    return text


def _query(options: dict[str, Any]) -> GitHubQuery:
    repos = tuple(options["repos"])
    for repo in repos:
        split_repo(repo)
    if not repos and not options["orgs"]:
        raise UserError("name what to collect: --repo OWNER/NAME or --org ORG")
    if options["attempt"] and not options["run_id"]:
        raise UserError("--attempt needs --run-id")
    since, until = options["since"], options["until"]
    if since and until and until <= since:
        raise UserError("--until must be later than --since")
    return GitHubQuery(
        repos=repos,
        orgs=tuple(options["orgs"]),
        since=since,
        until=until,
        run_id=options["run_id"],
        attempt=options["attempt"],
        workflow=options["workflow"],
        branch=options["branch"],
        lookback=options["lookback"],
    )
