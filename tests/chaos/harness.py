"""One chaos schedule: a reference collection, then the same collection under faults and
SIGKILLs, re-run until it succeeds, then every promise checked at the Trunk side.

The reference runs the real CLI against the same stand-in with no faults, into its own
Trunk stand-in and state file: its events are the expected set (byte for byte), and
its state names every run attempt, so each event can be traced to the run it belongs to.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci_collector.mapper import event_id
from tests.chaos.faults import TIMEOUT, TRANSIENT, Chaos, Invocation
from tests.chaos.worlds import World, open_world
from tests.conftest import ROOT
from tests.servers.trunk import TOKEN, TrunkStandIn, running_trunk

MAX_ATTEMPTS = 8
FAULT_RATES = (0.25, 0.15, 0.08, 0.04)
"""Per-request fault probability of attempt 1, 2, ...; later attempts run clean."""
KILL_CHANCE = 0.4
"""Chance that an attempt (of the first three) is SIGKILLed at a random request."""
RETRY_SECONDS = "1.5"


@dataclass
class Tally:
    """What a schedule did and found, for the session summary."""

    seed: int
    platform: str
    invocations: int = 0
    kills: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    exits: Counter[int] = field(default_factory=Counter)
    events_expected: int = 0
    lost: int = 0
    duplicated: int = 0
    resent: int = 0
    deleted_runs: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "platform": self.platform,
            "invocations": self.invocations,
            "kills": self.kills,
            "faults": dict(self.faults),
            "exits": {str(k): v for k, v in self.exits.items()},
            "events_expected": self.events_expected,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "resent": self.resent,
            "deleted_runs": self.deleted_runs,
            "problems": self.problems,
        }


def cli_env(world: World) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("TRUNK_", "GITHUB_", "JENKINS_", "CIRCLECI_", "CI_COLLECTOR_", "OTEL_")
        )
    }
    env.update(PYTHONPATH=str(ROOT / "src"), TRUNK_API_TOKEN=TOKEN, **world.env)
    return env


def invoke(
    world: World,
    trunk: TrunkStandIn,
    state: Path,
    work: Path,
    batch: int,
    chaos: Chaos | None = None,
    label: str = "",
) -> tuple[int, str]:
    """The real CLI in a subprocess; `chaos` learns its pid so it can SIGKILL it."""
    args = [
        *world.args,
        "--trunk-url",
        trunk.url,
        "--state",
        str(state),
        "--timeout",
        str(TIMEOUT),
        "--retry-seconds",
        RETRY_SECONDS,
        "--batch-size",
        str(batch),
        "--dead-letter",
        str(work / "dead-letters.jsonl"),
    ]
    log = work / f"stderr-{label}.txt"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ci_collector", *args],
            env=cli_env(world),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        if chaos is not None:
            chaos.pid = process.pid
        try:
            code = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -999
    return code, log.read_text(errors="replace")


def delivered_keys(state: Path) -> dict[str, int]:
    if not state.exists():
        return {}
    with closing(sqlite3.connect(state)) as db:
        return dict(db.execute("SELECT run_key, events FROM delivered").fetchall())


class Reference:
    """The expected events, and which run attempt each belongs to."""

    def __init__(self, trunk: TrunkStandIn, runs: dict[str, int]) -> None:
        self.events = dict(trunk.events)
        self.runs = runs
        roots = {event_id(key): key for key in runs}
        parents = {eid: _parent(raw) for eid, raw in self.events.items()}
        self.owner: dict[str, str] = {}
        for eid in self.events:
            node: str | None = eid
            while node is not None and node not in roots:
                node = parents.get(node)
            assert node is not None, f"event {eid} belongs to no delivered run"
            self.owner[eid] = roots[node]
        self.by_run: dict[str, set[str]] = {key: set() for key in runs}
        for eid, key in self.owner.items():
            self.by_run[key].add(eid)
        for key, count in runs.items():
            assert len(self.by_run[key]) == count, f"{key}: {count} events in the state"


def _difference(got: bytes, expected: bytes) -> str:
    """The top-level fields (and tags) that differ, for the failure message."""
    a, b = json.loads(got), json.loads(expected)
    fields = [
        f"{k}: {a.get(k)!r} != {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if k != "payload" and a.get(k) != b.get(k)
    ]
    tags_a = {t["k"]: t["v"] for t in a.get("payload", {}).get("tags", [])}
    tags_b = {t["k"]: t["v"] for t in b.get("payload", {}).get("tags", [])}
    fields += [
        f"tag {k}: {tags_a.get(k)!r} != {tags_b.get(k)!r}"
        for k in sorted(set(tags_a) | set(tags_b))
        if tags_a.get(k) != tags_b.get(k)
    ]
    return "; ".join(fields) or "payload"


def _parent(raw: bytes) -> str | None:
    parent = json.loads(raw).get("parent")
    return parent["eventId"] if isinstance(parent, dict) else None


def allowed_exits(invocation: Invocation) -> set[int]:
    """Exit codes that are honest about what this invocation went through.

    0 is always possible (retries absorb transient faults; a deleted run is a warning),
    except after Trunk refused a body; 75 needs a transient fault (rate limit, 5xx,
    drop, timeout) that outlasted the budget; 1 needs a dead letter or a broken body.
    """
    collector = {k for k in invocation.faults if not k.startswith("trunk ")}
    uploader = {k.removeprefix("trunk ") for k in invocation.faults if k.startswith("trunk ")}
    allowed = {0}
    if invocation.killed:
        allowed.add(-9)
    if (collector | uploader) & TRANSIENT:
        allowed.add(75)
    if "http_400" in uploader:
        allowed = (allowed - {0}) | {1}
    if "truncated" in collector:
        allowed.add(1)
    return allowed


def run_schedule(seed: int, platform: str, work: Path) -> Tally:
    rng = random.Random(seed)
    tally = Tally(seed, platform)
    batch = rng.choice((1, 2, 3, 5, 100))
    with open_world(platform, rng) as world, running_trunk() as clean, running_trunk() as trunk:
        code, stderr = invoke(
            world, clean, work / "reference.sqlite", work, batch, label="reference"
        )
        assert code == 0, f"reference collection failed ({code}): {stderr}"
        reference = Reference(clean, delivered_keys(work / "reference.sqlite"))
        baseline = len(world.server.requests) + clean.posts
        tally.events_expected = len(reference.events)

        chaos = Chaos(random.Random(rng.random()), world.deleter)
        world.server.intercept = chaos.platform(github=platform == "github")
        trunk.server.intercept = chaos.trunk()
        state = work / "state.sqlite"
        for attempt in range(MAX_ATTEMPTS):
            rate = FAULT_RATES[attempt] if attempt < len(FAULT_RATES) else 0.0
            kill = attempt < 3 and rng.random() < KILL_CHANCE
            # a killed attempt suffers nothing else, so it lives long enough to be killed
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
            check_state(reference, trunk, state, tally, f"attempt {attempt}")
            if code == 0:
                break
        else:
            tally.problems.append(f"no success in {MAX_ATTEMPTS} attempts")
        # one more poll, as cron would run it: anything still missing is lost for good
        final, stderr = invoke(world, trunk, state, work, batch, label="settle")
        if final != 0:
            tally.problems.append(f"settling poll exited {final}: {stderr[-1500:]}")
        check_final(world, reference, trunk, state, tally)
        tally.deleted_runs = len(world.deleted)
    return tally


def check_state(
    reference: Reference, trunk: TrunkStandIn, state: Path, tally: Tally, when: str
) -> None:
    """Never marked delivered before Trunk had the whole chain."""
    for key in delivered_keys(state):
        missing = reference.by_run.get(key, set()) - set(trunk.events)
        if key not in reference.runs:
            tally.problems.append(f"{when}: state names an unknown run {key}")
        elif missing:
            tally.problems.append(
                f"{when}: {key} marked delivered, {len(missing)} events not at Trunk"
            )


def check_final(
    world: World, reference: Reference, trunk: TrunkStandIn, state: Path, tally: Tally
) -> None:
    received = set(trunk.events)
    optional = {eid for eid, key in reference.owner.items() if key in world.deleted}
    required = set(reference.events) - optional
    lost = required - received
    unknown = received - set(reference.events)
    tally.lost = len(lost)
    tally.duplicated = len(trunk.conflicts) + len(unknown)
    tally.resent = sum(count - 1 for count in trunk.deliveries.values())
    if lost:
        owners = sorted({reference.owner[eid] for eid in lost})
        tally.problems.append(f"lost {len(lost)} events of {owners}")
    if unknown:
        tally.problems.append(f"{len(unknown)} events Trunk should never have had")
    if trunk.conflicts:
        tally.problems.append(f"re-sent with other content: {trunk.conflicts[:5]}")
    for eid in received & set(reference.events):
        if trunk.events[eid] != reference.events[eid]:
            difference = _difference(trunk.events[eid], reference.events[eid])
            tally.problems.append(
                f"event {eid} of {reference.owner[eid]} differs from the reference: {difference}"
            )
    for key in world.unfinished:
        if event_id(key) in received:
            tally.problems.append(f"an event of unfinished run {key} was sent")
    delivered = set(delivered_keys(state))
    complete = {key for key, ids in reference.by_run.items() if ids <= received}
    if delivered != complete - (world.deleted - delivered):
        tally.problems.append(
            f"state disagrees with Trunk: delivered-only {sorted(delivered - complete)}, "
            f"at-Trunk-only {sorted(complete - delivered - world.deleted)}"
        )
