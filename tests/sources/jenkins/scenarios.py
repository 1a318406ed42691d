"""Real-shaped Jenkins bodies (our own values) and the scenario server the tests share.

Shapes follow the recordings in ../shared/fixtures/jenkins/: `CauseAction`, git
`BuildData`, `TimeInQueueAction`, `ParametersAction`, `LibrariesAction`,
`SCMRevisionAction`, Stage View stages and Blue Ocean nodes.
"""

from __future__ import annotations

from typing import Any

from tests.servers.jenkins import (
    FREESTYLE_BUILD,
    MULTIBRANCH,
    ORG_FOLDER,
    PIPELINE_BUILD,
    Build,
    JenkinsStandIn,
)

T0 = 1_717_000_000_000
"""All builds start near this instant (2024-05-29), one hour apart per build."""


def user_cause(user: str = "alice") -> dict[str, Any]:
    return {
        "_class": "hudson.model.CauseAction",
        "causes": [
            {
                "_class": "hudson.model.Cause$UserIdCause",
                "shortDescription": f"Started by user {user}",
                "userId": user,
                "userName": user,
            }
        ],
    }


def timer_cause() -> dict[str, Any]:
    return {
        "_class": "hudson.model.CauseAction",
        "causes": [
            {
                "_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
                "shortDescription": "Started by timer",
            }
        ],
    }


def branch_cause() -> dict[str, Any]:
    return {
        "_class": "hudson.model.CauseAction",
        "causes": [
            {
                "_class": "jenkins.branch.BranchEventCause",
                "shortDescription": "Push event to branch main",
            }
        ],
    }


def upstream_cause(project: str, build: int, *nested: dict[str, Any]) -> dict[str, Any]:
    return {
        "_class": "hudson.model.Cause$UpstreamCause",
        "shortDescription": f'Started by upstream project "{project}" build number {build}',
        "upstreamBuild": build,
        "upstreamProject": project,
        "upstreamUrl": "".join(f"job/{n}/" for n in project.split("/")),
        "upstreamCauses": list(nested),
    }


def build_data(remote: str, sha: str, branch: str = "refs/remotes/origin/main") -> dict[str, Any]:
    return {
        "_class": "hudson.plugins.git.util.BuildData",
        "lastBuiltRevision": {"SHA1": sha, "branch": [{"SHA1": sha, "name": branch}]},
        "remoteUrls": [remote],
        "scmName": "",
    }


def queue_action(ms: int) -> dict[str, Any]:
    return {
        "_class": "jenkins.metrics.impl.TimeInQueueAction",
        "blockedDurationMillis": 0,
        "buildableDurationMillis": ms,
        "queuingDurationMillis": ms,
        "waitingDurationMillis": 0,
        "executingTimeMillis": 1000,
    }


def libraries(*names: str) -> dict[str, Any]:
    return {
        "_class": "org.jenkinsci.plugins.workflow.libs.LibrariesAction",
        "libraries": [{"name": n, "version": "main", "trusted": True} for n in names],
    }


def scm_revision() -> dict[str, Any]:
    return {"_class": "jenkins.scm.api.SCMRevisionAction"}


