"""``ci-collector circleci``: finished CircleCI workflows of one project -> Trunk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import click

from .. import secrets
from ..errors import UserError
from ..pipeline import Item, SkipPolicy
from ..sources.circleci.client import DEFAULT_API_URL, CircleCIClient
from ..sources.circleci.mapping import Project, app_url_for, canonical_slug
from ..sources.circleci.source import CircleCISource
from ..state import State
from ..transport import http_url
from .common import DeliveryConfig, collect, delivery_options
from .concurrency import concurrency_option
from .params import WHEN, lookback_option


@click.command()
@click.option(
    "--project-slug",
    required=True,
    envvar="CI_COLLECTOR_PROJECT_SLUG",
    metavar="VCS/ORG/REPO",
    help="The project, e.g. gh/acme/widgets (github/, bb/, bitbucket/, circleci/).",
)
@click.option("--branch", envvar="CI_COLLECTOR_BRANCH", help="Only pipelines of this branch.")
@click.option(
    "--since",
    type=WHEN,
    envvar="CI_COLLECTOR_SINCE",
    help="Pipelines created since (90d, 12h, or an ISO date); default: from the "
    "state's cursor minus --lookback, or 7 days on a first poll.",
)
@lookback_option("Re-list this far behind the cursor to find re-runs and late finishers.")
@click.option(
    "--circleci-token",
    envvar="CIRCLECI_TOKEN",
    metavar="TOKEN",
    help="CircleCI personal API token [env CIRCLECI_TOKEN; prefer the env var: a flag's "
    "value shows in `ps`].",
)
@click.option(
    "--circleci-api-url",
    envvar="CIRCLECI_API_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    help="API v2 base URL (for CircleCI server) [env CIRCLECI_API_URL].",
)
@concurrency_option
@delivery_options
def circleci(
    project_slug: str,
    branch: str | None,
    since: datetime | None,
    lookback: timedelta,
    circleci_token: str | None,
    circleci_api_url: str,
    **options: Any,
) -> int:
    """Collect finished CircleCI workflows (each re-run is its own attempt) and their jobs."""
    circleci_token = secrets.clean_token("CIRCLECI_TOKEN", circleci_token)
    config = DeliveryConfig.from_options(options)
    circleci_api_url = _without_credentials(circleci_api_url)
    try:
        slug = canonical_slug(project_slug)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not circleci_token:
        raise UserError("no CircleCI token: set CIRCLECI_TOKEN (or --circleci-token)")
    api = http_url("--circleci-api-url", circleci_api_url)
    project = Project(slug=slug, api_host=api.hostname or "", app_url=app_url_for(circleci_api_url))

    def source(state: State, skip: SkipPolicy) -> Iterator[Item]:
        with CircleCIClient(
            circleci_token or "",
            circleci_api_url,
            timeout=config.timeout,
            verify=not config.insecure,
            retry_budget=config.retry_seconds,
            max_body_mb=config.max_body,
        ) as client:
            yield from CircleCISource(
                client, project, branch, since, lookback, concurrency=options["concurrency"]
            )(state, skip)

    return collect(config, source)


def _without_credentials(url: str) -> str:
    clean, user, password = secrets.split_credentials("--circleci-api-url", url)
    if user or password:
        raise UserError(
            f"--circleci-api-url {clean} carries credentials (user:token@): remove them; "
            "the token goes in CIRCLECI_TOKEN"
        )
    return url
