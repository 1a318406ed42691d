"""HTTP going wrong, through the real CLI (in-process): one line on stderr and the right code.

A name the user gave that does not exist, or a URL that is not the platform's API, is a
mistake that will never heal: exit 2. A server that trickles, cuts its answer short or
asks to come back in a year is the server's passing trouble: exit 75, quickly. A body
too large to hold is refused before it is read whole.
"""

from __future__ import annotations

import pytest

from tests.hardening.in_process import Cli, one_line
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.github import GitHubServer
from tests.servers.jenkins import running_jenkins
from tests.servers.misbehaving import Behaviour, answer, misbehaving, redirect_loop
from tests.sources.github.scenarios import NAME, OWNER

# ---- a name the user gave that GitHub does not know: exit 2 ---------------------------


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (
            ["--repo", f"{OWNER}/no-such-repo"],
            {},
            [f"repository {OWNER}/no-such-repo not found", "or private: set GITHUB_TOKEN"],
        ),
        (
            ["--repo", f"{OWNER.upper()}x/{NAME}"],
            {"GITHUB_TOKEN": "ghp_seen_but_blind_0000"},
            ["not found", "this token cannot see it (it needs 'actions: read')"],
        ),
        (
            ["--repo", f"{OWNER}/{NAME}", "--workflow", "no-such.yml"],
            {},
            ["--workflow 'no-such.yml': no such workflow file or id", f"{OWNER}/{NAME}"],
        ),
        (
            ["--repo", f"{OWNER}/gone", "--workflow", "ci.yml"],
            {},
            [f"repository {OWNER}/gone not found", "set GITHUB_TOKEN"],
        ),
        (
            ["--repo", f"{OWNER}/gone", "--workflow", "Build and test"],
            {},
            [f"repository {OWNER}/gone not found", "set GITHUB_TOKEN"],
        ),
        (
            ["--repo", f"{OWNER}/{NAME}", "--run-id", "987654321"],
            {},
            [f"run 987654321 of {OWNER}/{NAME} not found", "set GITHUB_TOKEN"],
        ),
    ],
)
def test_a_github_name_that_is_not_found_is_one_line_and_exit_2(
    cli: Cli,
    github_standin: GitHubServer,
    args: list[str],
    env: dict[str, str],
    fragments: list[str],
) -> None:
    result = cli("github", *args, "--github-api-url", github_standin.url, env=env)
    one_line(result, 2, *fragments)


@pytest.mark.parametrize(
    ("behaviour", "fragment"),
    [
        (answer("404 Not Found", b"<html>no such page</html>"), "answered 404"),
        (answer("404 Not Found", b""), "answered 404"),
        (answer("200 OK", b"<html><form>Sign in</form></html>"), "not JSON"),
        (answer("200 OK", b'{"status": "ok"}', "application/json"), "not GitHub's run list"),
        (answer("200 OK", b"[1, 2, 3]", "application/json"), "not GitHub's run list"),
        (redirect_loop("301 Moved Permanently"), "redirects"),
        (redirect_loop("302 Found"), "redirect"),
    ],
)
def test_a_github_api_url_that_is_not_github_is_one_line_and_exit_2(
    cli: Cli, behaviour: Behaviour, fragment: str
) -> None:
    with misbehaving(behaviour) as server:
        result = cli("github", "--repo", "a/b", "--github-api-url", server.url)
    one_line(result, 2, fragment, "--github-api-url")


# ---- a Jenkins --url that is not a Jenkins root: exit 2 --------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [
        answer("404 Not Found", b"<html><h1>404</h1>nginx</html>"),
        answer("404 Not Found", b'{"error": "not found"}', "application/json"),
        answer("200 OK", b"<html><form action='j_spring_security_check'>Sign in</form></html>"),
    ],
)
def test_a_jenkins_url_that_is_not_a_root_is_one_line_and_exit_2(
    cli: Cli, behaviour: Behaviour
) -> None:
    with misbehaving(behaviour) as server:
        result = cli("jenkins", "--url", server.url + "/jenkins")
    one_line(result, 2, "is not a Jenkins root", "check --url and the context path")


def test_a_jenkins_root_404_names_the_api_path(cli: Cli) -> None:
    with misbehaving(answer("404 Not Found", b"<html>Not Found</html>")) as server:
        line = one_line(cli("jenkins", "--url", server.url), 2)
    assert "(HTTP 404 for /api/json); check --url and the context path" in line


def test_a_jenkins_that_asks_to_log_in_says_which_variables_to_set(cli: Cli) -> None:
    with running_jenkins("bot", "the-right-token-1") as jenkins:
        result = cli("jenkins", "--url", jenkins.url)
    one_line(result, 2, "asks to log in", "set JENKINS_USER and JENKINS_API_TOKEN")


def test_a_jenkins_redirect_loop_is_one_line_and_exit_2(cli: Cli) -> None:
    for behaviour in (redirect_loop(), redirect_loop("301 Moved Permanently", same_path=True)):
        with misbehaving(behaviour) as server:
            result = cli("jenkins", "--url", server.url)
        one_line(result, 2, "redirects", "in a loop", "check --url")


# ---- malformed values: exit 2 before any request ---------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["jenkins", "--url", "http://ci.example:99999"], "--url 'http://ci.example:99999'"),
        (["jenkins", "--url", "http://[::1"], "--url 'http://[::1' is not a valid URL"),
        (["jenkins", "--url", "http://ci:port/"], "is not a valid URL"),
        (
            ["github", "--repo", "a/b", "--github-api-url", "https://[::1/api"],
            "--github-api-url 'https://[::1/api' is not a valid URL",
        ),
        (
            ["github", "--repo", "a/b", "--github-api-url", "http://127.0.0.1:70000"],
            "--github-api-url",
        ),
        (
            ["circleci", "--project-slug", "gh/a/b", "--circleci-api-url", "http://[::1:80"],
            "--circleci-api-url",
        ),
        (["github", "--repo", "a/b", "--timeout", "inf"], "'--timeout'"),
        (["github", "--repo", "a/b", "--timeout", "nan"], "'nan' is not a finite number"),
        (["jenkins", "--url", "http://ci", "--timeout", "-inf"], "--timeout"),
        (["jenkins", "--url", "http://ci", "--retry-seconds", "nan"], "'nan' is not a finite"),
        (["jenkins", "--url", "http://ci", "--deadline", "inf"], "'inf' is not a finite"),
        (["jenkins", "--url", "http://ci", "--max-body", "0"], "--max-body"),
    ],
)
def test_malformed_urls_and_numbers_are_one_line_and_exit_2(
    cli: Cli, args: list[str], fragment: str
) -> None:
    result = cli(*args, env={"CIRCLECI_TOKEN": CIRCLECI_TOKEN})
    one_line(result, 2, fragment)
