"""Git remotes in every spelling Jenkins records, and the --repo-map file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_collector.errors import UserError
from ci_collector.model import Repo
from ci_collector.sources.repos import RepoMap, parse_remote, parse_slug


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://github.com/acme/app.git", Repo("github.com", "acme", "app")),
        ("https://github.com/acme/app", Repo("github.com", "acme", "app")),
        ("https://user@github.com/acme/app/", Repo("github.com", "acme", "app")),
        ("git@github.com:acme/app.git", Repo("github.com", "acme", "app")),
        ("github.com:acme/app", Repo("github.com", "acme", "app")),
        ("ssh://git@github.com/acme/app.git", Repo("github.com", "acme", "app")),
        ("ssh://git@ghe.corp.example:7999/acme/app.git", Repo("ghe.corp.example", "acme", "app")),
        ("https://GHE.corp.example/Acme/App.git", Repo("ghe.corp.example", "Acme", "App")),
        ("https://gitlab.com/group/sub/app.git", Repo("gitlab.com", "group/sub", "app")),
        ("https://bitbucket.corp/scm/PROJ/app.git", Repo("bitbucket.corp", "PROJ", "app")),
    ],
)
def test_remotes_parse(remote: str, expected: Repo) -> None:
    assert parse_remote(remote) == expected


@pytest.mark.parametrize(
    "remote",
    [
        "",
        "/srv/git/app.git",
        "file:///srv/git/app.git",
        "https://github.com/",
        "https://github.com/acme",
    ],
)
def test_not_a_repository(remote: str) -> None:
    assert parse_remote(remote) is None


def test_slug_and_bad_slug() -> None:
    assert parse_slug("acme/app") == Repo("github.com", "acme", "app")
    assert parse_slug("git@ghe.example:acme/app.git") == Repo("ghe.example", "acme", "app")
    with pytest.raises(UserError):
        parse_slug("not a repo")


def test_repo_map_first_match_wins(tmp_path: Path) -> None:
    path = tmp_path / "map"
    path.write_text(
        "payments/* = acme/payments  # all payment jobs\n\n"
        "*/deploy = https://ghe.example/ops/deploy.git\n* = acme/monorepo\n"
    )
    repo_map = RepoMap.load(path)
    assert repo_map.lookup("payments/api/main") == Repo("github.com", "acme", "payments")
    assert repo_map.lookup("team/deploy") == Repo("ghe.example", "ops", "deploy")
    assert repo_map.lookup("other") == Repo("github.com", "acme", "monorepo")


def test_repo_map_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "map"
    path.write_text("ok/* = acme/ok\nbroken line\n")
    with pytest.raises(UserError, match=r"map:2: expected"):
        RepoMap.load(path)
    with pytest.raises(UserError, match="cannot read"):
        RepoMap.load(tmp_path / "missing")
