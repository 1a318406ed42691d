"""Jenkins through the real CLI, outside the happy path: what the state may claim.

A poll that delivered everything leaves nothing to look at again; a re-created job
(numbering restarted at 1) is sent, under ids of its own; a build skipped because its
repository was unknown is retried once the repository settings change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci_collector.mapper import event_id
from ci_collector.sources.jenkins.client import JenkinsClient
from tests.conftest import run_cli
from tests.servers.jenkins import Build, JenkinsStandIn, running_jenkins
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.jenkins.scenarios import T0, build_body, build_data, populate

USER, JENKINS_TOKEN = "ci-bot", "jenkins-once-token-0123456789"
ENV = {"JENKINS_USER": USER, "JENKINS_API_TOKEN": JENKINS_TOKEN, "TRUNK_API_TOKEN": TOKEN}
JOB = "team/reborn"
DAY = 86_400_000


def poll(jenkins: JenkinsStandIn, trunk: TrunkStandIn, state: Path, *extra: str) -> str:
    done = run_cli(
        "jenkins", "--url", jenkins.url, "--trunk-url", trunk.url, "--state", str(state),
        *extra, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr


def poll_with_new_settings(
    jenkins: JenkinsStandIn, trunk: TrunkStandIn, state: Path, repo_map: Path, fix: str
) -> str:
    """Poll after the user fixed the repository of JOB: in the --repo-map file, or --repo."""
    if fix == "map":
        repo_map.write_text(f"{JOB} = acme/app\n")
        return poll(jenkins, trunk, state, "--repo-map", str(repo_map))
    return poll(jenkins, trunk, state, "--repo", "acme/app")


def show(state: Path) -> dict[str, dict[str, Any]]:
    shown = run_cli("state", "show", "--json", "--state", str(state))
    assert shown.returncode == 0, shown.stderr
    return {row["source"]: row for row in json.loads(shown.stdout)}


def freestyle(jenkins: JenkinsStandIn, number: int, started: int, checkout: bool = True) -> Build:
    actions = [build_data("git@github.com:acme/app.git", "e" * 40)] if checkout else []
    body = build_body(jenkins, JOB, number, "SUCCESS", *actions, pipeline=False)
    body["timestamp"] = started
    return jenkins.add_build(JOB, Build(body))


def roots(trunk: TrunkStandIn) -> set[str]:
    return {str(e["id"]) for e in trunk.all_events() if "parent" not in e}


def test_a_poll_that_delivered_everything_leaves_nothing_to_recheck(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    with running_jenkins(USER, JENKINS_TOKEN) as jenkins:
        populate(jenkins)
        poll(jenkins, trunk, state)
        host = JenkinsClient(jenkins.url, None, None, 1).host
        running = {
            f"jenkins:{host}/{path}": sorted(b.number for b in job.builds if b.body["building"])
            for path, job in jenkins.jobs.items()
        }
    rows = show(state)
    assert set(rows) == set(running)
    for source, row in rows.items():
        assert row["last_success"], f"{source}: no last success recorded"
        cursor = row["cursor"]
        assert "recheck" not in cursor and "pending" not in cursor
        assert cursor["running"] == running[source]  # only what had not finished
    assert any(running.values())  # the scenario does have a build still going


@pytest.mark.parametrize("reborn_builds", [1, 3, 5])
def test_a_recreated_job_is_sent_under_ids_of_its_own(
    trunk: TrunkStandIn, tmp_path: Path, reborn_builds: int
) -> None:
    """Three builds, then the job is deleted and created again: fewer, as many, more."""
    state = tmp_path / "state.sqlite"
    with running_jenkins(USER, JENKINS_TOKEN) as jenkins:
        jenkins.folder("team")
        jenkins.job(JOB, pipeline=False)
        for number in (1, 2, 3):
            freestyle(jenkins, number, T0 + number * 3_600_000)
        poll(jenkins, trunk, state)
        host = JenkinsClient(jenkins.url, None, None, 1).host
        old = {event_id(f"{host}/{JOB}/{n}") for n in (1, 2, 3)}
        assert roots(trunk) == old  # the first generation keeps its plain ids

        jenkins.job(JOB, pipeline=False)  # re-created: numbering starts again at 1
        for number in range(1, reborn_builds + 1):
            freestyle(jenkins, number, T0 + DAY + number * 3_600_000)
        poll(jenkins, trunk, state)
        assert len(roots(trunk) - old) == reborn_builds, "every new build arrives, new ids"
        assert old <= roots(trunk) and trunk.conflicts == []

        freestyle(jenkins, reborn_builds + 1, T0 + 2 * DAY)
        poll(jenkins, trunk, state)
        assert len(roots(trunk) - old) == reborn_builds + 1  # the new generation goes on
        assert max(trunk.deliveries.values()) == 1  # nothing sent twice


def test_builds_deleted_by_hand_are_no_restart_and_keep_their_ids(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    with running_jenkins(USER, JENKINS_TOKEN) as jenkins:
        jenkins.folder("team")
        jenkins.job(JOB, pipeline=False)
        for number in (1, 2, 3):
            freestyle(jenkins, number, T0 + number * 3_600_000)
        poll(jenkins, trunk, state)
        jenkins.jobs[JOB].builds = [b for b in jenkins.jobs[JOB].builds if b.number != 3]
        quiet = poll(jenkins, trunk, state)
        assert "restarted" not in quiet
        freestyle(jenkins, 4, T0 + 4 * 3_600_000)
        poll(jenkins, trunk, state)
        host = JenkinsClient(jenkins.url, None, None, 1).host
        assert roots(trunk) == {event_id(f"{host}/{JOB}/{n}") for n in (1, 2, 3, 4)}
        assert max(trunk.deliveries.values()) == 1


@pytest.mark.parametrize("fix", ["map", "repo"])
def test_a_build_skipped_for_an_unknown_repository_is_retried_when_the_settings_change(
    trunk: TrunkStandIn, tmp_path: Path, fix: str
) -> None:
    state = tmp_path / "state.sqlite"
    repo_map = tmp_path / "repos.txt"
    repo_map.write_text("nothing/* = acme/other\n")
    with running_jenkins(USER, JENKINS_TOKEN) as jenkins:
        jenkins.folder("team")
        jenkins.job(JOB, pipeline=False)
        freestyle(jenkins, 1, T0, checkout=False)
        freestyle(jenkins, 2, T0 + 3_600_000)
        first = poll(jenkins, trunk, state, "--repo-map", str(repo_map))
        assert f"skipped {JOB} #1" in first
        assert len(roots(trunk)) == 1
        same = poll(jenkins, trunk, state, "--repo-map", str(repo_map))
        assert f"skipped {JOB} #1" not in same  # remembered as skipped, not retried blindly
        assert len(roots(trunk)) == 1
        host = JenkinsClient(jenkins.url, None, None, 1).host
        [row] = show(state).values()
        assert row["skipped"] == [f"{host}/{JOB}/1"]  # listed, not lost

        poll_with_new_settings(jenkins, trunk, state, repo_map, fix)
        assert len(roots(trunk)) == 2  # the new settings retried it
        [row] = show(state).values()
        assert row["skipped"] == []
        assert max(trunk.deliveries.values()) == 1


@pytest.mark.parametrize(
    ("remote", "fix"),
    [
        ("https://gitlab.com/acme/app.git", "map"),
        ("git@bitbucket.org:acme/app.git", "repo"),
        ("ssh://git@github.acme.internal:7999/acme/app.git", "map"),
    ],
)
def test_builds_of_another_host_are_remembered_as_skipped_and_retried_when_settings_change(
    trunk: TrunkStandIn, tmp_path: Path, remote: str, fix: str
) -> None:
    state = tmp_path / "state.sqlite"
    repo_map = tmp_path / "repos.txt"
    repo_map.write_text("nothing/* = acme/other\n")
    with running_jenkins(USER, JENKINS_TOKEN) as jenkins:
        jenkins.folder("team")
        jenkins.job(JOB, pipeline=False)
        for number in (1, 2):
            body = build_body(jenkins, JOB, number, "SUCCESS", build_data(remote, "e" * 40))
            body["timestamp"] = T0 + number * 3_600_000
            jenkins.add_build(JOB, Build(body))
        first = poll(jenkins, trunk, state, "--repo-map", str(repo_map))
        assert "not on github.com" in first and roots(trunk) == set()
        host = JenkinsClient(jenkins.url, None, None, 1).host
        [row] = show(state).values()
        assert row["skipped"] == [f"{host}/{JOB}/1", f"{host}/{JOB}/2"]  # remembered
        same = poll(jenkins, trunk, state, "--repo-map", str(repo_map))
        assert "not on github.com" not in same  # not listed again under the same settings

        poll_with_new_settings(jenkins, trunk, state, repo_map, fix)
        assert len(roots(trunk)) == 2  # the new settings retried both
        [row] = show(state).values()
        assert row["skipped"] == []
        assert max(trunk.deliveries.values()) == 1
