"""Writes cassettes/circleci/*.yaml: hand-made CircleCI API v2 traffic for the cassette tests.

Run ``python -m tests.sources.circleci.make_cassettes`` from the worktree root after changing the
story below. The items have the shape of the real recordings (shared/fixtures/circleci)
and the ``{items, next_page_token}`` envelope; no token is written (none is recorded).

The story, project gh/acme/widgets, listed with --since 2024-05-05:
  pipeline 104  build-and-test on_hold (an approval waits)  -> left out, no job request
  pipeline 103  build-and-test failed, then re-run: success -> attempts 1 and 2
  --- page 2 ---
  pipeline 102  deploy success, jobs on two pages with an approval job
  pipeline 101  created 2024-05-01, before the window       -> the walk stops here
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tests.servers.circleci import CircleCIWorld

API = "https://circleci.com/api/v2"
CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "circleci"
SINCE = datetime(2024, 5, 5, tzinfo=timezone.utc)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, tzinfo=timezone.utc)


def story() -> tuple[CircleCIWorld, dict[str, dict[str, Any]]]:
    world = CircleCIWorld("gh/acme/widgets", page_size=2)
    p101 = world.add_pipeline(101, at(1, 9))
    world.add_workflow(p101, "wf-101", "build-and-test", "success", at(1, 9), at(1, 9, 5))
    p102 = world.add_pipeline(102, at(9, 9))
    deploy = world.add_workflow(p102, "wf-102", "deploy", "success", at(9, 9), at(9, 10, 2))
    world.add_job(deploy, "build", "success", at(9, 9, 0, 5), at(9, 9, 3))
    world.add_job(deploy, "hold", "success", at(9, 9, 3), at(9, 9, 58), kind="approval")
    world.add_job(deploy, "deploy", "success", at(9, 9, 58, 4), at(9, 10, 2))
    p103 = world.add_pipeline(103, at(10, 10))
    failed = world.add_workflow(
        p103, "wf-103a", "build-and-test", "failed", at(10, 10), at(10, 10, 6)
    )
    world.add_job(failed, "build", "success", at(10, 10, 0, 4), at(10, 10, 2))
    world.add_job(failed, "test", "failed", at(10, 10, 2, 3), at(10, 10, 6))
    rerun = world.add_workflow(
        p103, "wf-103b", "build-and-test", "success", at(10, 11), at(10, 11, 7)
    )
    world.add_job(rerun, "build", "success", at(10, 11, 0, 4), at(10, 11, 2))
    world.add_job(rerun, "test", "success", at(10, 11, 2, 2), at(10, 11, 7))
    p104 = world.add_pipeline(104, at(10, 12))
    held = world.add_workflow(p104, "wf-104", "build-and-test", "on_hold", at(10, 12), None)
    world.add_job(held, "build", "success", at(10, 12, 0, 4), at(10, 12, 2))
    world.add_job(held, "hold", "on_hold", at(10, 12, 2), None, kind="approval")
    named = {
        "deploy": deploy,
        "failed": failed,
        "rerun": rerun,
        "held": held,
        "p102": p102,
        "p103": p103,
        "p104": p104,
    }
    return world, named


def page(items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {"next_page_token": token, "items": items}


def interaction(path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {
        "request": {
            "body": None,
            "headers": {"Accept": ["application/json"]},
            "method": "GET",
            "uri": f"{API}{path}",
        },
        "response": {
            "body": {"string": json.dumps(body, indent=1)},
            "headers": {"Content-Type": ["application/json"]},
            "status": {"code": status, "message": "OK" if status == 200 else "Error"},
        },
    }


def poll_cassette() -> list[dict[str, Any]]:
    world, n = story()
    pipelines = world.pipelines  # newest first
    jobs = world.jobs
    return [
        interaction("/project/gh/acme/widgets/pipeline", page(pipelines[:2], "cGFnZTI")),
        interaction(
            "/project/gh/acme/widgets/pipeline?page-token=cGFnZTI", page(pipelines[2:4], "cGFnZTM")
        ),
        interaction(
            f"/pipeline/{n['p104']['id']}/workflow", page(world.workflows[n["p104"]["id"]], None)
        ),
        interaction(
            f"/pipeline/{n['p103']['id']}/workflow", page(world.workflows[n["p103"]["id"]], None)
        ),
        interaction(f"/workflow/{n['failed']['id']}/job", page(jobs[n["failed"]["id"]], None)),
        interaction(f"/workflow/{n['rerun']['id']}/job", page(jobs[n["rerun"]["id"]], None)),
        interaction(
            f"/pipeline/{n['p102']['id']}/workflow", page(world.workflows[n["p102"]["id"]], None)
        ),
        interaction(
            f"/workflow/{n['deploy']['id']}/job", page(jobs[n["deploy"]["id"]][:2], "am9icGFnZTI")
        ),
        interaction(
            f"/workflow/{n['deploy']['id']}/job?page-token=am9icGFnZTI",
            page(jobs[n["deploy"]["id"]][2:], None),
        ),
    ]


def rejected_token_cassette() -> list[dict[str, Any]]:
    return [
        interaction(
            "/project/gh/acme/widgets/pipeline", {"message": "You must log in first."}, status=401
        )
    ]


class _Dumper(yaml.SafeDumper):
    """Bodies as literal blocks, so a reviewer reads the JSON as JSON."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def write(name: str, interactions: list[dict[str, Any]]) -> None:
    CASSETTES.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(
        {"interactions": interactions, "version": 1}, Dumper=_Dumper, sort_keys=False, width=100
    )
    (CASSETTES / name).write_text(text)


def main() -> None:
    write("poll.yaml", poll_cassette())
    write("rejected_token.yaml", rejected_token_cassette())


if __name__ == "__main__":
    main()
