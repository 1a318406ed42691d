"""Header blocks read by `headerparse` give exactly the message http.client's parser gives."""

from __future__ import annotations

import email.message
import http.client
import io
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ci_collector import headerparse
from tests.conftest import ROOT

TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
GITHUB = (
    b"Server: GitHub.com\r\nDate: Thu, 26 Nov 2026 01:00:00 GMT\r\n"
    b"Content-Type: application/json; charset=utf-8\r\nCache-Control: private, max-age=60\r\n"
    b'Vary: Accept, Authorization, Cookie, X-GitHub-OTP\r\nETag: W/"0a1b"\r\n'
    b"X-RateLimit-Limit: 5000\r\nX-RateLimit-Remaining: 4999\r\nX-RateLimit-Reset: 1700000000\r\n"
    b"X-RateLimit-Used: 1\r\nx-ratelimit-resource: core\r\nContent-Length: 12345\r\n\r\n"
)


def _both(block: bytes) -> tuple[http.client.HTTPMessage, http.client.HTTPMessage]:
    theirs = http.client.parse_headers(io.BytesIO(block))  # the original: not installed here
    ours = headerparse.parse_headers(io.BytesIO(block))
    return theirs, ours


def _same(block: bytes) -> None:
    try:
        theirs, ours = _both(block)
    except http.client.HTTPException as exc:  # a line too long, too many lines
        with pytest.raises(type(exc)):
            headerparse.parse_headers(io.BytesIO(block))
        return
    assert isinstance(ours, type(theirs))  # a plain block's is `PlainMessage`, read faster
    assert _plain(ours) == _plain(theirs)
    assert ours.items() == theirs.items()
    for name in [*theirs.keys(), "Transfer-Encoding", "connection", "x-absent"]:
        assert ours.get(name) == theirs.get(name)
        assert ours.get(name.upper(), "none") == theirs.get(name.upper(), "none")


def _plain(value: Any) -> Any:
    """A message's every attribute, nested messages and defects included, comparably."""
    if isinstance(value, email.message.Message):
        return {name: _plain(field) for name, field in vars(value).items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Exception):
        return (type(value).__name__, str(value))
    return value


names = st.one_of(
    st.text(TOKEN, min_size=1, max_size=12), st.text(st.characters(max_codepoint=255), max_size=6)
)
values = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    st.text(st.characters(max_codepoint=255), max_size=8),  # tabs, CRs, Latin-1 bytes
)
endings = st.sampled_from(["\r\n", "\n", "\r", ""])
lines = st.one_of(
    st.tuples(names, st.sampled_from([": ", ":", ":\t ", " : "]), values, endings).map("".join),
    st.tuples(st.sampled_from([" ", "\t", "From "]), values, endings).map("".join),
)


@settings(max_examples=400)
@given(st.lists(lines, max_size=6), st.sampled_from(["\r\n", "\n", "", "x"]), st.binary(max_size=8))
@example([], "\r\n", b"")
@example(["Content-Type: multipart/mixed; boundary=b\r\n"], "\r\n", b"")
@example(["Content-Type: message/rfc822\r\n"], "\r\n", b"")
@example(["A: b  \r\n", "A: c\r\n", "c-d:\r\n"], "\n", b"body")
def test_any_block_is_read_as_http_client_reads_it(
    header_lines: list[str], end: str, after: bytes
) -> None:
    _same(("".join(header_lines) + end).encode("latin-1") + after)


plain_lines = st.tuples(
    st.text(TOKEN, min_size=1, max_size=12),
    st.sampled_from([": ", ":", ":\t ", ": \t", ":  "]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    st.sampled_from(["", " ", "\t", " \t "]),
    st.sampled_from(["\r\n", "\n"]),
).map("".join)


@settings(max_examples=300)
@given(st.lists(plain_lines, max_size=8), st.sampled_from(["\r\n", "\n"]))
def test_plain_blocks_take_the_fast_path_and_read_the_same(
    header_lines: list[str], end: str
) -> None:
    block = ("".join(header_lines) + end).encode()
    assert headerparse._PLAIN_BLOCK.fullmatch(block) is not None
    _same(block)


def test_githubs_answer_is_read_on_the_fast_path() -> None:
    _same(GITHUB)
    assert headerparse._PLAIN_BLOCK.fullmatch(GITHUB) is not None
    assert headerparse._NESTED.search(GITHUB) is None


def test_install_patches_http_client_only_in_a_command_line_run() -> None:
    assert http.client.parse_headers is not headerparse.parse_headers  # importing: nothing
    probe = (
        "import http.client; from ci_collector import cli, headerparse;"
        "cli.main = lambda: print(http.client.parse_headers is headerparse.parse_headers);"
        "cli.entry()"
    )
    env = {"PYTHONPATH": str(ROOT / "src")}
    found = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "True"
