"""The command line's shape: global options anywhere, help without arguments, JSON errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ux.cli import invoke, one_line

CLOSED = "http://127.0.0.1:9"


def test_no_arguments_prints_the_help_on_stdout_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(monkeypatch, capsys)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("Usage: ci-collector")
    for command in ("github", "jenkins", "circleci", "report", "validate", "state", "health"):
        assert f"  {command} " in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["-q", "github", "--repo", "a/b"],
        ["github", "-q", "--repo", "a/b"],
        ["--quiet", "github", "--repo", "a/b"],
        ["github", "--repo", "a/b", "--quiet"],
        ["--log-format", "text", "-q", "jenkins", "--url", CLOSED],
        ["-q", "circleci", "--project-slug", "gh/a/b"],
    ],
)
def test_quiet_works_before_or_after_the_subcommand(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Quiet: the only line on stderr is the final error, not the progress before it."""
    api = (
        ["--github-api-url", CLOSED]
        if "github" in args
        else ["--circleci-api-url", CLOSED]
        if "circleci" in args
        else []
    )
    result = invoke(
        monkeypatch,
        capsys,
        *args,
        *api,
        "--timeout",
        "1",
        "--insecure",  # its warning is silenced by -q too
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"CIRCLECI_TOKEN": "circle-token-0000"},
    )
    one_line(result, 1, "cannot reach")


@pytest.mark.parametrize(
    "args",
    [
        ["--log-format", "json", "github", "--repo", "a/b", "--since", "soon"],
        ["github", "--repo", "a/b", "--since", "soon", "--log-format", "json"],
        ["--log-format=json", "github", "--repo", "noslash"],
        ["--log-format", "json", "report", "--window", "soon"],
        ["--log-format", "json", "validate", "/no/such/file"],
        ["--log-format", "json", "frobnicate"],
        ["-v", "--log-format", "json", "state", "show", "--state", "/nonexistent-ux-dir/s.sqlite"],
    ],
)
def test_under_json_logs_the_final_error_is_a_json_record(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = invoke(monkeypatch, capsys, *args, env={"CI_COLLECTOR_OUTPUT": str(tmp_path / "o")})
    assert result.code == 2, result.stderr
    records = [json.loads(line) for line in result.lines]
    final = records[-1]
    assert final["level"] == "error"
    assert final["exit_code"] == 2
    assert "\n" not in final["message"] and final["message"]


def test_verbose_before_the_subcommand_shows_debug_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = invoke(monkeypatch, capsys, "validate", str(tmp_path / "none"))
    assert quiet.code == 2
    bodies = tmp_path / "b.jsonl"
    bodies.write_text("")
    for args in (["-vv", "report"], ["report", "-vv"]):
        result = invoke(monkeypatch, capsys, *args, "--input", str(bodies))
        assert result.code == 0, result.stderr
        assert "DEBUG" in result.stderr, args
