"""Names with control characters cannot drive the terminal: report, logs and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci_collector.terminal import printable
from tests.report.history import C, History, Job
from tests.servers.jenkins import Build, running_jenkins
from tests.sources.jenkins.scenarios import build_body
from tests.ux.cli import invoke

HOSTILE = [
    "build\x1b]0;owned\x07",  # OSC: retitles the terminal
    "test\x1b[2J\x1b[H",  # clear screen, cursor home
    "lint\x00hidden",  # NUL
    "deploy\u202eodorp",  # right-to-left override
    "ship\u2066it\u2069",  # bidi isolate
    "red\x9b31mtext",  # C1 CSI
    "two\nlines\rback",
]
BAD = ["\x1b", "\x00", "\x07", "\u202e", "\u2066", "\u2069", "\x9b", "\r"]


def hostile_state(tmp_path: Path, name: str) -> Path:
    """A local store whose workflow, job, step and branch are all called `name`."""
    history = History()
    for n in range(3):
        history.run(
            n * 3600,
            100,
            C.FAILURE if n == 1 else C.SUCCESS,
            name=name,
            branch=name,
            sha="s0",
            jobs=[Job(name, 80, C.FAILURE if n == 1 else C.SUCCESS, steps=[(name, 70)])],
        )
    return history.store(tmp_path / "state.sqlite")


@pytest.mark.parametrize("name", HOSTILE)
def test_the_text_report_shows_control_characters_as_escapes(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(
        monkeypatch,
        capsys,
        "report",
        "--state",
        str(hostile_state(tmp_path, name)),
        "--until",
        "2023-11-20",
    )
    assert result.code == 0, result.stderr
    for bad in BAD:
        assert bad not in result.stdout, repr(bad)
    assert printable(name) in result.stdout
    assert result.stdout.count(printable(name)) >= 3  # workflow, job, step


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_neutralise_control_characters_in_job_names(
    name: str,
    log_format: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Jenkins job whose build cannot be read is skipped with a warning naming the job."""
    job = name
    with running_jenkins() as server:
        server.job(job)
        body = build_body(server, job, 1, "SUCCESS")
        server.add_build(job, Build(body, raw_describe=b'{"stages": "not a list"}'))
        result = invoke(
            monkeypatch,
            capsys,
            "jenkins",
            "--url",
            server.url,
            "--repo",
            "acme/app",
            "--log-format",
            log_format,
            "--output",
            str(tmp_path / "o.jsonl"),
        )
    assert result.code == 0, result.stderr
    warnings = [line for line in result.lines if "skipped" in line and "runs skipped" not in line]
    assert len(warnings) == 1, result.stderr
    for bad in BAD:
        assert bad not in result.stderr, repr(bad)
    if log_format == "json":
        records = [json.loads(line) for line in result.lines]
        assert any(printable(name) in record["message"] for record in records)
    else:
        assert printable(name) in warnings[0]
