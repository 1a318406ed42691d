"""Speaking to a GitHub Actions runner: workflow commands and the step summary.

Inside Actions (``GITHUB_ACTIONS=true``) a warning or an error printed as ``::warning::``
or ``::error::`` becomes an annotation on the run's page, and ``$GITHUB_STEP_SUMMARY``
is the Markdown shown under the job: the place people look, instead of the raw log.
"""

from __future__ import annotations

import contextlib
import os


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape(text: str) -> str:
    """Workflow-command data escaping: one line, and a literal ``%`` stays a ``%``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_command(level: str, message: str) -> str:
    """``::error title=ci-collector::message`` (level: error, warning or notice)."""
    return f"::{level} title=ci-collector::{_escape(message)}"


def append_summary(markdown: str) -> None:
    """Add to the step summary; silently nothing outside Actions or if it cannot be written
    (the summary is a courtesy, never a reason to fail a delivery that succeeded)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not in_actions() or not path:
        return
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as summary:
        summary.write(markdown.rstrip("\n") + "\n")
