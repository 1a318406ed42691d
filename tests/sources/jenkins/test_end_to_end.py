"""Loopback Jenkins -> the real CLI -> the Trunk stand-in, and the dry run -> validate."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.conftest import run_cli
from tests.servers.jenkins import running_jenkins
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.jenkins.scenarios import APP, SENT_BUILDS, populate

USER, JENKINS_TOKEN = "ci-bot", "jenkins-e2e-token-0123456789"
STAGE_EVENTS = 24
"""Stages of the finished builds sent (executed or skipped), parallel branches included."""


def test_cli_sends_linked_chains_and_the_dry_run_validates(
    trunk: TrunkStandIn,
    tmp_path: Path,
) -> None:
    env = {"JENKINS_USER": USER, "JENKINS_API_TOKEN": JENKINS_TOKEN, "TRUNK_API_TOKEN": TOKEN}
    with running_jenkins(USER, JENKINS_TOKEN) as jenkins:
        populate(jenkins)
        state = str(tmp_path / "state.sqlite")
        sent = run_cli(
            "jenkins", "--url", jenkins.url, "--trunk-url", trunk.url, "--state", state, env=env
        )
        assert sent.returncode == 0, sent.stderr
        assert f"skipped {APP} #8: deleted since it was listed" in sent.stderr
        assert f"skipped {APP} #6: its repository github.example.com/acme/app" in sent.stderr
        assert JENKINS_TOKEN not in sent.stderr + sent.stdout

        events = trunk.all_events()
        kinds = Counter(str(e["sequence"]["kind"]) for e in events)  # type: ignore[index]
        roots = [e for e in events if e["sequence"]["kind"] in {"pipeline", "job"}]  # type: ignore[index]
        assert len(roots) == SENT_BUILDS - 1  # team/app #6 is a GitHub Enterprise build
        assert kinds["stage"] + kinds["parallel"] == STAGE_EVENTS and kinds["parallel"] == 2
        by_id = {e["id"]: e for e in events}
        for event in events:
            parent = event.get("parent")
            if parent is None:
                assert event["chainId"] == event["id"]
            else:
                assert parent["eventId"] in by_id  # type: ignore[index]
                assert by_id[parent["eventId"]]["chainId"] == event["chainId"]  # type: ignore[index]
        assert trunk.conflicts == [] and max(trunk.deliveries.values()) == 1

        again = run_cli(
            "jenkins", "--url", jenkins.url, "--trunk-url", trunk.url, "--state", state, env=env
        )
        assert again.returncode == 0, again.stderr
        assert max(trunk.deliveries.values()) == 1  # nothing sent twice

        out = tmp_path / "out.jsonl"
        dry = run_cli("jenkins", "--url", jenkins.url, "--output", str(out), env=env)
        assert dry.returncode == 0, dry.stderr
        checked = run_cli("validate", str(out))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"{SENT_BUILDS - 1 + STAGE_EVENTS} events, 0 errors, 0 warnings" in checked.stderr


def test_cli_user_errors_are_one_line(tmp_path: Path) -> None:
    with running_jenkins() as jenkins:
        jenkins.html = True
        html = run_cli("jenkins", "--url", jenkins.url, "--output", str(tmp_path / "o"))
        url = jenkins.url
    assert html.returncode == 2 and len(html.stderr.strip().splitlines()) == 1
    assert "not JSON" in html.stderr
    down = run_cli("jenkins", "--url", url, "--output", str(tmp_path / "o"))
    assert down.returncode == 1 and "cannot reach Jenkins" in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
    bad = run_cli("jenkins", "--url", "ftp://x", "--output", str(tmp_path / "o"))
    assert bad.returncode == 2 and "--url" in bad.stderr
    half = run_cli("jenkins", "--url", url, "--output", "-", env={"JENKINS_USER": "x"})
    assert half.returncode == 2 and "JENKINS_API_TOKEN" in half.stderr
