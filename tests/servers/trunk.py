"""A strict stand-in for Trunk's trackEvents endpoint.

Every body is checked against the contract (`ci_collector.trunk`); accepted events are
kept by id, and a re-send of an id must be byte-identical to what was sent first.
Faults are injected by queueing replies in `faults` (consumed one per POST). A fault
replaces the answer and nothing is stored (``Reply(503)``, ``Reply(500, drop=True)``),
except a 200 fault with `delay` or `drop`: the body is accepted and stored, then the answer
comes late or never (the uploader cannot know its events arrived, so it sends them again).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from ci_collector.trunk_contract import body_problems

from .base import LoopbackServer, Reply, Request

TOKEN = "trunk-test-token-0123456789"
PATH = "/v1/metrics/trackEvents"


class TrunkStandIn:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.faults: list[Reply] = []
        self.events: dict[str, bytes] = {}
        self.bodies: list[dict[str, object]] = []
        self.deliveries: Counter[str] = Counter()
        self.conflicts: list[str] = []
        self.rejected: list[list[str]] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def posts(self) -> int:
        return sum(1 for request in self.server.requests if request.method == "POST")

    def _handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != PATH:
            return Reply(404, b'{"error":"not found"}')
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None and fault.status != 200:
            return fault
        reply = self._accept(request)
        if fault is not None:
            reply.delay, reply.drop = fault.delay, fault.drop
        return reply

    def _accept(self, request: Request) -> Reply:
        if request.headers.get("x-api-token") != self.token:
            return Reply(401, b'{"error":"unauthorized"}')
        if request.headers.get("content-type") != "application/json":
            return Reply(400, b'{"error":"content-type must be application/json"}')
        problems = body_problems(request.body)
        if problems:
            with self._lock:
                self.rejected.append(problems)
            return Reply(400, json.dumps({"error": problems}).encode())
        body = json.loads(request.body)
        with self._lock:
            self.bodies.append(body)
            for event in body["events"]:
                encoded = json.dumps(event, sort_keys=True).encode()
                previous = self.events.setdefault(event["id"], encoded)
                if previous != encoded:
                    self.conflicts.append(event["id"])
                self.deliveries[event["id"]] += 1
        return Reply(200, b'{"ok":true}')

    def all_events(self) -> list[dict[str, object]]:
        return [json.loads(raw) for raw in self.events.values()]


@contextmanager
def running_trunk(token: str = TOKEN) -> Iterator[TrunkStandIn]:
    stand_in = TrunkStandIn(token)
    with stand_in.server:
        yield stand_in
