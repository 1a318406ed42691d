"""CLI conventions every command follows: help, version, one-line errors, exit codes, env.

Collecting commands are exercised through a tiny stand-in collector registered on the real
`cli` group, so `main`, the shared options and `collect` run as shipped (in-process, see
tests/inprocess.py). The last tests start the real process: exit codes and signals.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pytest

from ci_collector import __version__
from ci_collector.cli import cli, main
from ci_collector.commands import params
from ci_collector.commands.common import DeliveryConfig, collect, delivery_options
from ci_collector.state import State
from ci_collector.validate import validate_lines
from tests.conftest import ROOT, cli_environment, run_cli, run_cli_subprocess
from tests.inprocess import run_main
from tests.runs import make_run
from tests.servers.base import LoopbackServer, Reply, Request
from tests.servers.trunk import TOKEN, TrunkStandIn


@click.command()
@click.option("--since", type=params.WHEN, envvar="CI_COLLECTOR_SINCE")
@delivery_options
def tiny(since: datetime | None, **options: Any) -> Any:
    """A stand-in collector: two runs of one repo, skipping those already delivered."""
    config = DeliveryConfig.from_options(options)
    if since is not None:
        click.echo(f"since={since.isoformat()}", err=True)
    runs = (make_run(n) for n in (1, 2))
    return collect(
        config, lambda state, skip: (run for run in runs if not state.is_delivered(run.natural_key))
    )


def run_tiny(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`tiny` on the real `cli` group through `main`, in-process, in an environment holding
    only PATH and `env`."""
    cli.add_command(tiny)
    try:
        return run_main(main, list(args), {"PATH": "/usr/bin:/bin", **(env or {})})
    finally:
        cli.commands.pop("tiny", None)


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("ci-collector: error: ")
    assert "Traceback" not in result.stderr
    assert "Usage:" not in result.stderr + result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"ci-collector, version {__version__}\n")


