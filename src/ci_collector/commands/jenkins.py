"""``ci-collector jenkins``: finished Jenkins builds -> Trunk (or a dry-run file)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import click

from .. import secrets
from ..errors import UserError
from ..sources.jenkins.client import JenkinsClient
from ..sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ..sources.repos import RepoMap, parse_slug
from .common import DeliveryConfig, collect, delivery_options
from .concurrency import concurrency_option
from .params import WHEN


@click.command()
@click.option(
    "--url",
    required=True,
    envvar="JENKINS_URL",
    metavar="URL",
    help="Jenkins root URL [env JENKINS_URL].",
)
@click.option(
    "--job",
    "jobs",
    multiple=True,
    metavar="PATH",
    help="Full job path (folder/project/branch); repeat for more. "
    "Default: every job, found recursively.",
)
@click.option(
    "--since",
    type=WHEN,
    envvar="CI_COLLECTOR_SINCE",
    help="Only builds started after this (e.g. 30d, 2024-01-31).",
)
@click.option(
    "--repo",
    "repo_slug",
    metavar="OWNER/NAME",
    envvar="CI_COLLECTOR_REPO",
    help="File every build under this repository (github.com unless a URL).",
)
@click.option(
    "--repo-map",
    type=click.Path(dir_okay=False),
    envvar="CI_COLLECTOR_REPO_MAP",
    help="File of 'JOB-GLOB = OWNER/NAME' lines; first match wins.",
)
@concurrency_option
@delivery_options
def jenkins(
    url: str,
    jobs: tuple[str, ...],
    since: datetime | None,
    repo_slug: str | None,
    repo_map: str | None,
    **options: Any,
) -> int:
    """Collect finished Jenkins builds, Pipeline stages and parallel branches.

    Credentials: JENKINS_USER and JENKINS_API_TOKEN (an API token, not a password).
    """
    url, url_user, url_token = secrets.split_credentials("--url", url)
    user = (os.environ.get("JENKINS_USER") or "").strip() or None
    token = secrets.clean_token("JENKINS_API_TOKEN", os.environ.get("JENKINS_API_TOKEN"))
    config = DeliveryConfig.from_options(options)
    if url_user or url_token:  # https://user:TOKEN@host/: the credentials, kept out of names
        if user or token:
            raise UserError(
                f"--url {url} carries credentials and JENKINS_USER/JENKINS_API_TOKEN are "
                "set too: keep one"
            )
        user, token = url_user, secrets.clean_token("the token in --url", url_token)
    if bool(user) != bool(token):
        raise UserError("set both JENKINS_USER and JENKINS_API_TOKEN, or neither")
    collector = JenkinsCollector(
        JenkinsClient(
            url,
            user,
            token,
            timeout=config.timeout,
            verify=not config.insecure,
            retry_seconds=config.retry_seconds,
            max_body_mb=config.max_body,
        ),
        JenkinsOptions(
            jobs=jobs,
            since_ms=int(since.timestamp() * 1000) if since else None,
            repo=parse_slug(repo_slug) if repo_slug else None,
            repo_map=RepoMap.load(repo_map) if repo_map else None,
        ),
        concurrency=options["concurrency"],
    )
    return collect(config, collector)
