"""Latency mode: the stand-ins answer every request D ms late, as real APIs do.

    python benchmarks/latency.py                       # 100 and 300 ms, 1 repeat
    python benchmarks/latency.py --delay 100 --repeats 3
    python benchmarks/latency.py --only circleci --collector-src ../wt-before/src --no-bodies

On loopback a request costs ~0.5 ms, so a collector that waits for each answer before
asking the next question looks fast; at GitHub's real 150-400 ms it is not. For each
delay this measures, in the same run and against the same servers:

- a backfill (GitHub: N runs x 5 jobs; Jenkins: N Pipeline builds, 1 in 4 parallel;
  CircleCI: N pipelines x 2 workflows x 4 jobs) and an idle poll (GitHub: 200 repositories
  under ``--org``, every page answered 304; Jenkins: the job's one list request; CircleCI:
  the pipeline pages and every workflow list within the 3-day lookback: all N pipelines);
- the floor: a bare httpx loop sending exactly the GETs the collector sent, 8 in flight,
  in any order. For GitHub the floor is the slower of that loop and the request count at
  14 requests a second (GitHub's 900 points a minute);
- requests per run attempt / build / pipeline (counted by the servers), and whether the
  dry-run bodies at the default concurrency are byte-identical to ``CI_COLLECTOR_CONCURRENCY=1``.

``--collector-src DIR`` runs the CLI from another checkout's ``src`` (the "before" figures)
while the servers, the floor and this harness stay the same.

Times are wall clock on a shared machine: ratios measured in the same run are what to
compare. Prints a table; ``--json`` writes the figures too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src"), str(HERE.parent)]

import httpx  # noqa: E402
from circleci_history import CircleCIShape  # noqa: E402
from history import GitHubShape, JenkinsShape  # noqa: E402
from run import (  # noqa: E402
    DAY_MS,
    JENKINS_START_MS,
    Servers,
    clean_env,
    cli,
    counted,
    github_cli,
    run_child,
    servers,
    trunk_args,
)

from ci_collector.times import ms_to_iso  # noqa: E402
from tests.servers.circleci import API_PREFIX  # noqa: E402
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN  # noqa: E402

GITHUB_RATE = 14.0
IN_FLIGHT = 8
ORG = "latorg"
CIRCLECI_SLUG = "gh/latency/pipelines"
PLATFORMS = ("github", "jenkins", "circleci")
COLLECTOR_SRC: Path | None = None
"""Where the CLI's ``ci_collector`` comes from (``--collector-src``); None: this checkout."""
CHECK_BODIES = True
"""False (``--no-bodies``): skip the concurrency-8-vs-1 comparison (a sequential collector)."""


@dataclass
class Row:
    delay_ms: int
    what: str
    seconds: list[float]
    floor: list[float]
    requests: int
    per_unit: float | None
    identical: bool | None

    @property
    def ratio(self) -> float:
        return min(self.seconds) / min(self.floor)