@pytest.mark.parametrize(
    "command", [[], ["validate"], ["state"], ["state", "show"], ["state", "forget"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    for flag in ("--help", "-h"):
        result = run_cli(*command, flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage: ci-collector")
        assert result.stderr == ""


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert "validate" in result.stdout and "state" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["collect-everything"],
        ["valdate"],
        ["--bogus"],
        ["validate", "--bogus", "x"],
        ["state", "show", "--format", "xml"],
        ["state", "forget"],  # required --source missing
        ["state", "wipe"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    assert_one_line_usage_error(run_cli(*args))


def test_bad_since_is_a_usage_error() -> None:
    result = run_tiny("tiny", "--since", "last tuesday", "--output", "-")
    assert_one_line_usage_error(result)
    assert "'last tuesday' is not a date, a time or a relative age like 90d" in result.stderr


def test_bad_shared_option_values_are_usage_errors() -> None:
    assert_one_line_usage_error(run_tiny("tiny", "--batch-size", "0", "--output", "-"))
    assert_one_line_usage_error(run_tiny("tiny", "--log-format", "xml", "--output", "-"))


def test_no_destination_keeps_events_in_the_local_store(tmp_path: Path) -> None:
    """No token and no --output: the state file's store, readable by `report`."""
    state = str(tmp_path / "s.sqlite")
    result = run_tiny("tiny", "--state", state)
    assert result.returncode == 0, result.stderr
    assert "stored 8 events of 2 runs" in result.stderr
    shown = run_cli("report", "--state", state, "--window", "3650d", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["totals"]["total_runs"] == 2


def test_runs_kept_only_locally_are_still_sent_once_a_token_is_given(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    """Quickstart without a token, then TRUNK_API_TOKEN: nothing is skipped as delivered."""
    state = str(tmp_path / "s.sqlite")
    local = run_tiny("tiny", "--state", state)
    assert local.returncode == 0, local.stderr
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    sent = run_tiny("tiny", "--state", state, env=env)
    assert sent.returncode == 0, sent.stderr
    assert len(trunk.events) == 8
    again = run_tiny("tiny", "--state", state, env=env)
    assert again.returncode == 0, again.stderr
    assert "sent 0 events" in again.stderr  # and now Trunk's own record holds
    shown = run_cli("state", "show", "--state", state)
    assert "store:" in shown.stdout  # both destinations are listed apart


def test_dry_run_to_stdout_with_options_from_the_environment(tmp_path: Path) -> None:
    result = run_tiny(
        "tiny",
        env={
            "CI_COLLECTOR_OUTPUT": "-",
            "CI_COLLECTOR_BATCH_SIZE": "3",
            "CI_COLLECTOR_SINCE": "2024-05-01",
        },
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [len(json.loads(line)["events"]) for line in lines] == [3, 3, 2]
    assert validate_lines(lines).errors == []
    assert "since=2024-05-01T00:00:00+00:00" in result.stderr
    assert "wrote 8 events of 2 runs in 3 requests" in result.stderr


def test_sending_to_trunk_remembers_and_keeps_the_token_secret(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    result = run_tiny("tiny", "-vv", "--state", str(state), env=env)
    assert result.returncode == 0, result.stderr
    assert len(trunk.events) == 8
    assert "sent 8 events of 2 runs in 1 requests" in result.stderr
    assert f"POST {trunk.url}/v1/metrics/trackEvents: HTTP 200 (" in result.stderr  # -vv: each POST
    assert TOKEN not in result.stderr + result.stdout
    with State(state) as db:
        assert db.delivered_count() == 2


def test_a_rejected_token_is_one_line_exit_1(trunk: TrunkStandIn, tmp_path: Path) -> None:
    env = {"TRUNK_API_TOKEN": "wrong-token-123456", "TRUNK_API_URL": trunk.url}
    result = run_tiny("tiny", "--state", str(tmp_path / "s.sqlite"), "-q", env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "ci-collector: error: Trunk rejected the API token (TRUNK_API_TOKEN)\n"
    )


def test_quiet_and_json_logs(trunk: TrunkStandIn, tmp_path: Path) -> None:
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    quiet = run_tiny("tiny", "-q", "--state", str(tmp_path / "a.sqlite"), env=env)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    as_json = run_tiny(
        "tiny", "--log-format", "json", "--state", str(tmp_path / "b.sqlite"), env=env
    )
    logs = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert logs and logs[-1]["level"] == "info"
    assert logs[-1]["message"] == "sent 8 events of 2 runs in 1 requests"
    assert logs[-1]["logger"] == "ci_collector"


def test_a_busy_state_exits_quietly(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as holder:
        holder.lock()
        env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": "http://127.0.0.1:9"}
        result = run_tiny("tiny", "--state", str(path), env=env)
    assert result.returncode == 0
    assert "another ci-collector is using" in result.stderr
    assert "use --wait to queue" in result.stderr


def test_trunk_down_beyond_the_retry_budget_means_come_back_later(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    trunk.faults.extend(Reply(503) for _ in range(100))
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    result = run_tiny(
        "tiny", "-q", "--retry-seconds", "0.2", "--state", str(tmp_path / "s.sqlite"), env=env
    )
    assert result.returncode == 75
    assert len(result.stderr.splitlines()) == 1
    assert "Trunk still failing after 1 attempts (HTTP 503)" in result.stderr
    with State(tmp_path / "s.sqlite") as db:
        assert db.delivered_count() == 0


# ---- the real process: what only a process boundary shows ---------------------------


def test_the_installed_module_reports_its_exit_codes_as_a_process() -> None:
    """`python -m ci_collector`, not `main`: the interpreter's own exit status and streams."""
    version = run_cli_subprocess("--version")
    assert (version.returncode, version.stdout) == (0, f"ci-collector, version {__version__}\n")
    assert_one_line_usage_error(run_cli_subprocess("valdate"))


@pytest.mark.slow  # a real process, stopped mid-request
def test_sigterm_ends_like_ctrl_c_in_one_line(tmp_path: Path) -> None:
    """systemd/Kubernetes stop with SIGTERM: exit 130 and one line, not a traceback."""
    asked = threading.Event()

    def stall(request: Request) -> Reply:
        asked.set()
        return Reply(200, b"{}", delay=60)

    with LoopbackServer(stall) as github:
        args = ["github", "--repo", "a/b", "--github-api-url", github.url, "--timeout", "60"]
        process = subprocess.Popen(
            [sys.executable, "-m", "ci_collector", *args, "--output", str(tmp_path / "o.jsonl")],
            env={
                **cli_environment({"XDG_STATE_HOME": str(tmp_path)}),
                "PYTHONPATH": str(ROOT / "src"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert asked.wait(60), "the collector never reached GitHub"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    # (click's own Ctrl-C handling prints an empty line first)
    assert stderr.strip() == (
        "ci-collector: error: interrupted; run the same command again to continue"
    )
    assert stdout == ""
