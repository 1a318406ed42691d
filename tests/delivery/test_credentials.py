"""Issue 13: credentials in a URL are used as credentials and never printed, stored in
the state's source names or hashed into ids; pasted tokens lose their whitespace on
every platform. The real Jenkins and CircleCI commands through `main`, against their
loopback stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.delivery.harness import run
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubModel, running_github
from tests.servers.github_bodies import T0
from tests.servers.jenkins import JenkinsStandIn, running_jenkins
from tests.servers.trunk import TOKEN as TRUNK_TOKEN
from tests.servers.trunk import TrunkStandIn
from tests.sources.github.scenarios import NAME, OWNER, bulk
from tests.sources.jenkins.scenarios import populate

USER = "ci-bot"


@pytest.fixture(params=["jenkins_SECRET_0123456789", "p@ss/w0rd:with%odd&chars-42"])
def secret(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def jenkins(secret: str) -> Iterator[JenkinsStandIn]:
    with running_jenkins(USER, secret) as server:
        populate(server)
        yield server


def with_credentials(url: str, user: str, token: str) -> str:
    return url.replace("http://", f"http://{quote(user, safe='')}:{quote(token, safe='')}@")


def leaks(text: str, secret: str) -> bool:
    return secret in text or quote(secret, safe="") in text


def test_userinfo_in_the_jenkins_url_is_the_credentials_and_never_shows(
    jenkins: JenkinsStandIn, trunk: TrunkStandIn, tmp_path: Path, secret: str
) -> None:
    by_env = run(
        "jenkins",
        "--url",
        jenkins.url,
        "--output",
        str(tmp_path / "env.jsonl"),
        env={"JENKINS_USER": USER, "JENKINS_API_TOKEN": secret},
    )
    assert by_env.code == 0, by_env.err
    url = with_credentials(jenkins.url, USER, secret)
    by_url = run("jenkins", "--url", url, "--output", str(tmp_path / "url.jsonl"))
    assert by_url.code == 0, by_url.err
    # the same events, the same ids: the credentials are no part of identity
    assert (tmp_path / "url.jsonl").read_bytes() == (tmp_path / "env.jsonl").read_bytes()
    state = tmp_path / "state.sqlite"
    sent = run(
        "jenkins",
        "--url",
        url,
        "--state",
        str(state),
        "-vv",
        env={"TRUNK_API_TOKEN": TRUNK_TOKEN, "TRUNK_API_URL": trunk.url},
    )
    assert sent.code == 0, sent.err
    shown = run("state", "show", "--state", str(state))
    assert shown.code == 0 and "jenkins:127.0.0.1" in shown.out
    for text in (
        by_url.out,
        by_url.err,
        sent.out,
        sent.err,
        shown.out,
        state.read_bytes().decode("latin-1"),
    ):
        assert not leaks(text, secret)
        assert f"{USER}@" not in text and f"{quote(USER)}:" not in text


@pytest.mark.parametrize("wrong", ["wrong_SECRET_token_99", "nope nope"])
def test_a_wrong_token_in_the_url_is_one_line_without_the_token(
    jenkins: JenkinsStandIn, tmp_path: Path, wrong: str
) -> None:
    url = with_credentials(jenkins.url, USER, wrong)
    result = run("jenkins", "--url", url, "--output", str(tmp_path / "o.jsonl"))
    assert result.code == 2, result.err
    [line] = result.err.splitlines()
    assert not leaks(line, wrong)
    if " " in wrong:
        assert line == (
            "ci-collector: error: the token in --url has a space or control character "
            "inside; set the token alone"
        )
    else:
        assert line == (
            f"ci-collector: error: Jenkins at {jenkins.url}/ refused the credentials "
            "(check JENKINS_USER and JENKINS_API_TOKEN)"
        )


def test_credentials_in_the_url_and_in_the_environment_are_refused(
    jenkins: JenkinsStandIn, tmp_path: Path, secret: str
) -> None:
    url = with_credentials(jenkins.url, USER, secret)
    result = run(
        "jenkins",
        "--url",
        url,
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"JENKINS_USER": USER, "JENKINS_API_TOKEN": secret},
    )
    assert result.code == 2
    assert result.err.splitlines() == [
        f"ci-collector: error: --url {jenkins.url} carries credentials and "
        "JENKINS_USER/JENKINS_API_TOKEN are set too: keep one"
    ]


@pytest.mark.parametrize(
    ("option", "url", "env_name"),
    [
        ("--github-api-url", "https://x:ghp_SECRET_123456@api.github.com", "GITHUB_TOKEN"),
        (
            "--circleci-api-url",
            "https://x:circle_SECRET_1234@circleci.com/api/v2",
            "CIRCLECI_TOKEN",
        ),
    ],
)
def test_credentials_in_other_api_urls_are_refused_without_showing_them(
    tmp_path: Path, option: str, url: str, env_name: str
) -> None:
    command = "github" if "github" in option else "circleci"
    target = ["--repo", "acme/widgets"] if command == "github" else ["--project-slug", "gh/a/b"]
    result = run(
        command,
        *target,
        option,
        url,
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"CIRCLECI_TOKEN": CIRCLECI_TOKEN},
    )
    assert result.code == 2, result.err
    [line] = result.err.splitlines()
    assert "SECRET" not in line
    assert "carries credentials (user:token@): remove them" in line and env_name in line


@pytest.mark.parametrize("pasted", ["{}\n", "{}\r\n", " {}\t\n"])
def test_platform_tokens_with_surrounding_whitespace_are_stripped(
    jenkins: JenkinsStandIn, tmp_path: Path, secret: str, pasted: str
) -> None:
    result = run(
        "jenkins",
        "--url",
        jenkins.url,
        "--output",
        str(tmp_path / "j.jsonl"),
        env={"JENKINS_USER": USER + "\n", "JENKINS_API_TOKEN": pasted.format(secret)},
    )
    assert result.code == 0, result.err
    assert (tmp_path / "j.jsonl").read_text().count('"chainId"') > 0
    now = datetime.now(timezone.utc)
    world = CircleCIWorld()
    pipeline = world.add_pipeline(1, now - timedelta(hours=3))
    flow = world.add_workflow(
        pipeline, "wf", "ci", "success", now - timedelta(hours=3), now - timedelta(hours=2)
    )
    world.add_job(flow, "build", "success", now - timedelta(hours=3), now - timedelta(hours=2))
    with running_circleci(world):
        circle = run(
            "circleci",
            "--project-slug",
            "gh/acme/widgets",
            "--circleci-api-url",
            world.api_url,
            "--output",
            str(tmp_path / "c.jsonl"),
            env={"CIRCLECI_TOKEN": pasted.format(CIRCLECI_TOKEN)},
        )
    assert circle.code == 0, circle.err
    assert (tmp_path / "c.jsonl").read_text().count('"chainId"') > 0


@pytest.mark.parametrize("pasted", ["ghp_SECRET_0123456789\n", "\tghp_SECRET_0123456789 \r\n"])
def test_a_github_token_with_surrounding_whitespace_is_sent_stripped(
    tmp_path: Path, pasted: str
) -> None:
    model = GitHubModel()
    bulk(model, 2, T0, 60_000)
    with running_github(model) as github:
        result = run(
            "github",
            "--repo",
            f"{OWNER}/{NAME}",
            "--github-api-url",
            github.url,
            "--since",
            "2024-12-31",
            "--output",
            str(tmp_path / "o.jsonl"),
            env={"GITHUB_TOKEN": pasted},
        )
        sent = {r.headers.get("authorization") for r in github.server.requests}
    assert result.code == 0, result.err
    assert sent == {"Bearer ghp_SECRET_0123456789"} or sent == {"token ghp_SECRET_0123456789"}


@pytest.mark.parametrize(
    ("command", "flag", "env_name"),
    [
        ("github", "--github-token", "GITHUB_TOKEN"),
        ("circleci", "--circleci-token", "CIRCLECI_TOKEN"),
        ("jenkins", "--trunk-token", "TRUNK_API_TOKEN"),
    ],
)
def test_help_says_to_prefer_the_env_var_for_tokens(command: str, flag: str, env_name: str) -> None:
    result = run(command, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    start = text.index(flag)
    assert f"env {env_name}; prefer the env var: a flag's value shows in `ps`" in text[start:][:300]