def bare_loop(base: str, paths: list[str]) -> float:
    """Seconds for a bare httpx client to GET `paths`, `IN_FLIGHT` at a time.

    A subprocess, like the collector, so both pay interpreter start-up.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(paths))
        listing.flush()
        return run_child([sys.executable, __file__, "--bare", base, listing.name]).seconds


def _bare(base: str, paths: list[str]) -> float:
    async def go() -> float:
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        gate = asyncio.Semaphore(IN_FLIGHT)
        async with httpx.AsyncClient(base_url=base, limits=limits) as client:

            async def one(path: str) -> None:
                async with gate:
                    (await client.get(path)).raise_for_status()

            began = time.perf_counter()
            await asyncio.gather(*(one(p) for p in paths))
            return time.perf_counter() - began

    return asyncio.run(go())


def env_with(concurrency: int | None = None) -> dict[str, str]:
    """The CLI's environment: clean, the CircleCI stand-in's token, the chosen ``src``."""
    env = clean_env()
    # run.py's figures are unpaced (they measure the client's work); here the real default
    # is measured: GitHub paced at 14 requests a second, as the floor assumes.
    env.pop("CI_COLLECTOR_GITHUB_MAX_RATE", None)
    env["CIRCLECI_TOKEN"] = CIRCLECI_TOKEN
    if COLLECTOR_SRC is not None:
        env["PYTHONPATH"] = str(COLLECTOR_SRC)
    if concurrency is not None:
        env["CI_COLLECTOR_CONCURRENCY"] = str(concurrency)
    return env


def identical_bodies(args: list[str], work: Path, name: str) -> bool | None:
    """Dry-run bodies at the default concurrency == at concurrency 1, byte for byte."""
    if not CHECK_BODIES:
        return None
    outputs = []
    for concurrency in (1, None):
        out = work / f"{name}-{concurrency}.jsonl"
        run_child([*args, "--output", str(out)], env=env_with(concurrency))
        outputs.append(out.read_bytes())
    return outputs[0] == outputs[1] and len(outputs[0]) > 0


def timed_backfills(
    srv: Servers,
    platform: str,
    base: list[str],
    name: str,
    repeats: int,
    work: Path,
    check: Callable[[dict[str, int]], None] | None = None,
) -> tuple[list[float], list[float], dict[str, int]]:
    """Each repeat from fresh servers: the backfill to Trunk, timed, then the bare loop over
    the GETs it sent. Times, floors and the last repeat's request counts."""
    took: list[float] = []
    floors: list[float] = []
    counts: dict[str, int] = {}
    for attempt in range(repeats):
        srv.reset(platform, srv.trunk)
        done = run_child([*base, *trunk_args(srv, work, f"{name}-{attempt}")], env=env_with())
        took.append(done.seconds)
        counts, paths = srv.counts(platform), srv.paths(platform)
        if check is not None:
            check(counts)
        floors.append(bare_loop(platform, paths))
    return took, floors, counts


def github_backfill(srv: Servers, shape: GitHubShape, delay: int, repeats: int, work: Path) -> Row:
    took, floors, counts = [], [], {}
    for attempt in range(repeats):
        srv.reset(srv.github, srv.trunk)
        args = github_cli(srv, shape, *trunk_args(srv, work, f"ghl{delay}-{attempt}"))
        took.append(run_child(args, env=env_with()).seconds)
        counts, paths = srv.counts(srv.github), srv.paths(srv.github)
        floors.append(max(bare_loop(srv.github, paths), len(paths) / GITHUB_RATE))
    same = identical_bodies(github_cli(srv, shape), work, f"gh{delay}")
    total = counted(counts)
    return Row(
        delay, f"GitHub backfill, {shape.runs} runs", took, floors, total, total / shape.runs, same
    )


def github_org_poll(srv: Servers, repos: int, delay: int, repeats: int, work: Path) -> Row:
    args = cli(
        "github", "--org", ORG, "--github-api-url", srv.github, "-q", *trunk_args(srv, work, "org")
    )
    run_child(args, env=env_with())  # the first poll delivers; the timed ones find nothing new
    took, floors, total = [], [], 0
    for _ in range(repeats):
        srv.reset(srv.github)
        took.append(run_child(args, env=env_with()).seconds)
        paths = srv.paths(srv.github)
        total = len(paths)
        floors.append(max(bare_loop(srv.github, paths), total / GITHUB_RATE))
    return Row(delay, f"GitHub idle poll, --org of {repos} repos", took, floors, total, None, None)


def jenkins_backfill(
    srv: Servers, shape: JenkinsShape, delay: int, repeats: int, work: Path
) -> Row:
    base = cli("jenkins", "--url", srv.jenkins, "--job", shape.job, "-q")
    took, floors, counts = timed_backfills(srv, srv.jenkins, base, f"jl{delay}", repeats, work)
    same = identical_bodies(base, work, f"jk{delay}")
    total = sum(counts.values())
    return Row(
        delay,
        f"Jenkins backfill, {shape.builds} builds (1 in 4 parallel)",
        took,
        floors,
        total,
        total / shape.builds,
        same,
    )


