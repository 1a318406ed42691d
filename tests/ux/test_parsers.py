"""One grammar each: durations and git remotes read the same wherever they are typed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ci_collector.model import Repo
from ci_collector.sources.circleci.mapping import repo_from_url
from ci_collector.sources.repos import parse_remote
from ci_collector.times import parse_duration

REMOTES = [
    "https://github.com/acme/widgets.git",
    "git@github.com:acme/widgets.git",
    "ssh://git@github.com/acme/widgets",
    "ssh://git@github.com:22/acme/widgets.git",
    "https://bitbucket.example.com/scm/acme/widgets.git",
    "https://GitHub.com/acme/widgets/",
    "github.com:acme/widgets",
]


@pytest.mark.parametrize("remote", REMOTES)
def test_circleci_origins_and_jenkins_remotes_share_one_parser(remote: str) -> None:
    host = "bitbucket.example.com" if "bitbucket" in remote else "github.com"
    assert parse_remote(remote) == Repo(host, "acme", "widgets")
    assert repo_from_url(remote) == parse_remote(remote)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", timedelta(days=3)),
        ("3", timedelta(days=3)),
        ("12 h", timedelta(hours=12)),
        ("45min", timedelta(minutes=45)),
        ("2W", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        ("2 days", timedelta(days=2)),
    ],
)
def test_every_spelling_any_option_accepted_before(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "3y", "-3d", "1.5h", "3d4h", "99999999999d"])
def test_the_refusals_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(")):
        parse_duration(text)
