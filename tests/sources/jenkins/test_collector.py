"""The collector against the loopback Jenkins: mapping, requests per build, polling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_collector.errors import RemoteError, UserError
from ci_collector.mapper import event_id, map_run
from ci_collector.model import Repo, Run
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.sources.repos import RepoMap
from ci_collector.state import State
from tests.servers.jenkins import JenkinsStandIn, running_jenkins
from tests.sources.jenkins.scenarios import (
    APP,
    DEPLOY,
    INTEGRATION,
    SENT_BUILDS,
    T0,
    WIDGETS_MAIN,
    WIDGETS_PR,
    Build,
    build_body,
    populate,
    stage,
    user_cause,
)

USER, TOKEN = "ci-bot", "jenkins-test-token-0123456789"
ENTERPRISE_SKIP = (
    f"skipped {APP} #6: its repository github.example.com/acme/app is not on github.com, "
    "the only host Trunk accepts; map the job to its GitHub mirror with --repo-map, or use --repo"
)


@pytest.fixture
def jenkins() -> Iterator[JenkinsStandIn]:
    with running_jenkins(USER, TOKEN) as server:
        populate(server)
        yield server


def collect(
    server: JenkinsStandIn, state: State | None = None, **options: Any
) -> tuple[dict[str, Run], SkipPolicy, JenkinsCollector]:
    client = JenkinsClient(server.url, USER, TOKEN, timeout=5)
    collector = JenkinsCollector(client, JenkinsOptions(**options))
    skip = SkipPolicy()
    own_state = state or State(":memory:")
    runs = {run.natural_key.split("/", 1)[1]: run for run in collector(own_state, skip)}
    return runs, skip, collector


def deliver_all(state: State, runs: dict[str, Run]) -> None:
    """What the pipeline does once the sink accepted a chain."""
    for run in runs.values():
        state.mark_delivered(run.natural_key, run.source, run.fingerprint, 1)


def events_by_key(run: Run) -> dict[str, dict[str, Any]]:
    return {event["sequence"]["key"]: event for event in map_run(run)}


def tags(event: dict[str, Any]) -> dict[str, Any]:
    return {tag["k"]: tag["v"] for tag in event["payload"]["tags"]}


def metrics(event: dict[str, Any]) -> dict[str, Any]:
    return {metric["k"]: metric["v"] for metric in event["payload"]["metrics"]}


def test_discovers_every_job_and_sends_only_finished_builds(jenkins: JenkinsStandIn) -> None:
    runs, skip, _ = collect(jenkins)
    assert len(runs) == SENT_BUILDS - 1
    assert f"{APP}/6" not in runs  # a GitHub Enterprise checkout: Trunk cannot file it
    assert f"{APP}/7" not in runs  # still running
    assert f"{APP}/8" not in runs  # deleted between list and describe
    assert skip.skipped == [f"skipped {APP} #8: deleted since it was listed", ENTERPRISE_SKIP]
    assert {key.rsplit("/", 1)[0] for key in runs} == {
        APP,
        DEPLOY,
        INTEGRATION,
        WIDGETS_MAIN,
        WIDGETS_PR,
    }


def test_requests_per_build_are_counted_and_bounded(jenkins: JenkinsStandIn) -> None:
    collect(jenkins)
    # one crumb, one discovery request, one list per job, one describe per Pipeline
    # build (7 sent + 1 deleted; the Enterprise one is skipped before its describe), one
    # Blue Ocean graph for the one parallel build
    assert dict(jenkins.kinds) == {"crumb": 1, "jobs": 1, "builds": 5, "describe": 8, "blue": 1}
    assert jenkins.requests == 16


def test_non_parallel_pipeline_costs_one_request_plus_a_share_of_the_list() -> None:
    with running_jenkins(USER, TOKEN) as server:
        server.job("big")
        for number in range(1, 201):
            body = build_body(server, "big", number, "SUCCESS", user_cause())
            server.add_build(
                "big",
                Build(body, stages=[stage(6, "Build", "SUCCESS", body["timestamp"] + 10, 1_000)]),
            )
        runs, _, _ = collect(server, jobs=("big",), repo=Repo("github.com", "acme", "big"))
        assert len(runs) == 200
        assert dict(server.kinds) == {"crumb": 1, "builds": 3, "describe": 200}
        per_build = (server.requests - 1) / 200  # the crumb is once per poll
        assert per_build == 1.015


def test_freestyle_build_needs_no_request_of_its_own(jenkins: JenkinsStandIn) -> None:
    runs, _, _ = collect(jenkins, jobs=(DEPLOY,))
    assert dict(jenkins.kinds) == {"crumb": 1, "builds": 1}
    run = runs[f"{DEPLOY}/1"]
    root = map_run(run)[0]
    assert root["sequence"] == {
        "platform": "jenkins",
        "kind": "job",
        "key": DEPLOY,
        "name": "team » deploy",  # the job's, the same for every build
        "payload": {
            "tags": [
                {"k": "job", "v": DEPLOY},
                {"k": "job_url", "v": f"{jenkins.url}/job/team/job/deploy/"},
            ]
        },
    }
    assert run.repo == Repo("github.com", "acme", "deploy-tools")  # scp-like SSH remote
    assert tags(root) | {"url": ""} == tags(root) | {
        "url": "",
        "run_number": "1",
        "build": "1",
        "job": DEPLOY,
        "trigger": "user",
        "actor": "bob",
        "runner": "agent-7",
        "sha": "d" * 40,
        "branch": "main",
        "build_name": "#1",
        "result": "SUCCESS",
    }
    assert metrics(root)["queue_ms"] == 4_000
    assert root["finishedAt"] - root["createdAt"] == 60_000


def test_pipeline_stages_conclusions_and_pause(jenkins: JenkinsStandIn) -> None:
    runs, _, _ = collect(jenkins, jobs=(APP,))
    first = events_by_key(runs[f"{APP}/1"])
    assert list(first) == [APP, f"{APP}/Build", f"{APP}/Test", f"{APP}/Deploy"]
    assert first[APP]["sequence"]["kind"] == "pipeline"
    assert tags(first[f"{APP}/Build"])["runner"] == "linux-1"
    assert first[f"{APP}/Build"]["id"] == event_id(
        f"{JenkinsClient(jenkins.url, None, None, 1).host}/{APP}/1/stages/6"
    )

    unstable = events_by_key(runs[f"{APP}/2"])
    assert unstable[APP]["conclusion"] == "FAILURE"
    assert tags(unstable[APP])["result"] == "UNSTABLE"
    assert tags(unstable[f"{APP}/Test"])["result"] == "UNSTABLE"

    aborted = events_by_key(runs[f"{APP}/3"])
    assert aborted[APP]["conclusion"] == "CANCELLED"
    assert aborted[f"{APP}/Build"]["conclusion"] == "CANCELLED"
    skipped = aborted[f"{APP}/Deploy"]
    assert skipped["conclusion"] == "SKIPPED"
    assert skipped["createdAt"] == aborted[APP]["createdAt"]  # not 1970
    assert tags(skipped)["timestamps_repaired"] == "true"

    paused = events_by_key(runs[f"{APP}/4"])
    assert metrics(paused[f"{APP}/Approve"])["pause_ms"] == 38_000
    assert metrics(paused[APP])["pause_ms"] == 38_000
    assert tags(paused[APP])["trigger"] == "timer"


def test_parallel_branches_with_same_named_stages(jenkins: JenkinsStandIn) -> None:
    runs, _, _ = collect(jenkins, jobs=(APP,))
    events = events_by_key(runs[f"{APP}/5"])
    tests = f"{APP}/Tests"
    assert list(events) == [
        APP,
        f"{APP}/Checkout",
        tests,
        f"{tests}/linux",
        f"{tests}/linux/build",
        f"{tests}/linux/test",
        f"{tests}/windows",
        f"{tests}/windows/build",
        f"{tests}/windows/test",
        f"{APP}/Deploy",
    ]
    assert events[f"{tests}/linux"]["sequence"]["kind"] == "parallel"
    assert events[f"{tests}/linux/build"]["parent"]["eventId"] == events[f"{tests}/linux"]["id"]
    assert events[f"{tests}/windows/test"]["conclusion"] == "FAILURE"
    assert tags(events[f"{tests}/windows/test"])["result"] == "FAILED"
    assert events[f"{APP}/Deploy"]["conclusion"] == "SKIPPED"
    assert len({e["id"] for e in events.values()}) == len(events)


def test_parallel_without_blue_ocean_stays_flat_but_unique(jenkins: JenkinsStandIn) -> None:
    jenkins.blue_ocean = False
    runs, _, _ = collect(jenkins, jobs=(APP,))
    events = map_run(runs[f"{APP}/5"])
    keys = [e["sequence"]["key"] for e in events]
    assert f"{APP}/build #2" in keys and len(set(keys)) == len(keys)


def test_two_checkouts_library_and_ssh_enterprise_remote(
    jenkins: JenkinsStandIn, tmp_path: Path
) -> None:
    runs, skip, _ = collect(jenkins, jobs=(APP,))
    assert f"{APP}/6" not in runs and ENTERPRISE_SKIP in skip.skipped
    mapping = tmp_path / "repos.txt"
    mapping.write_text("team/app = acme/app\n")  # the remedy: its GitHub mirror
    runs, skip, _ = collect(jenkins, jobs=(APP,), repo_map=RepoMap.load(mapping))
    run = runs[f"{APP}/6"]
    assert run.repo == Repo("github.com", "acme", "app")
    assert tags(map_run(run)[0])["sha"] == "c" * 40  # the app's checkout, not the library's


def test_multibranch_branch_and_pull_request(jenkins: JenkinsStandIn) -> None:
    runs, _, _ = collect(jenkins)
    main = map_run(runs[f"{WIDGETS_MAIN}/1"])[0]
    pr = map_run(runs[f"{WIDGETS_PR}/1"])[0]
    assert main["sequence"]["key"] == WIDGETS_MAIN
    assert tags(main)["branch"] == "main" and "pr_number" not in tags(main)
    assert tags(pr)["branch"] == "PR-7" and tags(pr)["pr_number"] == "7"
    assert tags(pr)["trigger"] == "scm"
    assert runs[f"{WIDGETS_PR}/1"].repo == Repo("github.com", "acme", "widgets")


def test_downstream_build_joins_the_top_most_upstream_chain(jenkins: JenkinsStandIn) -> None:
    runs, _, _ = collect(jenkins)
    host = JenkinsClient(jenkins.url, None, None, 1).host
    downstream = map_run(runs[f"{INTEGRATION}/1"])[0]
    upstream = map_run(runs[f"{APP}/1"])[0]
    top = map_run(runs[f"{WIDGETS_MAIN}/1"])[0]
    assert downstream["parent"] == {"eventId": upstream["id"], "sequenceKey": APP}
    assert upstream["id"] == event_id(f"{host}/{APP}/1")
    assert downstream["chainId"] == upstream["chainId"] == top["id"] == top["chainId"]
    assert tags(downstream)["upstream_job"] == APP and tags(downstream)["upstream_build"] == "1"
    assert tags(downstream)["trigger"] == "upstream"


def test_second_poll_with_nothing_new_is_one_list_request_per_job(
    jenkins: JenkinsStandIn,
    tmp_path: Path,
) -> None:
    with State(tmp_path / "state.sqlite") as state:
        runs, _, _ = collect(jenkins, state)
        deliver_all(state, runs)
        jenkins.kinds.clear()
        again, skip, _ = collect(jenkins, state)
        assert again == {} and skip.skipped == []
        assert dict(jenkins.kinds) == {"crumb": 1, "jobs": 1, "builds": 5}


def test_build_running_on_first_poll_is_sent_when_finished(
    jenkins: JenkinsStandIn,
    tmp_path: Path,
) -> None:
    with State(tmp_path / "state.sqlite") as state:
        runs, _, _ = collect(jenkins, state, jobs=(APP,))
        deliver_all(state, runs)
        cursor = state.cursor(f"jenkins:{JenkinsClient(jenkins.url, None, None, 1).host}/{APP}")
        # still running, plus what was yielded but not yet confirmed when the job ended
        assert cursor == {"last": 8, "recheck": [1, 2, 3, 4, 5, 7]}
        running = jenkins.build(APP, 7)
        running.body.update(building=False, result="SUCCESS", duration=50_000)
        running.stages = [stage(6, "Build", "SUCCESS", T0 + 7 * 3_600_000 + 1_000, 9_000)]
        jenkins.kinds.clear()
        second, _, _ = collect(jenkins, state, jobs=(APP,))
        assert list(second) == [f"{APP}/7"]
        assert dict(jenkins.kinds) == {"crumb": 1, "builds": 1, "describe": 1}


def test_since_limits_the_first_poll(jenkins: JenkinsStandIn) -> None:
    runs, _, _ = collect(jenkins, jobs=(APP,), since_ms=T0 + 4 * 3_600_000)
    assert sorted(runs) == [f"{APP}/4", f"{APP}/5"]  # and 6, GitHub Enterprise: skipped


def test_repo_override_and_map(jenkins: JenkinsStandIn, tmp_path: Path) -> None:
    override = Repo("github.com", "other", "thing")
    runs, _, _ = collect(jenkins, jobs=(DEPLOY,), repo=override)
    assert runs[f"{DEPLOY}/1"].repo == override
    mapping = tmp_path / "repos.txt"
    mapping.write_text("# team jobs\nteam/dep* = acme/deployments\n* = acme/fallback\n")
    runs, _, _ = collect(jenkins, jobs=(DEPLOY,), repo_map=RepoMap.load(mapping))
    assert runs[f"{DEPLOY}/1"].repo == Repo("github.com", "acme", "deployments")


def test_build_without_repository_is_skipped_by_name(jenkins: JenkinsStandIn) -> None:
    jenkins.job("loose", pipeline=False)
    jenkins.add_build(
        "loose", Build(build_body(jenkins, "loose", 3, "SUCCESS", user_cause(), pipeline=False))
    )
    runs, skip, _ = collect(jenkins, jobs=("loose",))
    assert runs == {}
    assert len(skip.skipped) == 1 and skip.skipped[0].startswith("skipped loose #3: its repo")


def test_malformed_describe_skips_only_that_build(jenkins: JenkinsStandIn) -> None:
    jenkins.build(APP, 2).raw_describe = b'{"stages": "not a list"}'
    jenkins.build(APP, 3).raw_describe = b"<html>oops</html>"
    with pytest.raises(RemoteError):  # a non-JSON answer means the server is not usable
        collect(jenkins, jobs=(APP,))
    jenkins.build(APP, 3).raw_describe = None
    runs, skip, _ = collect(jenkins, jobs=(APP,))
    assert f"{APP}/2" not in runs and f"{APP}/1" in runs
    assert any(s.startswith(f"skipped {APP} #2: unexpected JSON") for s in skip.skipped)


def test_html_answer_and_bad_credentials_and_unreachable() -> None:
    with running_jenkins(USER, TOKEN) as server:
        server.html = True  # a login page answering the first request: not a Jenkins root
        with pytest.raises(UserError, match="not a Jenkins root"):
            collect(server)
        server.html = False
        client = JenkinsClient(server.url, USER, "wrong-token-000", timeout=5)
        with pytest.raises(UserError, match="refused the credentials"):
            list(JenkinsCollector(client, JenkinsOptions())(State(":memory:"), SkipPolicy()))
        url = server.url
    with pytest.raises(RemoteError, match="cannot reach"):
        list(
            JenkinsCollector(JenkinsClient(url, None, None, timeout=2), JenkinsOptions())(
                State(":memory:"), SkipPolicy()
            )
        )
