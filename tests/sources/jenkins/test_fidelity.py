"""What lands in Trunk from Jenkins is right: names, identity, conclusions, tags, hosts, order.

Real recordings (../shared/fixtures/jenkins) read in place, plus the loopback stand-in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_collector.mapper import event_id, map_run
from ci_collector.model import Repo, Run
from ci_collector.pipeline import SkipPolicy, deliver
from ci_collector.sinks import JsonlSink
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.mapping import BuildContext, map_build
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.sources.repos import RepoMap
from ci_collector.state import State
from ci_collector.trunk import CONCLUSIONS
from ci_collector.validate import validate_lines
from tests.conftest import SHARED_FIXTURES, require_shared_recordings
from tests.servers.jenkins import JenkinsStandIn, running_jenkins
from tests.sources.jenkins.scenarios import (
    APP,
    INTEGRATION,
    Build,
    build_body,
    build_data,
    populate,
    stage,
    upstream_cause,
    user_cause,
)

FIXTURES = SHARED_FIXTURES / "jenkins"
REPO = Repo("github.com", "o", "r")
USER, TOKEN = "ci-bot", "fidelity-token-0123456789"


def fixture(name: str) -> Any:
    require_shared_recordings()
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def items(name: str) -> list[dict[str, Any]]:
    body = fixture(name)
    return [entry["data"] for entry in body] if isinstance(body, list) else [body]


def tags(event: Any) -> dict[str, Any]:
    return {tag["k"]: tag["v"] for tag in event["payload"]["tags"]}


def context(job: str, host: str = "ci.example") -> BuildContext:
    return BuildContext(host, job, REPO, f"jenkins:{host}/{job}")


@pytest.fixture
def jenkins() -> Iterator[JenkinsStandIn]:
    with running_jenkins(USER, TOKEN) as server:
        populate(server)
        yield server


def collect(url: str, **options: Any) -> tuple[list[Run], SkipPolicy]:
    client = JenkinsClient(url, USER, TOKEN, timeout=5)
    skip = SkipPolicy()
    return list(JenkinsCollector(client, JenkinsOptions(**options))(State(":memory:"), skip)), skip


# ---- the sequence is the job, not the build ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "devlake_job_allBuilds_tree_items.json",
        "devlake_multibranch_allBuilds_tree_items.json",
        "build_api_json_jenkinsrest_params_user_cause.json",
        "build_api_json_api4jenkins_freestyle.json",
        "build_api_json_api4jenkins_workflowrun_replay_cause.json",
    ],
)
def test_recorded_builds_are_named_after_their_job(name: str) -> None:
    names: dict[str, set[str]] = {}
    for build in items(name):
        job = build["fullDisplayName"].rsplit(" #", 1)[0]  # what Jenkins shows for the job
        path = job.replace(" » ", "/")
        root = map_run(map_build(build, context(path)))[0]
        assert root["sequence"]["name"] == job
        assert root["sequence"]["key"] == path
        assert tags(root)["build_name"] == build.get("displayName", f"#{build['number']}")
        names.setdefault(path, set()).add(root["sequence"]["name"])
    assert all(len(seen) == 1 for seen in names.values())


@pytest.mark.parametrize("display", ["#41", "release 1.2.3", "v2 » hotfix", "#41 (retry)"])
def test_a_custom_build_display_name_is_a_tag_not_the_sequence(
    jenkins: JenkinsStandIn, display: str
) -> None:
    body = build_body(jenkins, APP, 41, "SUCCESS", user_cause())
    body["displayName"] = display
    body["fullDisplayName"] = f"team » app {display}"
    root = map_run(map_build(body, context(APP)))[0]
    plain = map_run(map_build(build_body(jenkins, APP, 40, "SUCCESS"), context(APP)))[0]
    assert root["sequence"]["name"] == plain["sequence"]["name"] == "team » app"
    assert root["sequence"]["key"] == plain["sequence"]["key"]
    assert tags(root)["build_name"] == display


def test_sequence_payload_is_the_job_page_the_same_for_every_build(
    jenkins: JenkinsStandIn,
) -> None:
    runs, _ = collect(jenkins.url, jobs=(APP,))
    payloads = {json.dumps(map_run(run)[0]["sequence"]["payload"]) for run in runs}
    assert payloads == {
        json.dumps(
            {
                "tags": [
                    {"k": "job", "v": APP},
                    {"k": "job_url", "v": f"{jenkins.url}/job/team/job/app/"},
                ]
            }
        )
    }


# ---- one server, one identity ------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "https://ci.acme.com/jenkins/",
        "https://CI.Acme.COM/jenkins",
        "https://ci.acme.com:443/jenkins//",
        "https://robot:s3cr3t-TOKEN@ci.acme.com/jenkins/",
        " https://ci.acme.com/jenkins ",
    ],
)
def test_every_spelling_of_an_https_server_gives_byte_identical_events(spelling: str) -> None:
    canonical = JenkinsClient("https://ci.acme.com/jenkins", None, None, 1).host
    client = JenkinsClient(spelling.strip(), None, None, 1)
    assert client.host == canonical == "ci.acme.com/jenkins"
    assert "s3cr3t" not in client.host and "robot" not in client.host
    build = items("build_api_json_jenkinsrest_params_user_cause.json")[0]
    expected = json.dumps(map_run(map_build(build, context("fish", canonical))))
    assert json.dumps(map_run(map_build(build, context("fish", client.host)))) == expected


@pytest.mark.parametrize(
    "spelling",
    [
        "http://jenkins.example.test:8080",
        "http://jenkins.example.test:8080/",
        "HTTP://Jenkins.Example.Test:8080//",
    ],
)
def test_a_non_default_port_stays_and_the_recorded_ids_do_not_move(spelling: str) -> None:
    # the cassettes' spelling; before canonical identity, host was (netloc + path).lower()
    assert JenkinsClient(spelling, None, None, 1).host == "jenkins.example.test:8080"


@pytest.mark.parametrize(
    ("spelling", "same_as"),
    [
        ("http://ci.acme.com:80/", "http://ci.acme.com"),
        ("http://user:pw@ci.acme.com", "http://ci.acme.com"),
        ("http://ci.acme.com:8443", "http://ci.acme.com:8443/"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_default_ports_and_userinfo_are_not_identity(spelling: str, same_as: str) -> None:
    assert JenkinsClient(spelling, None, None, 1).host == JenkinsClient(same_as, None, None, 1).host


def test_a_loopback_server_collected_under_two_spellings_sends_the_same_bytes(
    jenkins: JenkinsStandIn,
) -> None:
    plain, _ = collect(jenkins.url, jobs=(APP,))
    slashed, _ = collect(jenkins.url.replace("127.0.0.1", "127.0.0.1") + "//", jobs=(APP,))
    assert [json.dumps(map_run(r)) for r in plain] == [json.dumps(map_run(r)) for r in slashed]
    assert [r.source for r in plain] == [r.source for r in slashed]


# ---- every event concluded ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "wfapi_describe_jenkinsrest_paused_pending_input.json",
        "wfapi_run_describe_doc_paused_pending_input.json",
        "wfapi_runs_stageview_03_in_progress_no_links.json",
        "wfapi_runs_stageview_07_in_progress.json",
        "wfapi_runs_stageview_04_failed.json",
        "wfapi_runs_stageview_03_checkpoint_rerun.json",
    ],
)
@pytest.mark.parametrize("result", ["SUCCESS", "UNSTABLE", "FAILURE", "ABORTED", "NOT_BUILT"])
def test_every_stage_of_a_finished_build_has_a_conclusion(name: str, result: str) -> None:
    body = fixture(name)
    for describe in body if isinstance(body, list) else [body]:
        build = {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": 16,
            "result": result,
            "timestamp": 1_413_461_275_770,
            "duration": 10_229_000,
            "url": "http://ci.example/job/p/16/",
        }
        for event in map_run(map_build(build, context("p"), describe)):
            assert event.get("conclusion") in CONCLUSIONS, event
        raw = {s.get("status") for s in describe.get("stages", [])}
        results = {tags(e).get("result") for e in map_run(map_build(build, context("p"), describe))}
        assert raw - {None} <= results  # the platform's own word is kept


def test_blue_ocean_words_of_unfinished_branches_still_conclude(jenkins: JenkinsStandIn) -> None:
    nodes = fixture("blueocean_run_nodes_first_finished_second_running.json")
    build = build_body(jenkins, APP, 9, "ABORTED", user_cause())
    describe = {"stages": []}
    events = map_run(map_build(build, context(APP), describe, nodes))
    assert len(events) > 1
    assert all(event.get("conclusion") in CONCLUSIONS for event in events)


# ---- filters on every level ----------------------------------------------------------------


def test_branch_sha_and_trigger_are_on_every_stage(jenkins: JenkinsStandIn) -> None:
    runs, _ = collect(jenkins.url, jobs=(APP,))
    checked = 0
    for run in runs:
        events = map_run(run)
        root = tags(events[0])
        for event in events[1:]:
            for key in ("branch", "sha", "trigger", "pr_number"):
                if key in root:
                    assert tags(event)[key] == root[key], (key, event["sequence"]["key"])
                    checked += 1
    assert checked > 30


# ---- only github.com ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "remote",
    [
        "https://gitlab.com/acme/group/app.git",
        "git@bitbucket.org:acme/app.git",
        "https://dev.azure.com/acme/project/_git/app",
        "ssh://git@github.acme.internal:7999/acme/app.git",
    ],
)
def test_a_build_of_another_host_is_skipped_once_per_job_with_the_remedy(
    remote: str, tmp_path: Path
) -> None:
    with running_jenkins(USER, TOKEN) as server:
        server.job("elsewhere", pipeline=False)
        for number in (1, 2, 3):
            body = build_body(
                server, "elsewhere", number, "SUCCESS", build_data(remote, "e" * 40), pipeline=False
            )
            server.add_build("elsewhere", Build(body))
        runs, skip = collect(server.url, jobs=("elsewhere",))
        assert runs == []
        assert len(skip.skipped) == 1  # one warning for the job, naming all three builds
        assert "elsewhere #3" in skip.skipped[0] and "elsewhere #1" in skip.skipped[0]
        assert "not on github.com" in skip.skipped[0] and "--repo-map" in skip.skipped[0]
        mapping = tmp_path / "map.txt"
        mapping.write_text("elsewhere = acme/app\n")
        runs, skip = collect(server.url, jobs=("elsewhere",), repo_map=RepoMap.load(mapping))
        assert len(runs) == 3 and skip.skipped == []
        assert {run.repo for run in runs} == {Repo("github.com", "acme", "app")}


# ---- upstream first --------------------------------------------------------------------


def test_downstream_polled_before_its_upstream_is_written_after_it(
    jenkins: JenkinsStandIn, tmp_path: Path
) -> None:
    runs, _ = collect(jenkins.url, jobs=(INTEGRATION, APP))
    keys = [run.natural_key.split("/", 1)[1] for run in runs]
    assert keys.index(f"{APP}/1") < keys.index(f"{INTEGRATION}/1")
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out)
    deliver(runs, sink)
    sink.close()
    report = validate_lines(out.read_bytes().splitlines())
    assert report.errors == []


def test_a_chain_of_three_builds_polled_in_reverse_is_written_top_down(tmp_path: Path) -> None:
    with running_jenkins(USER, TOKEN) as server:
        remote = build_data("https://github.com/acme/app.git", "a" * 40)
        for job in ("one", "two", "three"):
            server.job(job, pipeline=False)
        server.add_build(
            "one", Build(build_body(server, "one", 1, "SUCCESS", remote, pipeline=False))
        )
        for job, upstreams in (("two", ["one"]), ("three", ["two", "one"])):
            nested = [upstream_cause(up, 1) for up in upstreams]
            for inner, outer in zip(nested[1:], nested[:-1], strict=True):
                outer["upstreamCauses"] = [inner]
            cause = {"_class": "hudson.model.CauseAction", "causes": nested[:1]}
            body = build_body(server, job, 1, "SUCCESS", cause, remote, pipeline=False)
            server.add_build(job, Build(body))
        runs, _ = collect(server.url, jobs=("three", "two", "one"))
    assert [run.natural_key.rsplit("/", 2)[1] for run in runs] == ["one", "two", "three"]
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out)
    deliver(runs, sink)
    sink.close()
    assert validate_lines(out.read_bytes().splitlines()).errors == []
    three = map_run(runs[2])[0]
    assert three["chainId"] == event_id(runs[0].natural_key)


def test_stage_ids_stay_where_they_were() -> None:
    """Ids derive from natural keys in the mapper: a stage keeps the id it always had."""
    build = {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
        "number": 3,
        "result": "SUCCESS",
        "timestamp": 1_700_000_000_000,
        "duration": 5_000,
        "url": "http://ci.example/job/p/3/",
    }
    describe = {"stages": [stage(6, "Build", "SUCCESS", 1_700_000_000_100, 1_000)]}
    events = map_run(map_build(build, context("p"), describe))
    assert [e["id"] for e in events] == [
        event_id("ci.example/p/3"),
        event_id("ci.example/p/3/stages/6"),
    ]


# ---- plausible times -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "duration"),
    [
        (253_402_300_000_000, 5_000),  # a build "started" in year 9999
        (915_148_800_000, 5_000),  # ... in 1999
        (1_700_000_000_000, 250_000_000_000_000),  # "finished" in year 9900
    ],
)
def test_an_implausible_build_time_is_repaired_from_its_stages_and_tagged(
    timestamp: int, duration: int
) -> None:
    start = 1_700_000_000_100
    describe = {
        "stages": [
            stage(6, "Build", "SUCCESS", start, 1_000),
            stage(7, "Test", "SUCCESS", start + 1_000, 2_000),
        ]
    }
    build = {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
        "number": 3,
        "result": "SUCCESS",
        "timestamp": timestamp,
        "duration": duration,
        "url": "http://ci.example/job/p/3/",
    }
    root, *stages = map_run(map_build(build, context("p"), describe))
    plausible_start = timestamp == 1_700_000_000_000
    assert root["createdAt"] == (timestamp if plausible_start else start)
    assert root["finishedAt"] == start + 3_000  # the last stage's end
    assert tags(root)["timestamps_repaired"] == "true"
    assert [s["createdAt"] for s in stages] == [start, start + 1_000]
