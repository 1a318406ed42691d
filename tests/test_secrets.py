"""Registered secrets are masked wherever a log record carries them."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from ci_collector import secrets
from ci_collector.logs import JsonFormatter
from ci_collector.secrets import MASK, RedactingFilter, redact

SECRET = "s3cr3t-token-value-98765"


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    secrets.register(SECRET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.secrets")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)
    log.propagate = True


def test_redact_masks_registered_values_only() -> None:
    secrets.register(SECRET, None, "", "abc")  # empty and very short values are ignored
    assert redact(f"token={SECRET}; again {SECRET}") == f"token={MASK}; again {MASK}"
    assert redact("abc and nothing else") == "abc and nothing else"


def test_secrets_in_messages_and_args_are_masked(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    log.warning(f"header x-api-token: {SECRET}")
    log.info("sending with %s to %s", SECRET, "https://api.trunk.io")
    log.debug("headers %r", {"x-api-token": SECRET})
    text = stream.getvalue()
    assert SECRET not in text
    assert text.count(MASK) == 3
    assert "to https://api.trunk.io" in text


def test_secrets_in_exception_text_are_masked(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    try:
        raise RuntimeError(f"request failed with token {SECRET}")
    except RuntimeError:
        log.exception("upload failed")
    text = stream.getvalue()
    assert "RuntimeError: request failed with token ***" in text
    assert "Traceback" in text
    assert SECRET not in text


def test_json_logs_are_masked_too() -> None:
    secrets.register(SECRET)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad %s", (SECRET,), None)
    try:
        raise ValueError(SECRET)
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == f"bad {MASK}"
    assert SECRET not in json.dumps(entry)
    assert f"ValueError: {MASK}" in entry["exception"]
