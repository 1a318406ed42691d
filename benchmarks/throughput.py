"""In-process rates: mapping and serialising on one core, and uploading over loopback.

Inputs are the same generated, real-shaped bodies the servers serve, parsed from JSON
first (as the collectors receive them); the timed loops then do exactly what the
collectors and the pipeline do per run, and nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from history import (
    GitHubShape,
    JenkinsShape,
    github_jobs,
    github_run,
    github_templates,
    jenkins_build,
    jenkins_templates,
)

from ci_collector.mapper import map_run
from ci_collector.model import Repo, Run
from ci_collector.sinks.base import Chain, encode
from ci_collector.sinks.otlp.encoder import chain_spans, export_request
from ci_collector.sinks.otlp.sink import OtlpSink
from ci_collector.sinks.otlp.transport import OtlpTransport
from ci_collector.sinks.trunk import TrunkSink
from ci_collector.sources.github.mapping import build_run, slim_run
from ci_collector.sources.jenkins.mapping import BuildContext, map_build
from tests.servers.jenkins import JenkinsStandIn, Job

REPO = Repo("github.com", "bench", "throughput")
SOURCE = "github:github.com/bench/throughput"


def _best(repeats: int, work: Callable[[], int]) -> float:
    """Events per second of the fastest of `repeats` passes (the least disturbed one)."""
    best = 0.0
    for _ in range(repeats):
        began = time.perf_counter()
        events = work()
        best = max(best, events / (time.perf_counter() - began))
    return best


def github_inputs(runs: int, jobs: int, steps: int) -> list[tuple[Any, list[Any]]]:
    t = github_templates()
    shape = GitHubShape("bench", "throughput", runs, jobs, steps, 1_735_689_600_000, 300_000)
    pairs = []
    for n in range(runs):
        run = github_run(t, shape, n)
        pairs.append(
            (json.loads(json.dumps(run)), json.loads(json.dumps(github_jobs(t, shape, run))))
        )
    return pairs


def jenkins_inputs(builds: int, stages: int) -> list[tuple[Any, Any, Any]]:
    t = jenkins_templates()
    shape = JenkinsShape("bench/app", builds, stages, 1_717_000_000_000, parallel_every=4)
    stand_in = JenkinsStandIn()
    job = Job(shape.job)
    triples = []
    for number in range(1, builds + 1):
        build = jenkins_build(t, shape, "http://jenkins.test", number)
        describe = stand_in._describe(job, build)
        triples.append(json.loads(json.dumps((build.body, describe, build.blue_nodes))))
    return triples


def map_rates(runs: int, jobs: int, steps: int, stages: int, repeats: int = 3) -> dict[str, float]:
    pairs = github_inputs(runs, jobs, steps)

    def github_full() -> int:
        count = 0
        for run, job_items in pairs:
            for event in map_run(build_run(REPO, slim_run(run), job_items, source=SOURCE)):
                encode(event)
                count += 1
        return count

    trees = [build_run(REPO, slim_run(run), items, source=SOURCE) for run, items in pairs]

    def map_encode() -> int:
        count = 0
        for tree in trees:
            for event in map_run(tree):
                encode(event)
                count += 1
        return count

    builds = jenkins_inputs(runs, stages)
    context = BuildContext(
        "jenkins.test", "bench/app", REPO, "jenkins:jenkins.test/bench/app", False
    )

    def jenkins_full() -> int:
        count = 0
        for build, describe, blue in builds:
            for event in map_run(map_build(build, context, describe, blue)):
                encode(event)
                count += 1
        return count

    return {
        "github_full": _best(repeats, github_full),
        "map_encode": _best(repeats, map_encode),
        "jenkins_full": _best(repeats, jenkins_full),
    }


def upload_rate(trunk_url: str, token: str, runs: int, jobs: int, steps: int) -> dict[str, float]:
    """TrunkSink over loopback: encode, batch by 100, POST, account chains."""
    chains: list[Run] = [
        build_run(REPO, slim_run(run), items, source=SOURCE)
        for run, items in github_inputs(runs, jobs, steps)
    ]
    mapped = [(run, map_run(run)) for run in chains]
    events = sum(len(e) for _, e in mapped)
    sink = TrunkSink(token, trunk_url, batch_events=100)
    httpx_warm = Chain("warm", REPO, [])
    sink.add(httpx_warm)
    began = time.perf_counter()
    delivered = 0
    for run, run_events in mapped:
        delivered += len(sink.add(Chain(run.natural_key, REPO, run_events, SOURCE, "f")))
    delivered += len(sink.flush())
    seconds = time.perf_counter() - began
    sink.close()
    assert delivered == len(mapped), "every chain must be reported delivered"
    return {"rate": events / seconds, "events": events, "seconds": seconds}


def otlp_rates(receiver_url: str, runs: int, jobs: int, steps: int) -> dict[str, float]:
    """The OTLP sink: spans/s encoded to protobuf bytes alone, and sent over loopback."""
    mapped = [
        (run.natural_key, map_run(run))
        for run in (
            build_run(REPO, slim_run(run), items, source=SOURCE)
            for run, items in github_inputs(runs, jobs, steps)
        )
    ]
    spans = sum(len(events) for _, events in mapped)

    def encode_only() -> int:
        for start in range(0, len(mapped), 10):  # ~560 spans a body, as the sink batches
            group = mapped[start : start + 10]
            export_request(
                ((REPO, chain_spans(k, REPO, e)) for k, e in group), {}
            ).SerializeToString()
        return spans

    encoded = _best(3, encode_only)
    transport = OtlpTransport(receiver_url + "/v1/traces", {})
    sink = OtlpSink(transport)
    sink.add(Chain("warm", REPO, []))
    began = time.perf_counter()
    delivered = 0
    for key, events in mapped:
        delivered += len(sink.add(Chain(key, REPO, events, SOURCE, "f")))
    delivered += len(sink.flush())
    seconds = time.perf_counter() - began
    sink.close()
    assert delivered == len(mapped), "every chain must be reported delivered"
    return {"encode": encoded, "rate": spans / seconds, "spans": spans, "seconds": seconds}
