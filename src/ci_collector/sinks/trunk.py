"""The uploader: POST request bodies to Trunk's trackEvents endpoint, politely and safely.

Retries are safe because event ids are deterministic: a body re-sent after a lost
answer updates the same events instead of adding new ones.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from .. import __version__
from ..posting import Answer, Poster, TransportFailure
from ..retry import RETRYABLE_STATUS, RetryClock, retry_after
from ..tls import tls_context
from ..unreachable import untrusted_certificate
from .base import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_EVENTS,
    Batch,
    BatchingSink,
    BodyRefused,
    BodyTooLarge,
)

log = logging.getLogger(__name__)

DEFAULT_TRUNK_URL = "https://api.trunk.io"
TRACK_EVENTS_PATH = "/v1/metrics/trackEvents"


class TrunkRefused(RuntimeError):
    """Trunk refused the uploader itself (not one body): retrying cannot help."""


class TokenRejected(TrunkRefused):
    """Trunk answered 401/403: nothing more can be delivered with this token."""

    def __init__(self) -> None:
        super().__init__("Trunk rejected the API token (TRUNK_API_TOKEN)")


class DeliveryFailed(RuntimeError):
    """Trunk could not be reached (or kept failing) within the retry budget."""


class TrunkSink(BatchingSink):
    """Batches per repo, retries with backoff and jitter, dead-letters what Trunk refuses."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_TRUNK_URL,
        *,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        dead_letter_path: str | Path = "ci-collector-dead-letters.jsonl",
        timeout: float = 30.0,
        retry_budget: float = 300.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        verify: bool | ssl.SSLContext = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(batch_events, batch_bytes)
        context = verify if isinstance(verify, ssl.SSLContext) else partial(tls_context, verify)
        self._poster = Poster(
            base_url.rstrip("/") + TRACK_EVENTS_PATH,
            timeout=timeout,
            ssl_context=context,  # built only for an https URL
            headers={
                "x-api-token": token,
                "x-source": f"ci-collector/{__version__}",
                "Content-Type": "application/json",
                "User-Agent": f"ci-collector/{__version__}",
            },
        )
        self.url = self._poster.url
        self.dead_letter_path = Path(dead_letter_path)
        self.retry_budget = retry_budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep

    def close(self) -> None:
        self._poster.close()

    def _deliver(self, batch: Batch) -> bool:
        body, events = batch.body(), len(batch.events)
        clock = RetryClock(self.retry_budget, self.backoff_base, self.backoff_cap, self._sleep)
        while True:
            clock.start_attempt()
            self.stats.requests += 1
            try:
                response = self._poster.post(body)
            except TransportFailure as exc:  # timeouts, resets, refused connections
                reason = untrusted_certificate(exc)
                if reason is not None:  # waiting will not make the certificate trusted
                    raise TrunkRefused(
                        f"the TLS certificate of Trunk at {self.url} was not accepted ({reason}); "
                        "pass its CA with --trunk-ca-bundle (--insecure is for the CI platform)"
                    ) from None
                problem, wait = exc.problem, None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    impostor = not_trunk(response)
                    if impostor is not None:  # a login page or proxy took the body, not Trunk
                        raise TrunkRefused(
                            f"{self.url} answered HTTP {status} with {impostor}, not Trunk's "
                            "answer: nothing was marked delivered; check --trunk-url and proxies"
                        )
                    return True
                if status in (401, 403):
                    raise TokenRejected()
                if status == 413 and events > 1:
                    raise BodyTooLarge()
                if 300 <= status < 400:
                    where = response.headers.get("location", "nowhere")
                    raise TrunkRefused(
                        f"{self.url} answered HTTP {status} (redirect to {where[:120]}), "
                        "not Trunk's answer: nothing was marked delivered; check --trunk-url"
                    )
                if status not in RETRYABLE_STATUS:
                    if status == 404:
                        raise TrunkRefused(f"Trunk answered 404 for {self.url}: check --trunk-url")
                    raise BodyRefused(status, response.text)
                problem, wait = f"HTTP {status}", retry_after(response.headers)
            if clock.pause("Trunk upload", problem, wait) is None:
                raise DeliveryFailed(
                    f"Trunk still failing after {clock.attempts} attempts ({problem}); "
                    "nothing was marked delivered, run again later"
                )
            self.stats.retries += 1

    def _refused(self, batch: Batch, refusal: BodyRefused) -> None:
        self._dead_letter(batch.body(), refusal.status, refusal.message)

    def _dead_letter(self, body: bytes, status: int, message: str) -> None:
        """Keep a refused body, with Trunk's reason, where a person can find and replay it."""
        record = {"status": status, "error": message[:4000], "body": json.loads(body)}
        self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letter_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        log.error(
            "Trunk refused a body of %s (HTTP %d: %s); saved to %s",
            _count(body),
            status,
            message[:200].strip() or "no message",
            self.dead_letter_path,
        )


def not_trunk(response: Answer) -> str | None:
    """What answered, when a 2xx is not Trunk's: None for Trunk's own answer.

    Trunk answers 200 with an empty body or a JSON object (``../shared/trunk-api.md``
    documents no more). An HTML page, plain text, or JSON that is not an object or
    that carries an error is a login page, a captive proxy or another service: the
    events did not reach Trunk, so they must not be marked delivered.
    """
    text = response.content.strip()
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not text:
        return None
    if "html" in kind or text[:1] == b"<":
        return f"an HTML page ({_title(response.text) or kind or 'no content type'})"
    try:
        answer = json.loads(text)
    except ValueError:
        return f"a {kind or 'non-JSON'} body that is not JSON ({_snippet(response.text)})"
    if not isinstance(answer, dict):
        return f"JSON that is not an object ({_snippet(response.text)})"
    if answer.get("error") or answer.get("errors") or answer.get("ok") is False:
        return f"JSON carrying an error ({_snippet(response.text)})"
    return None


def _title(html: str) -> str:
    start = html.lower().find("<title>")
    end = html.lower().find("</title>")
    return " ".join(html[start + 7 : end].split())[:80] if 0 <= start < end else ""


def _snippet(text: str) -> str:
    return " ".join(text.split())[:80]


def _count(body: bytes) -> str:
    events = body.count(b'"chainId":')
    return f"{events} events"
