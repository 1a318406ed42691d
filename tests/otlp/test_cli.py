"""The OTLP export through the real CLI: OTEL_* configuration, destinations, exit codes."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ci_collector.mapper import event_id
from ci_collector.state import State
from tests.runs import make_run
from tests.servers.base import Reply
from tests.servers.otlp import API_KEY, OtlpReceiver, Partial, running_receiver
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.test_cli import run_tiny

ENCODED_KEY = "otlp-test-key%2Fwith%3Dodd%2Cchars"  # API_KEY, URL-encoded as the spec asks
HEADERS = f"x-honeycomb-team={ENCODED_KEY}, x-other=1"
SPANS = 8  # two runs of 4


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with running_receiver() as stand_in:
        yield stand_in


def otlp_env(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_HEADERS": HEADERS,
        **extra,
    }


def delivered(state: Path, namespace: str) -> int:
    with State(state, namespace) as db:
        return sum(db.is_delivered(make_run(n).natural_key) for n in (1, 2))


def test_the_endpoint_alone_turns_otlp_on_and_sends_nothing_elsewhere(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    result = run_tiny("tiny", "-vv", "--state", str(state), env=otlp_env(receiver))
    assert result.returncode == 0, result.stderr
    assert len(receiver.spans) == SPANS
    assert "sent 8 spans of 2 runs in 1 requests" in result.stderr
    assert API_KEY not in result.stderr and ENCODED_KEY not in result.stderr
    assert delivered(state, "otlp:") == 2
    assert delivered(state, "") == 0 and delivered(state, "store:") == 0
    again = run_tiny("tiny", "--state", str(state), env=otlp_env(receiver))
    assert again.returncode == 0 and receiver.posts == 1  # remembered: nothing re-sent


@pytest.mark.parametrize(
    ("variables", "flags", "path"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{url}/"}, [], "/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{url}/custom/path"}, [], "/custom/path"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "{url}/ignored",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{url}/t",
            },
            [],
            "/t",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/"},
            ["--otlp-endpoint", "{url}/otel"],
            "/otel/v1/traces",
        ),
    ],
)
def test_endpoints_resolve_like_the_opentelemetry_sdks(
    tmp_path: Path, variables: dict[str, str], flags: list[str], path: str
) -> None:
    with running_receiver() as receiver:
        receiver.path = path
        env = {k: v.format(url=receiver.url) for k, v in variables.items()}
        env["OTEL_EXPORTER_OTLP_HEADERS"] = HEADERS
        args = [flag.format(url=receiver.url) for flag in flags]
        result = run_tiny("tiny", *args, "--state", str(tmp_path / "s.sqlite"), env=env)
        assert result.returncode == 0, result.stderr
        assert [r.path for r in receiver.server.requests] == [path]


def test_gzip_service_name_and_resource_attributes(receiver: OtlpReceiver, tmp_path: Path) -> None:
    env = otlp_env(
        receiver,
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        OTEL_SERVICE_NAME="ci-of-acme",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod,team=plat%20form",
    )
    result = run_tiny("tiny", "--state", str(tmp_path / "s.sqlite"), env=env)
    assert result.returncode == 0, result.stderr
    assert receiver.gzipped == 1 and len(receiver.spans) == SPANS
    resources = list(receiver.resources.values())
    assert resources[0]["service.name"] == "ci-of-acme"
    assert resources[0]["deployment.environment"] == "prod"
    assert resources[0]["team"] == "plat form"


def test_adding_otlp_later_sends_it_the_history_and_does_not_resend_to_trunk(
    receiver: OtlpReceiver, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    trunk_env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    first = run_tiny("tiny", "--state", str(state), env=trunk_env)
    assert first.returncode == 0 and trunk.posts == 1 and len(trunk.events) == SPANS
    both = run_tiny("tiny", "--state", str(state), env={**trunk_env, **otlp_env(receiver)})
    assert both.returncode == 0, both.stderr
    assert trunk.posts == 1  # Trunk already had both runs
    assert len(receiver.spans) == SPANS and receiver.posts == 1
    third = run_tiny("tiny", "--state", str(state), env={**trunk_env, **otlp_env(receiver)})
    assert third.returncode == 0 and trunk.posts == 1 and receiver.posts == 1
    assert delivered(state, "") == 2 and delivered(state, "otlp:") == 2


def test_adding_trunk_later_does_not_resend_to_otlp(
    receiver: OtlpReceiver, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    trunk_env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    assert run_tiny("tiny", "--state", str(state), env=otlp_env(receiver)).returncode == 0
    both = run_tiny("tiny", "--state", str(state), env={**trunk_env, **otlp_env(receiver)})
    assert both.returncode == 0, both.stderr
    assert receiver.posts == 1 and len(trunk.events) == SPANS


def test_an_otlp_refusal_beside_trunk_is_exit_1_and_only_otlp_retries_it(
    receiver: OtlpReceiver, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url, **otlp_env(receiver)}
    receiver.faults = [Partial(rejected=1)]
    args = ("tiny", "--state", str(state), "--dead-letter", str(tmp_path / "dead.jsonl"))
    result = run_tiny(*args, env=env)
    assert result.returncode == 1, result.stderr
    assert (tmp_path / "dead.otlp.jsonl").exists() and not (tmp_path / "dead.jsonl").exists()
    assert delivered(state, "") == 2 and delivered(state, "otlp:") == 0
    again = run_tiny(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert trunk.posts == 1 and len(receiver.spans) == SPANS


def test_dry_run_writes_otlp_json(tmp_path: Path) -> None:
    result = run_tiny("tiny", "--output", "-", "--format", "otlp-json")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    request = json.loads(line)
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert len(spans) == SPANS
    root = event_id(make_run(1).natural_key)
    assert spans[0]["traceId"] == uuid.UUID(root).hex
    assert spans[0]["spanId"] == uuid.UUID(root).hex[:16]
    assert spans[0]["kind"] == 2 and spans[0]["name"] == "RUN CI"
    assert spans[1]["parentSpanId"] == spans[0]["spanId"]
    assert spans[0]["startTimeUnixNano"] == str((1_700_000_000_000 - 1_000) * 1_000_000)


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, [], "zstd"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"}, [], "http(s) URL"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key"}, [], "key=value"),
        ({}, ["--format", "otlp-json"], "--output"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, [], "http/protobuf only"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, [], "http/protobuf only"),
    ],
)
def test_bad_settings_are_one_line_usage_errors(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    full = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", **env}
    result = run_tiny("tiny", *args, "--state", str(tmp_path / "s.sqlite"), env=full)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_rejected_credentials_and_a_down_endpoint_exit_codes(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    wrong = otlp_env(receiver, OTEL_EXPORTER_OTLP_HEADERS="x-honeycomb-team=not-the-key")
    refused = run_tiny("tiny", "-q", "--state", str(tmp_path / "a.sqlite"), env=wrong)
    assert refused.returncode == 1
    assert "401" in refused.stderr and "not-the-key" not in refused.stderr
    receiver.faults = [Reply(503)] * 100
    args = ("tiny", "-q", "--retry-seconds", "0.5", "--state", str(tmp_path / "b.sqlite"))
    down = run_tiny(*args, env=otlp_env(receiver))
    assert down.returncode == 75, down.stderr
    assert API_KEY not in down.stderr


def test_a_password_in_the_endpoint_url_is_never_shown(tmp_path: Path) -> None:
    with running_receiver(api_key=None) as receiver:
        receiver.path = "/nowhere"
        host = receiver.url.removeprefix("http://")
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://user:s3cr3t-pass@{host}/v1/traces"}
        result = run_tiny("tiny", "-vv", "--state", str(tmp_path / "s.sqlite"), env=env)
        assert result.returncode == 1 and "404" in result.stderr
        assert "s3cr3t-pass" not in result.stderr


def test_dry_run_batches_spans_and_names_the_service_without_an_endpoint() -> None:
    env = {"OTEL_SERVICE_NAME": "acme-ci", "CI_COLLECTOR_OTLP_BATCH_SIZE": "3"}
    result = run_tiny("tiny", "-o", "-", "--format", "otlp-json", env=env)
    assert result.returncode == 0, result.stderr
    requests = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(r["resourceSpans"][0]["scopeSpans"][0]["spans"]) for r in requests] == [3, 3, 2]
    names = {
        a["value"]["stringValue"]
        for r in requests
        for a in r["resourceSpans"][0]["resource"]["attributes"]
        if a["key"] == "service.name"
    }
    assert names == {"acme-ci"}
    assert "wrote 8 spans of 2 runs in 3 requests" in result.stderr


def test_the_action_script_exports_to_otlp_through_env_only(tmp_path: Path) -> None:
    """The Action's collect step, with the otlp inputs as the runner passes them (env)."""
    import os
    import sys

    import yaml

    from tests.conftest import ROOT
    from tests.servers.github import running_github
    from tests.sources.github import scenarios as sc

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "collect")
    assert step["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${{ inputs.otlp-endpoint }}"
    assert step["env"]["OTEL_EXPORTER_OTLP_HEADERS"] == "${{ inputs.otlp-headers }}"
    launcher = tmp_path / "ci-collector"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ci_collector "$@"\n')
    launcher.chmod(0o755)
    with running_github(sc.catalogue()) as github, running_receiver() as receiver:
        env = {
            "PATH": f"{tmp_path}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT / "src"),
            "HOME": str(tmp_path),
            "GITHUB_API_URL": github.url,
            "GITHUB_OUTPUT": str(tmp_path / "github_output"),
            "GITHUB_RUN_ID": "1",
            "GITHUB_REPOSITORY": "acme/ci",
            "GITHUB_TOKEN": "ghp_action-test-token-0000",
            "TRUNK_API_TOKEN": "",
            "TRUNK_API_URL": "https://api.trunk.io",
            "INPUT_RUN_ID": "",
            "INPUT_REPO": "",
            "INPUT_OUTPUT": "",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_HEADERS": HEADERS,
            "TRIGGER_RUN_ID": str(sc.RERUN_RUN),
            "TRIGGER_RUN_ATTEMPT": "2",
            "TRIGGER_REPO": f"{sc.OWNER}/{sc.NAME}",
        }
        result = subprocess.run(
            ["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    roots = [span for span in receiver.all_spans() if span.kind == Span.SPAN_KIND_SERVER]
    assert len(roots) == 1 and len(roots[0].links) == 1  # attempt 2, linked to attempt 1
    attributes = {a.key: a.value.string_value for a in roots[0].attributes}
    assert attributes["cicd.pipeline.run.id"] == str(sc.RERUN_RUN)
    assert attributes["ci_collector.attempt"] == "2"
    assert API_KEY not in result.stderr


def test_empty_otel_variables_leave_otlp_off(tmp_path: Path) -> None:
    """An Action input left empty still sets its variable, to "": that is not an endpoint."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_HEADERS": ""}
    result = run_tiny("tiny", "--state", str(tmp_path / "s.sqlite"), env=env)
    assert result.returncode == 0, result.stderr
    assert "stored 8 events of 2 runs" in result.stderr