def jenkins_poll(srv: Servers, shape: JenkinsShape, delay: int, repeats: int, work: Path) -> Row:
    args = cli("jenkins", "--url", srv.jenkins, "--job", shape.job, "-q")
    args += trunk_args(srv, work, f"jp{delay}")
    run_child(args, env=env_with())
    took, floors, total = [], [], 0
    for _ in range(repeats):
        srv.reset(srv.jenkins)
        took.append(run_child(args, env=env_with()).seconds)
        paths = srv.paths(srv.jenkins)
        total = len(paths)
        floors.append(bare_loop(srv.jenkins, paths))
    return Row(delay, "Jenkins idle poll, 1 job", took, floors, total, None, None)


def circleci_args(srv: Servers, *extra: str) -> list[str]:
    api = srv.circleci + API_PREFIX
    return cli("circleci", "--project-slug", CIRCLECI_SLUG, "--circleci-api-url", api, *extra)


def circleci_backfill(
    srv: Servers, shape: CircleCIShape, delay: int, repeats: int, work: Path
) -> Row:
    """Every pipeline since the history's start: pages, then per pipeline its workflow
    list, then per workflow its job list (no job details: every job has its times)."""
    since = shape.start_ms - shape.start_ms % 60_000
    base = circleci_args(srv, "--since", ms_to_iso(since), "-q")

    def all_delivered(counts: dict[str, int]) -> None:
        events = srv.received().get("events")
        if events != shape.runs * (1 + shape.jobs):
            raise RuntimeError(f"CircleCI backfill delivered {events} events: {counts}")

    took, floors, counts = timed_backfills(
        srv, srv.circleci, base, f"cl{delay}", repeats, work, all_delivered
    )
    same = identical_bodies(base, work, f"cc{delay}")
    total = sum(counts.values())
    what = (
        f"CircleCI backfill, {shape.pipelines} pipelines x {shape.workflows} workflows "
        f"x {shape.jobs} jobs"
    )
    return Row(delay, what, took, floors, total, total / shape.pipelines, same)


def circleci_poll(srv: Servers, shape: CircleCIShape, delay: int, repeats: int, work: Path) -> Row:
    """Nothing new, yet every pipeline within the cursor's 3-day lookback has its workflow
    list read again (CircleCI has no ETags, and a re-run adds a workflow to an old one)."""
    args = circleci_args(srv, "-q", *trunk_args(srv, work, f"cp{delay}"))
    run_child(args, env=env_with())  # the first poll (7 days back) delivers everything
    took, floors, total = [], [], 0
    for _ in range(repeats):
        srv.reset(srv.circleci, srv.trunk)
        took.append(run_child(args, env=env_with()).seconds)
        if srv.received().get("events"):
            raise RuntimeError("the CircleCI idle poll sent events: it was not idle")
        paths = srv.paths(srv.circleci)
        total = len(paths)
        floors.append(bare_loop(srv.circleci, paths))
    what = f"CircleCI idle poll, 1 project ({shape.pipelines} pipelines in the lookback)"
    return Row(delay, what, took, floors, total, total / shape.pipelines, None)


