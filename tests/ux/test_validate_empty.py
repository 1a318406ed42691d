"""`validate` of nothing is not "valid": an empty file or one without bodies is an error."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.ux.cli import invoke


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"\n\n   \n", b"\t\r\n", b"   "],
    ids=["empty", "nl", "blank", "tab", "sp"],
)
def test_a_file_without_bodies_is_an_error(
    content: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "bodies.jsonl"
    path.write_bytes(content)
    result = invoke(monkeypatch, capsys, "validate", str(path))
    assert result.code == 1, result.stderr
    assert "no request bodies" in result.stdout
    assert "invalid: 0 bodies" in result.stderr


def test_stdin_without_bodies_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    result = invoke(monkeypatch, capsys, "validate", "-")
    assert result.code == 1, result.stderr
    assert "no request bodies" in result.stdout