def params(**values: str) -> dict[str, Any]:
    return {
        "_class": "hudson.model.ParametersAction",
        "parameters": [
            {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
            for k, v in values.items()
        ],
    }


def build_body(
    server: JenkinsStandIn,
    job: str,
    number: int,
    result: str | None,
    *actions: dict[str, Any],
    pipeline: bool = True,
    duration: int = 60_000,
    built_on: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_class": PIPELINE_BUILD if pipeline else FREESTYLE_BUILD,
        "actions": [
            *actions,
            {},
            {"_class": "org.jenkinsci.plugins.displayurlapi.actions.RunDisplayAction"},
        ],
        "building": result is None,
        "displayName": f"#{number}",
        "duration": 0 if result is None else duration,
        "fullDisplayName": " » ".join(job.split("/")) + f" #{number}",
        "number": number,
        "result": result,
        "timestamp": T0 + number * 3_600_000,
        "url": server.url + "/" + "".join(f"job/{n}/" for n in job.split("/")) + f"{number}/",
    }
    if not pipeline:
        body["builtOn"] = built_on or ""
    return body


def stage(
    node_id: int,
    name: str,
    status: str,
    start: int,
    duration: int,
    pause: int = 0,
    agent: str = "",
) -> dict[str, Any]:
    return {
        "id": str(node_id),
        "name": name,
        "execNode": agent,
        "status": status,
        "startTimeMillis": start,
        "durationMillis": duration,
        "pauseDurationMillis": pause,
    }


def blue_node(
    node_id: int,
    name: str,
    result: str,
    start: int,
    duration: int,
    edges: list[int],
    kind: str = "STAGE",
    parent: int | None = None,
) -> dict[str, Any]:
    from ci_collector.times import ms_to_iso

    stamp = ms_to_iso(start).replace("Z", "") + f".{start % 1000:03d}+0000"
    return {
        "_class": "io.jenkins.blueocean.rest.impl.pipeline.PipelineNodeImpl",
        "_links": {
            "self": {
                "_class": "io.jenkins.blueocean.rest.hal.Link",
                "href": f"/blue/rest/.../nodes/{node_id}/",
            }
        },
        "actions": [],
        "displayDescription": None,
        "displayName": name,
        "durationInMillis": duration,
        "edges": [
            {
                "_class": "io.jenkins.blueocean.rest.impl.pipeline.PipelineNodeImpl$EdgeImpl",
                "id": str(e),
                "type": kind,
            }
            for e in edges
        ],
        "firstParent": None if parent is None else str(parent),
        "id": str(node_id),
        "input": None,
        "result": result,
        "startTime": stamp,
        "state": "FINISHED",
        "type": kind,
        "causeOfBlockage": None,
    }


APP = "team/app"
DEPLOY = "team/deploy"
INTEGRATION = "team/integration"
WIDGETS_MAIN = "acme/widgets/main"
WIDGETS_PR = "acme/widgets/PR-7"
APP_REMOTE = "https://github.com/acme/app.git"


def populate(server: JenkinsStandIn) -> None:
    """The scenario every Jenkins test reads: see the README's Jenkins section."""
    server.folder("team")
    server.folder("acme", ORG_FOLDER)
    server.folder("acme/widgets", MULTIBRANCH)
    _freestyle(server)
    _pipelines(server)
    _multibranch(server)
    _downstream(server)


def _freestyle(server: JenkinsStandIn) -> None:
    server.job(DEPLOY, pipeline=False)
    body = build_body(
        server,
        DEPLOY,
        1,
        "SUCCESS",
        user_cause("bob"),
        build_data("git@github.com:acme/deploy-tools.git", "d" * 40),
        queue_action(4_000),
        pipeline=False,
        built_on="agent-7",
    )
    server.add_build(DEPLOY, Build(body))


def _pipelines(server: JenkinsStandIn) -> None:
    server.job(APP, project_url="https://github.com/acme/app/")
    sha = "a" * 40

    def add(
        number: int, result: str | None, stages: list[dict[str, Any]], *actions: Any, **kw: Any
    ) -> Build:
        body = build_body(
            server, APP, number, result, *actions, build_data(APP_REMOTE, sha), queue_action(1_500)
        )
        return server.add_build(APP, Build(body, stages=stages, **kw))

    def t(number: int, offset: int) -> int:
        return T0 + number * 3_600_000 + offset

    add(
        1,
        "SUCCESS",
        [
            stage(6, "Build", "SUCCESS", t(1, 1_000), 20_000, agent="linux-1"),
            stage(12, "Test", "SUCCESS", t(1, 21_000), 30_000),
            stage(18, "Deploy", "SUCCESS", t(1, 51_000), 8_000),
        ],
        {
            "_class": "hudson.model.CauseAction",
            "causes": [
                upstream_cause(
                    WIDGETS_MAIN,
                    1,
                    {
                        "_class": "jenkins.branch.BranchEventCause",
                        "shortDescription": "Push event to branch main",
                    },
                )
            ],
        },
    )
    add(
        2,
        "UNSTABLE",
        [
            stage(6, "Build", "SUCCESS", t(2, 1_000), 20_000),
            stage(12, "Test", "UNSTABLE", t(2, 21_000), 30_000),
        ],
        user_cause(),
    )
    add(
        3,
        "ABORTED",
        [
            stage(6, "Build", "ABORTED", t(3, 1_000), 5_000),
            stage(12, "Test", "NOT_EXECUTED", 0, 0),
            stage(18, "Deploy", "NOT_EXECUTED", 0, 0),
        ],
        user_cause(),
    )
    add(
        4,
        "SUCCESS",
        [
            stage(6, "Build", "SUCCESS", t(4, 1_000), 10_000),
            stage(12, "Approve", "SUCCESS", t(4, 11_000), 40_000, pause=38_000),
            stage(18, "Deploy", "SUCCESS", t(4, 51_000), 5_000),
        ],
        timer_cause(),
    )
    parallel = [
        stage(6, "Checkout", "SUCCESS", t(5, 1_000), 1_000),
        stage(10, "Tests", "SUCCESS", t(5, 2_000), 50),
        stage(15, "linux", "SUCCESS", t(5, 2_050), 10),
        stage(20, "build", "SUCCESS", t(5, 2_060), 10_000),
        stage(25, "test", "SUCCESS", t(5, 12_060), 19_000),
        stage(16, "windows", "SUCCESS", t(5, 2_051), 10),
        stage(21, "build", "SUCCESS", t(5, 2_061), 15_000),
        stage(26, "test", "FAILED", t(5, 17_061), 24_000),
        stage(40, "Deploy", "NOT_EXECUTED", 0, 0),
    ]
    nodes = [
        blue_node(6, "Checkout", "SUCCESS", t(5, 1_000), 1_000, [10]),
        blue_node(10, "Tests", "FAILURE", t(5, 2_000), 40_000, [13, 14]),
        blue_node(13, "linux", "SUCCESS", t(5, 2_050), 29_010, [20], "PARALLEL", 10),
        blue_node(20, "build", "SUCCESS", t(5, 2_060), 10_000, [25], parent=13),
        blue_node(25, "test", "SUCCESS", t(5, 12_060), 19_000, [40], parent=20),
        blue_node(14, "windows", "FAILURE", t(5, 2_051), 39_010, [21], "PARALLEL", 10),
        blue_node(21, "build", "SUCCESS", t(5, 2_061), 15_000, [26], parent=14),
        blue_node(26, "test", "FAILURE", t(5, 17_061), 24_000, [40], parent=21),
        blue_node(40, "Deploy", "NOT_BUILT", t(5, 42_000), 0, []),
    ]
    add(5, "FAILURE", parallel, user_cause(), blue_nodes=nodes)
    body = build_body(
        server,
        APP,
        6,
        "SUCCESS",
        user_cause(),
        libraries("pipeline-library"),
        build_data("https://github.com/acme/pipeline-library.git", "b" * 40),
        build_data("ssh://git@github.example.com:7999/acme/app.git", "c" * 40),
    )
    server.add_build(APP, Build(body, stages=[stage(6, "Build", "SUCCESS", t(6, 1_000), 9_000)]))
    add(7, None, [stage(6, "Build", "IN_PROGRESS", t(7, 1_000), 9_000)], user_cause())
    add(8, "SUCCESS", [], user_cause(), gone=True)


def _multibranch(server: JenkinsStandIn) -> None:
    remote = "git@github.com:acme/widgets.git"
    for path, sha, cause in (
        (WIDGETS_MAIN, "e" * 40, branch_cause()),
        (WIDGETS_PR, "f" * 40, branch_cause()),
    ):
        server.job(path)
        body = build_body(
            server,
            path,
            1,
            "SUCCESS",
            cause,
            scm_revision(),
            build_data(remote, sha, path.rsplit("/", 1)[-1]),
        )
        start = body["timestamp"]
        server.add_build(
            path,
            Build(
                body,
                stages=[
                    stage(6, "Declarative: Checkout SCM", "SUCCESS", start + 500, 2_000),
                    stage(13, "build", "SUCCESS", start + 2_600, 30_000),
                ],
            ),
        )


def _downstream(server: JenkinsStandIn) -> None:
    server.job(INTEGRATION, pipeline=False)
    cause = {
        "_class": "hudson.model.CauseAction",
        "causes": [
            upstream_cause(
                APP,
                1,
                upstream_cause(
                    WIDGETS_MAIN,
                    1,
                    {
                        "_class": "jenkins.branch.BranchEventCause",
                        "shortDescription": "Push event to branch main",
                    },
                ),
            )
        ],
    }
    body = build_body(
        server,
        INTEGRATION,
        1,
        "SUCCESS",
        cause,
        build_data(APP_REMOTE, "a" * 40),
        pipeline=False,
        built_on="agent-2",
    )
    server.add_build(INTEGRATION, Build(body))


SENT_BUILDS = 10
"""Builds a full collection sends: app #1-#6, deploy #1, widgets main and PR-7,
integration #1; app #7 is still running and app #8 was deleted after the list."""
