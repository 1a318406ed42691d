"""Bad input to the real CLI: one line on stderr naming the problem, the right exit code.

Usage mistakes exit 2 before anything is fetched. Remote failures (nothing listening,
an HTML page instead of an API, a rejected token) exit 1 and are run with ``-q`` so the
assertion is about the error line itself, not about progress lines before it; Trunk that
cannot be reached within ``--retry-seconds`` is "come back later" (75).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.servers.base import Reply, Request
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import T0
from tests.servers.jenkins import running_jenkins
from tests.servers.trunk import TOKEN as TRUNK_TOKEN
from tests.servers.trunk import TrunkStandIn
from tests.sources.github.scenarios import NAME, OWNER, bulk

CIRCLECI = {"CIRCLECI_TOKEN": CIRCLECI_TOKEN}


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ci-collector: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["github", "--repo", "a/b", "--lookback", "3x"], {}, "'3x' is not a duration"),
        (
            ["github", "--repo", "a/b", "--since", "last tuesday"],
            {},
            "'last tuesday' is not a date",
        ),
        (["jenkins", "--url", "http://ci", "--since", "2024-13-45"], {}, "'2024-13-45' is not"),
        (["circleci", "--project-slug", "gh/a/b", "--since", "soon"], CIRCLECI, "'soon' is not"),
        (
            ["github", "--repo", "a/b", "--since", "2024-02-01", "--until", "2024-01-01"],
            {},
            "--until must be later than --since",
        ),
        (
            ["github", "--repo", "a/b", "--github-api-url", "api.github.com"],
            {},
            "--github-api-url 'api.github.com' is not an http(s) URL",
        ),
        (["github", "--repo", "a/b", "--attempt", "2"], {}, "--attempt needs --run-id"),
        (["github", "--repo", "a/b", "--timeout", "0"], {}, "'--timeout'"),
        (["github", "--repo", "a/b", "--log-format", "xml"], {}, "'--log-format'"),
        (["jenkins", "--url", "ftp://ci.example"], {}, "--url 'ftp://ci.example' is not"),
        (["jenkins", "--url", "http://ci", "--repo", "noslash"], {}, "'noslash' is not OWNER/NAME"),
        (
            ["jenkins", "--url", "http://ci", "--repo-map", "/no/such/file"],
            {},
            "--repo-map: cannot read /no/such/file",
        ),
        (
            ["jenkins", "--url", "http://ci"],
            {"JENKINS_USER": "bot"},
            "set both JENKINS_USER and JENKINS_API_TOKEN",
        ),
        (
            ["circleci", "--project-slug", "gh/a/b", "--lookback", "a while"],
            CIRCLECI,
            "'--lookback': 'a while' is not a duration",
        ),
        (
            ["circleci", "--project-slug", "gh/a/b", "--circleci-api-url", "circleci.com"],
            CIRCLECI,
            "--circleci-api-url 'circleci.com' is not an http(s) URL",
        ),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    args: list[str], env: dict[str, str], fragment: str, tmp_path: Path
) -> None:
    result = run_cli(*args, "--output", str(tmp_path / "o.jsonl"), env=env)
    one_line_error(result, 2, fragment)


@pytest.fixture
def closed_url(refused_url: str) -> str:
    """A loopback port nothing listens on (held for the test, see `refused_url`)."""
    return refused_url


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        (["github", "--repo", "a/b", "--github-api-url", "{url}"], "cannot reach GitHub at {url}"),
        (["jenkins", "--url", "{url}"], "cannot reach Jenkins at {url}/"),
        (
            ["circleci", "--project-slug", "gh/a/b", "--circleci-api-url", "{url}/api/v2"],
            "cannot reach CircleCI at {url}/api/v2",
        ),
    ],
)
def test_unreachable_platforms_are_one_line_and_exit_1(
    command: list[str], fragment: str, closed_url: str, tmp_path: Path
) -> None:
    args = [part.format(url=closed_url) for part in command]
    result = run_cli(
        *args, "-q", "--timeout", "1", "--output", str(tmp_path / "o.jsonl"), env=CIRCLECI
    )
    one_line_error(result, 1, fragment.format(url=closed_url))


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    model = GitHubModel()
    bulk(model, 2, T0, 60_000)
    with running_github(model) as server:
        yield server


def test_unreachable_trunk_is_come_back_later_in_one_line(
    github: GitHubServer, closed_url: str, tmp_path: Path
) -> None:
    result = run_cli(
        "github",
        "--repo",
        f"{OWNER}/{NAME}",
        "--github-api-url",
        github.url,
        "--since",
        "2024-12-30",
        "-q",
        "--retry-seconds",
        "0.5",
        "--trunk-url",
        closed_url,
        "--state",
        str(tmp_path / "s.sqlite"),
        env={"TRUNK_API_TOKEN": TRUNK_TOKEN},
    )
    one_line_error(result, 75, "Trunk still failing", "ConnectError")


def test_a_jenkins_url_answering_html_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with running_jenkins() as server:
        server.html = True
        result = run_cli(
            "jenkins", "--url", server.url, "-q", "--output", str(tmp_path / "o.jsonl")
        )
    one_line_error(result, 2, "is not a Jenkins root", "check --url and the context path")


def refuse(request: Request, real: Callable[[], Reply]) -> Reply:
    return Reply(401, b'{"message":"Bad credentials"}')


def test_rejected_tokens_are_one_line_naming_the_token(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    out = ["-q", "--output", str(tmp_path / "o.jsonl")]
    github.server.intercept = refuse
    one_line_error(
        run_cli(
            "github",
            "--repo",
            "a/b",
            "--github-api-url",
            github.url,
            *out,
            env={"GITHUB_TOKEN": "ghp_expired_000000"},
        ),
        1,
        "GITHUB_TOKEN was rejected by GitHub (401 Bad credentials)",
    )
    with running_jenkins("bot", "right-token-123") as jenkins:
        one_line_error(
            run_cli(
                "jenkins",
                "--url",
                jenkins.url,
                *out,
                env={"JENKINS_USER": "bot", "JENKINS_API_TOKEN": "expired-token-000"},
            ),
            2,
            "refused the credentials (check JENKINS_USER and JENKINS_API_TOKEN)",
        )
    world = CircleCIWorld()
    with running_circleci(world):
        one_line_error(
            run_cli(
                "circleci",
                "--project-slug",
                "gh/acme/widgets",
                "--circleci-api-url",
                world.api_url,
                *out,
                env={"CIRCLECI_TOKEN": "expired-circle-000"},
            ),
            1,
            "CircleCI rejected the token (CIRCLECI_TOKEN) with HTTP 401",
        )
    github.server.intercept = None
    one_line_error(
        run_cli(
            "github",
            "--repo",
            f"{OWNER}/{NAME}",
            "--github-api-url",
            github.url,
            "--since",
            "2024-12-30",
            "-q",
            "--trunk-url",
            trunk.url,
            "--state",
            str(tmp_path / "s.sqlite"),
            env={"TRUNK_API_TOKEN": "trunk_expired_000"},
        ),
        1,
        "Trunk rejected the API token (TRUNK_API_TOKEN)",
    )


def drop(request: Request, real: Callable[[], Reply]) -> Reply:
    return Reply(drop=True)


def test_a_server_that_accepts_then_drops_is_come_back_later_not_unreachable(
    github: GitHubServer, tmp_path: Path
) -> None:
    """Connected, then hung up on: the server's passing trouble (75), not a wrong URL."""
    out = ["-q", "--timeout", "1", "--retry-seconds", "0.5", "--output", str(tmp_path / "o")]
    github.server.intercept = drop
    one_line_error(
        run_cli("github", "--repo", "a/b", "--github-api-url", github.url, *out),
        75,
        f"GitHub at {github.url} did not answer",
    )
    with running_jenkins() as jenkins:
        jenkins.server.intercept = drop
        one_line_error(
            run_cli("jenkins", "--url", jenkins.url, *out),
            75,
            f"Jenkins at {jenkins.url}/ dropped the connection",
        )
    world = CircleCIWorld()
    with running_circleci(world):
        world.server.intercept = drop
        one_line_error(
            run_cli(
                "circleci",
                "--project-slug",
                "gh/acme/widgets",
                "--circleci-api-url",
                world.api_url,
                *out,
                env=CIRCLECI,
            ),
            75,
            "CircleCI still failing after",
        )
