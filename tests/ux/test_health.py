"""Repeated 75s are visible: `state show` and `health --max-staleness` read last success."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ci_collector.state import State
from tests.ux.cli import invoke, one_line

NOW = datetime.now(timezone.utc)


def state_with(tmp_path: Path, ages: dict[str, timedelta | None]) -> Path:
    """A state file whose sources last succeeded `age` ago (None: never)."""
    path = tmp_path / "state.sqlite"
    with State(path) as db:
        for source in ages:
            db.record_success(source)
    with sqlite3.connect(path) as raw:
        for source, age in ages.items():
            when = None if age is None else (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")
            raw.execute("UPDATE sources SET last_success = ? WHERE source = ?", (when, source))
    return path


@pytest.mark.parametrize(
    ("ages", "limit", "code", "stale"),
    [
        ({"github:acme/app": timedelta(hours=1)}, "6h", 0, []),
        ({"github:acme/app": timedelta(hours=7)}, "6h", 1, ["github:acme/app"]),
        ({"jenkins:ci.example/": None}, "6h", 1, ["jenkins:ci.example/"]),
        (
            {"circleci:x/gh/a/b": timedelta(days=3), "github:a/b": timedelta(minutes=5)},
            "2d",
            1,
            ["circleci:x/gh/a/b"],
        ),
        ({"circleci:x/gh/a/b": timedelta(days=3)}, "1w", 0, []),
        ({"github:a/b": timedelta(minutes=50)}, "45min", 1, ["github:a/b"]),
    ],
)
def test_health_exits_1_when_a_source_has_not_succeeded_for_too_long(
    ages: dict[str, timedelta | None],
    limit: str,
    code: int,
    stale: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = state_with(tmp_path, ages)
    result = invoke(monkeypatch, capsys, "health", "--state", str(path), "--max-staleness", limit)
    assert result.code == code, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(ages)
    for line in lines:
        assert line.startswith("STALE" if line.split("\t")[1] in stale else "ok")
    if stale:
        assert f"{len(stale)} of {len(ages)} sources have not succeeded" in result.stderr
    as_json = invoke(
        monkeypatch,
        capsys,
        "health",
        "--json",
        env={"CI_COLLECTOR_STATE": str(path), "CI_COLLECTOR_MAX_STALENESS": limit},
    )
    assert as_json.code == code
    assert sorted(e["source"] for e in json.loads(as_json.stdout) if e["stale"]) == sorted(stale)


def test_state_show_prints_the_last_success_and_its_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = state_with(tmp_path, {"github:a/b": timedelta(hours=5), "jenkins:ci/": None})
    result = invoke(monkeypatch, capsys, "state", "show", "--state", str(path))
    assert result.code == 0, result.stderr
    github, jenkins = result.stdout.splitlines()
    assert "last success: " in github and "(5h ago)" in github
    assert "last success: never" in jenkins


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["health", "--state", "{missing}"], "no state file at"),
        (["state", "show", "--state", "{missing}"], "no state file at"),
        (["health", "--state", "{empty}"], "no source has polled yet"),
        (["health", "--state", "{one}", "--source", "jenkins:*"], "no source matches --source"),
        (["health", "--state", "{one}", "--max-staleness", "soon"], "is not a duration"),
        (["health", "--state", "{one}", "--max-staleness", "0m"], "shorter than"),
    ],
)
def test_health_mistakes_are_one_line_exit_2(
    args: list[str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {
        "missing": str(tmp_path / "none" / "state.sqlite"),
        "empty": str(state_with(tmp_path / "e", {}) if (tmp_path / "e").mkdir() is None else ""),
        "one": str(state_with(tmp_path, {"github:a/b": timedelta(hours=1)})),
    }
    result = invoke(monkeypatch, capsys, *(arg.format(**paths) for arg in args))
    one_line(result, 2, fragment)
    assert not (tmp_path / "none").exists()  # reading never creates a state file
