"""Every file a command will write is checked before anything is fetched.

A GitHub stand-in counts requests: a mistake in an output path must end in one line and
exit 2 with zero requests made, not after the poll. A full disk (/dev/full) is one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import T0
from tests.sources.github.scenarios import NAME, OWNER, bulk
from tests.ux.cli import invoke, one_line

FULL = Path("/dev/full")


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    model = GitHubModel()
    bulk(model, 2, T0, 60_000)
    with running_github(model) as server:
        yield server


def collect(server: GitHubServer, *extra: str) -> list[str]:
    return [
        "github",
        "--repo",
        f"{OWNER}/{NAME}",
        "--github-api-url",
        server.url,
        "--since",
        "2024-12-30",
        "-q",
        *extra,
    ]


def bad_paths(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Name -> (path, fragment of the one line)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    return {
        "missing directory": (str(tmp_path / "no" / "such" / "o.jsonl"), "does not exist"),
        "under a file": (str(a_file / "o.jsonl"), "is not a directory"),
        "a directory": (str(tmp_path), "is a directory"),
        "proc": ("/proc/ci-collector-ux.jsonl", "cannot write"),
    }


CASES = ["missing directory", "under a file", "a directory", "proc"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_output_path_fails_before_any_fetch(
    case: str,
    github: GitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, fragment = bad_paths(tmp_path)[case]
    result = invoke(monkeypatch, capsys, *collect(github, "--output", path))
    one_line(result, 2, "--output", fragment)
    assert github.server.requests == []


@pytest.mark.parametrize("case", CASES)
def test_a_bad_github_output_fails_before_any_fetch(
    case: str,
    github: GitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, fragment = bad_paths(tmp_path)[case]
    out = tmp_path / "o.jsonl"
    result = invoke(
        monkeypatch, capsys, *collect(github, "--output", str(out)), env={"GITHUB_OUTPUT": path}
    )
    one_line(result, 2, "--github-output", fragment)
    assert github.server.requests == []
    assert not out.exists()


@pytest.mark.parametrize("case", CASES)
def test_a_bad_report_output_fails_before_reading(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, fragment = bad_paths(tmp_path)[case]
    result = invoke(
        monkeypatch, capsys, "report", "--state", str(tmp_path / "none.sqlite"), "-o", path
    )
    one_line(result, 2, "--output", fragment)  # not "no local store": the output comes first


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
@pytest.mark.parametrize("output", ["--output", "--github-output"])
def test_a_full_disk_is_one_line(
    output: str,
    github: GitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = "--github-output" if output == "--output" else "--output"
    other_path = str(tmp_path / "other")
    result = invoke(monkeypatch, capsys, *collect(github, output, str(FULL), other, other_path))
    one_line(result, 1, output, "No space left on device")


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
def test_a_report_onto_a_full_disk_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = tmp_path / "in.jsonl"
    bodies.write_text("")
    for fmt in ("text", "html", "json"):
        result = invoke(
            monkeypatch, capsys, "report", "--input", str(bodies), "--format", fmt, "-o", str(FULL)
        )
        one_line(result, 1, "--output", "No space left on device")


def test_the_state_directory_is_checked_before_any_fetch(
    github: GitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for state in (a_file / "state.sqlite", tmp_path, Path("/proc/ux/state.sqlite")):
        result = invoke(monkeypatch, capsys, *collect(github, "--state", str(state)))
        one_line(result, 2, str(state))
    assert github.server.requests == []
    assert os.listdir(tmp_path) == ["a-file"]
