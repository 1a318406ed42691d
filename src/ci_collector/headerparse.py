"""Answers' header blocks read without the email package, in a command-line run.

http.client (under urllib3, so under every GET and POST the collector makes) hands
each answer's header block to ``email.parser``: 150 µs for the 26 headers GitHub sends,
a third of a GET's CPU, and 45 µs for the local stand-in's seven. A block of plain
``Name: value`` lines, which is what HTTP servers send, becomes the same `HTTPMessage`
here in a few microseconds; anything else (folded lines, a bare CR, bytes outside
printable ASCII, a missing blank line, a multipart type) still goes to http.client's
own parser, so the result is always the one it would have given.

Installed by `install`, for the command-line entry point only (as `gcpolicy` is):
importing the package changes nothing in http.client.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable
from typing import Any

_PLAIN_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*\r?\n)*\r?\n")
"""Token names, printable values, one line each, and the blank line that ends them."""
_FIELD = re.compile(r"([^:]+):[ \t]*(.*?)\r?\n")
_NESTED = re.compile(rb"(?im)^content-type:[ \t]*(?:multipart|message)/")
"""A type whose (empty) body the email parser parses further: left to it."""


class PlainMessage(http.client.HTTPMessage):
    """The message of a plain block, whose values the email policy would hand back as
    they are (printable ASCII): read without it. http.client asks ``get`` four times an
    answer, and every header of it is read through ``items``."""

    def get(self, name: str, failobj: Any = None) -> Any:
        name = name.lower()
        for key, value in self._headers:  # type: ignore[attr-defined]
            if key.lower() == name:
                return value
        return failobj

    def items(self) -> list[tuple[str, Any]]:
        return list(self._headers)  # type: ignore[attr-defined]


def parse_headers(fp: Any, _class: type = http.client.HTTPMessage) -> Any:
    """`http.client.parse_headers`, with plain blocks read by one regular expression."""
    lines = _read_lines(fp)
    block = b"".join(lines)
    if _PLAIN_BLOCK.fullmatch(block) is None or _NESTED.search(block) is not None:
        return _email_parse(block, _class)
    message: Any = PlainMessage() if _class is http.client.HTTPMessage else _class()
    message._headers = _FIELD.findall(block.decode("ascii"))
    message._payload = ""
    return message


def _email_parse(block: bytes, message_class: type) -> Any:
    """What http.client does with the lines it read."""
    import email.parser

    return email.parser.Parser(_class=message_class).parsestr(block.decode("iso-8859-1"))


def _read_lines(fp: Any) -> list[bytes]:
    reader: Callable[[Any], list[bytes]] = http.client._read_headers  # type: ignore[attr-defined]
    return reader(fp)


def install() -> None:
    """Have http.client read header blocks here; once, and only where it has the helper
    (``_read_headers``) that reads them with its own limits."""
    if http.client.parse_headers is not parse_headers and hasattr(http.client, "_read_headers"):
        setattr(http.client, "parse_headers", parse_headers)  # noqa: B010 (typeshed overloads it)