def circleci_shape(pipelines: int, now: datetime) -> CircleCIShape:
    """Pipelines up to an hour ago, all within 2 days: a first poll (7 days) finds them
    all, and an idle poll's 3-day lookback re-lists them all."""
    spacing = min(20 * 60_000, 2 * DAY_MS // pipelines)
    end = int((now - timedelta(hours=1)).timestamp() * 1000)
    return CircleCIShape(CIRCLECI_SLUG, pipelines, 2, 4, end - pipelines * spacing, spacing)


def measure(
    delay: int, runs: int, repos: int, repeats: int, only: tuple[str, ...] = PLATFORMS
) -> list[Row]:
    now = datetime.now(timezone.utc)
    start = int((now - timedelta(days=30)).timestamp() * 1000)
    backfill = GitHubShape("latency", "backfill", runs, 5, 10, start - start % DAY_MS, 5 * 60_000)
    recent = int((now - timedelta(hours=12)).timestamp() * 1000)
    org = [
        GitHubShape(ORG, f"repo{n:03d}", 2, 2, 3, recent, 60_000, first_id=40_000_000_000 + 10 * n)
        for n in range(repos)
    ]
    job = JenkinsShape("latency/pipeline", runs, 8, JENKINS_START_MS, parallel_every=4)
    circle = circleci_shape(runs, now)
    spec: dict[str, Any] = {"delay_ms": delay}
    if "github" in only:
        spec["github"] = [asdict(s) for s in [backfill, *org]]
    if "jenkins" in only:
        spec["jenkins"] = [asdict(job)]
    if "circleci" in only:
        spec["circleci"] = [asdict(circle)]
    rows: list[Row] = []
    with servers(spec) as srv, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "github" in only:
            rows.append(github_backfill(srv, backfill, delay, repeats, work))
            rows.append(github_org_poll(srv, repos, delay, repeats, work))
        if "jenkins" in only:
            rows.append(jenkins_backfill(srv, job, delay, repeats, work))
            rows.append(jenkins_poll(srv, job, delay, repeats, work))
        if "circleci" in only:
            rows.append(circleci_backfill(srv, circle, delay, repeats, work))
            rows.append(circleci_poll(srv, circle, delay, repeats, work))
    return rows


def show(rows: list[Row]) -> None:
    print(
        "| delay | what | collector s (min / median) | floor s (min) | ratio | requests "
        "| per run / build / pipeline | bodies identical |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        per = f"{r.per_unit:.3f}" if r.per_unit is not None else "-"
        same = "-" if r.identical is None else ("yes" if r.identical else "NO")
        print(
            f"| {r.delay_ms} ms | {r.what} | {min(r.seconds):.2f} / "
            f"{statistics.median(r.seconds):.2f} | {min(r.floor):.2f} | {r.ratio:.2f}x "
            f"| {r.requests} | {per} | {same} |"
        )


def collector_origin() -> str:
    """Which ``ci_collector`` the CLI runs (``--collector-src`` must really take effect)."""
    probe = "import ci_collector, sys; sys.stdout.write(ci_collector.__file__)"
    return run_child([sys.executable, "-c", probe], env=env_with()).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=int, action="append", help="ms (repeatable)")
    parser.add_argument(
        "--runs", type=int, default=120, help="runs / builds / pipelines to backfill"
    )
    parser.add_argument("--repos", type=int, default=200, help="repositories under --org")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--only", action="append", choices=PLATFORMS, help="these platforms (repeatable)"
    )
    parser.add_argument(
        "--collector-src", type=Path, help="run the CLI from this src (e.g. an older checkout)"
    )
    parser.add_argument(
        "--no-bodies", action="store_true", help="skip the concurrency 8 vs 1 body comparison"
    )
    parser.add_argument("--bare", nargs=2, metavar=("BASE", "PATHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        _bare(args.bare[0], Path(args.bare[1]).read_text().split())
        return 0
    global COLLECTOR_SRC, CHECK_BODIES
    COLLECTOR_SRC = args.collector_src.resolve() if args.collector_src else None
    CHECK_BODIES = not args.no_bodies
    print(f"collector: {collector_origin()}", flush=True)
    rows: list[Row] = []
    for delay in args.delay or [100, 300]:
        rows += measure(delay, args.runs, args.repos, args.repeats, tuple(args.only or PLATFORMS))
    show(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
