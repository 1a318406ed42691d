"""Names from CI platforms are untrusted text: make them safe to print on a terminal.

A job named ``\\x1b]0;owned\\x07`` retitles the terminal, a NUL truncates log lines in some
shippers and a bidi override (U+202E) shows ``deploy-prod`` as something else. Every name
that reaches a terminal or a log line goes through `printable`, which shows such
characters as visible escapes instead of obeying them.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls (tab, newline included: one name, one line), DEL, C1 controls, and the
# Unicode format characters that reorder or hide text (bidi embeddings, overrides,
# isolates and marks, zero-width joiners, the BOM).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control or direction-changing character shown as an escape."""
    if text.isprintable() and not _UNSAFE.search(text):
        return text
    escaped = _UNSAFE.sub(_escape, text)
    # Anything else Python thinks unprintable (other Cf/Cc/Cs/Co): escape it too.
    return "".join(
        ch
        if ch.isprintable() or unicodedata.category(ch) == "Zs" or ch == " "
        else f"\\u{ord(ch):04x}"
        for ch in escaped
    )


def printable_lines(text: str) -> str:
    """Like `printable`, but keeps the line breaks of a multi-line message."""
    return "\n".join(printable(line) for line in text.split("\n"))
