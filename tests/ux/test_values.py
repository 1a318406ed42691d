"""Values that overflow or are not numbers end in one line and exit 2, before any fetch.

No server is started: an error that came after a fetch would be a connection error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ux.cli import invoke, one_line

CIRCLECI = {"CIRCLECI_TOKEN": "circle-token-0000"}
CLOSED = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["github", "--repo", "a/b", "--since", "99999999999d"], {}, "too long"),
        (["github", "--repo", "a/b", "--since", "9999999999999999999999w"], {}, "too long"),
        (["github", "--repo", "a/b", "--lookback", "99999999999d"], {}, "too long"),
        (["github", "--repo", "a/b", "--until", "0001-01-01"], {}, "out of range"),
        (["jenkins", "--url", CLOSED, "--since", "99999999999h"], {}, "too long"),
        (["jenkins", "--url", CLOSED, "--since", "0001-01-01T00:00:00"], {}, "out of range"),
        (["circleci", "--project-slug", "gh/a/b", "--since", "99999999999d"], CIRCLECI, "too"),
        (["circleci", "--project-slug", "gh/a/b", "--lookback", "99999999999d"], CIRCLECI, "too"),
        (["github", "--repo", "a/b", "--retry-seconds", "nan"], {}, "'--retry-seconds'"),
        (["jenkins", "--url", CLOSED, "--retry-seconds", "inf"], {}, "'--retry-seconds'"),
        (["github", "--repo", "a/b", "--max-wait", "nan"], {}, "'--max-wait'"),
    ],
)
def test_collectors_refuse_values_that_overflow(
    args: list[str],
    env: dict[str, str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "o.jsonl"
    result = invoke(monkeypatch, capsys, *args, "--output", str(out), env=env)
    one_line(result, 2, fragment)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--until", "0001-01-01"], "out of range"),
        (["--until", "9999-12-31"], "out of range"),
        (["--until", "99999999999d"], "too long"),
        (["--window", "99999999999d"], "too long"),
        (["--window", "0d"], "shorter than"),
    ],
)
def test_report_refuses_values_that_overflow(
    args: list[str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bodies = tmp_path / "in.jsonl"
    bodies.write_text('{"events": []}\n')
    result = invoke(monkeypatch, capsys, "report", "--input", str(bodies), *args)
    one_line(result, 2, fragment)


@pytest.mark.parametrize(
    "content",
    [b"ci/* = acme/\xff\xfe\n", b"\xef\xbb\xbfjob = acme/w\n\x80\n", b"\xc3\x28 = a/b\n"],
)
def test_a_repo_map_that_is_not_utf8_is_one_line(
    content: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo_map = tmp_path / "map.txt"
    repo_map.write_bytes(content)
    result = invoke(
        monkeypatch,
        capsys,
        "jenkins",
        "--url",
        CLOSED,
        "--repo-map",
        str(repo_map),
        "--output",
        str(tmp_path / "o.jsonl"),
    )
    one_line(result, 2, "--repo-map", "UTF-8")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["github", "--repo", "a/b", "--lookback", "3"], {}),
        (["github", "--repo", "a/b", "--lookback", "45min"], {}),
        (["github", "--repo", "a/b", "--lookback", "2 days"], {}),
        (["circleci", "--project-slug", "gh/a/b", "--lookback", "12 h"], CIRCLECI),
        (["circleci", "--project-slug", "gh/a/b", "--lookback", "1w"], CIRCLECI),
    ],
)
def test_one_duration_grammar_for_every_lookback(
    args: list[str],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every spelling is accepted by every option: the run gets as far as the network."""
    api = ["--github-api-url", CLOSED] if args[0] == "github" else ["--circleci-api-url", CLOSED]
    result = invoke(
        monkeypatch,
        capsys,
        *args,
        *api,
        "-q",
        "--timeout",
        "1",
        "--output",
        str(tmp_path / "o.jsonl"),
        env=env,
    )
    one_line(result, 1, "cannot reach")


@pytest.mark.parametrize(
    "args",
    [
        ["github", "--repo", "a/b", "--lookback", "3y"],
        ["circleci", "--project-slug", "gh/a/b", "--lookback", "-3d"],
        ["report", "--window", "soon"],
    ],
)
def test_durations_refuse_the_same_way(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = ["--input", str(tmp_path)] if args[0] == "report" else ["--output", "x.jsonl"]
    result = invoke(monkeypatch, capsys, *args, *extra, env=CIRCLECI)
    one_line(result, 2, "is not a duration like 90d, 12h, 30m or 2w")
