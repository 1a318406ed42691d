"""The chaos schedule with the OTLP sink: alone, or beside Trunk (odd seeds).

Reuses the harness (`invoke`, `Reference`, `allowed_exits`, the worlds and `Chaos`)
without changing it. The reference collection sends to a clean Trunk *and* a clean
OTLP receiver: its spans are the expected set, byte for byte. Under chaos the OTLP
receiver gets the same faults as Trunk (5xx, 429, drops, late and lost answers, 400s)
and the collector is SIGKILLed at random; then every promise is checked at the
receiver: no span lost, none duplicated or altered, none of an unfinished run, and the
state's ``otlp:`` records naming exactly the runs whose spans all arrived.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

from ci_collector.mapper import event_id
from tests.chaos.faults import Chaos
from tests.chaos.harness import MAX_ATTEMPTS, Reference, Tally, allowed_exits, invoke
from tests.chaos.worlds import World, open_world
from tests.servers.otlp import OtlpReceiver, running_receiver
from tests.servers.trunk import TrunkStandIn, running_trunk

FAULT_RATES = (0.25, 0.15, 0.08, 0.04)
KILL_CHANCE = 0.4
SpanKey = tuple[bytes, bytes]


def delivered_keys(state: Path, namespace: str) -> set[str]:
    if not state.exists():
        return set()
    with closing(sqlite3.connect(state)) as db:
        rows = db.execute("SELECT run_key FROM delivered").fetchall()
    keys = {row[0] for row in rows}
    if namespace:
        return {key.removeprefix(namespace) for key in keys if key.startswith(namespace)}
    return {key for key in keys if not key.startswith(("otlp:", "store:"))}


def span_keys(reference: Reference) -> dict[str, SpanKey]:
    """The span each reference event becomes: (trace id from its chain, span id from its id)."""
    found: dict[str, SpanKey] = {}
    for eid, raw in reference.events.items():
        chain = json.loads(raw)["chainId"]
        found[eid] = (uuid.UUID(chain).bytes, uuid.UUID(eid).bytes[:8])
    return found


def run_otlp_schedule(seed: int, platform: str, work: Path) -> Tally:
    rng = random.Random(seed)
    with_trunk = seed % 2 == 1
    tally = Tally(seed, f"{platform}+otlp" + ("+trunk" if with_trunk else ""))
    batch = rng.choice((1, 2, 3, 5, 100))
    with (
        open_world(platform, rng) as world,
        running_trunk() as clean,
        running_receiver(api_key=None) as clean_otlp,
        running_trunk() as trunk,
        running_receiver(api_key=None) as otlp,
    ):
        world.env["CI_COLLECTOR_OTLP_BATCH_SIZE"] = str(batch * 3)
        world.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = clean_otlp.url
        code, stderr = invoke(world, clean, work / "reference.sqlite", work, batch, label="ref")
        assert code == 0, f"reference collection failed ({code}): {stderr}"
        reference = Reference(clean, _runs(work / "reference.sqlite"))
        spans = span_keys(reference)
        assert set(spans.values()) == set(clean_otlp.spans), "reference: OTLP != Trunk"
        expected = dict(clean_otlp.spans)
        tally.events_expected = len(expected)
        baseline = len(world.server.requests) + clean.posts + clean_otlp.posts

        world.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
        if not with_trunk:
            world.args = [*world.args, "--trunk-token", ""]
        chaos = Chaos(random.Random(rng.random()), world.deleter)
        world.server.intercept = chaos.platform(github=platform == "github")
        trunk.server.intercept = chaos.trunk()
        otlp.server.intercept = chaos.trunk()
        state = work / "state.sqlite"
        for attempt in range(MAX_ATTEMPTS):
            rate = FAULT_RATES[attempt] if attempt < len(FAULT_RATES) else 0.0
            kill = attempt < 3 and rng.random() < KILL_CHANCE
            kill_at = rng.randint(1, baseline) if kill else None
            invocation = chaos.begin(0.0 if kill else rate, kill_at, rng.random() < 0.5)
            code, stderr = invoke(world, trunk, state, work, batch, chaos, label=str(attempt))
            chaos.quiet()
            tally.invocations += 1
            tally.kills += invocation.killed
            tally.exits[code] += 1
            tally.faults.update(invocation.faults)
            allowed = allowed_exits(invocation)
            if code not in allowed:
                tally.problems.append(
                    f"attempt {attempt}: exit {code} after {dict(invocation.faults)} "
                    f"(killed={invocation.killed}); allowed {sorted(allowed)}: {stderr[-1500:]}"
                )
            if "Traceback" in stderr:
                tally.problems.append(f"attempt {attempt}: traceback: {stderr[-3000:]}")
            _check_state(reference, spans, otlp, state, tally, f"attempt {attempt}")
            if with_trunk:
                _check_trunk_state(reference, trunk, state, tally, f"attempt {attempt}")
            if code == 0:
                break
        else:
            tally.problems.append(f"no success in {MAX_ATTEMPTS} attempts")
        final, stderr = invoke(world, trunk, state, work, batch, label="settle")
        if final != 0:
            tally.problems.append(f"settling poll exited {final}: {stderr[-1500:]}")
        _check_final(world, reference, spans, expected, otlp, state, tally)
        if with_trunk:
            missing = set(reference.events) - set(trunk.events)
            missing -= {eid for eid, key in reference.owner.items() if key in world.deleted}
            if missing or trunk.conflicts:
                tally.problems.append(f"Trunk beside OTLP: {len(missing)} events lost")
        tally.deleted_runs = len(world.deleted)
    return tally


def _runs(state: Path) -> dict[str, int]:
    """Run attempts of the reference state (Trunk's namespace) and their event counts."""
    with closing(sqlite3.connect(state)) as db:
        rows = db.execute("SELECT run_key, events FROM delivered").fetchall()
    return {key: count for key, count in rows if not key.startswith(("otlp:", "store:"))}


def _check_state(
    reference: Reference,
    spans: dict[str, SpanKey],
    otlp: OtlpReceiver,
    state: Path,
    tally: Tally,
    when: str,
) -> None:
    """Never recorded as delivered to OTLP before the receiver had every span of the run."""
    for key in delivered_keys(state, "otlp:"):
        if key not in reference.runs:
            tally.problems.append(f"{when}: otlp state names an unknown run {key}")
            continue
        missing = {spans[eid] for eid in reference.by_run[key]} - set(otlp.spans)
        if missing:
            tally.problems.append(f"{when}: {key} marked sent to OTLP, {len(missing)} spans absent")


def _check_trunk_state(
    reference: Reference, trunk: TrunkStandIn, state: Path, tally: Tally, when: str
) -> None:
    for key in delivered_keys(state, ""):
        if reference.by_run.get(key, set()) - set(trunk.events):
            tally.problems.append(f"{when}: {key} marked delivered to Trunk, events absent")


def _check_final(
    world: World,
    reference: Reference,
    spans: dict[str, SpanKey],
    expected: dict[SpanKey, bytes],
    otlp: OtlpReceiver,
    state: Path,
    tally: Tally,
) -> None:
    received = set(otlp.spans)
    optional = {spans[eid] for eid, key in reference.owner.items() if key in world.deleted}
    lost = set(expected) - optional - received
    unknown = received - set(expected)
    tally.lost = len(lost)
    tally.duplicated = len(otlp.conflicts) + len(unknown)
    tally.resent = sum(count - 1 for count in otlp.deliveries.values())
    if lost:
        tally.problems.append(f"lost {len(lost)} spans")
    if unknown:
        tally.problems.append(f"{len(unknown)} spans the receiver should never have had")
    if otlp.conflicts:
        tally.problems.append(f"re-sent with other content: {len(otlp.conflicts)} spans")
    altered = [key for key in received & set(expected) if otlp.spans[key] != expected[key]]
    if altered:
        tally.problems.append(f"{len(altered)} spans differ from the reference")
    for key in world.unfinished:
        root = event_id(key)
        if (uuid.UUID(root).bytes, uuid.UUID(root).bytes[:8]) in received:
            tally.problems.append(f"a span of unfinished run {key} was sent")
    delivered = delivered_keys(state, "otlp:")
    by_run = {key: {spans[eid] for eid in ids} for key, ids in reference.by_run.items()}
    complete = {key for key, ids in by_run.items() if ids <= received}
    if delivered != complete - (world.deleted - delivered):
        tally.problems.append(
            f"otlp state disagrees with the receiver: delivered-only "
            f"{sorted(delivered - complete)}, received-only "
            f"{sorted(complete - delivered - world.deleted)}"
        )
