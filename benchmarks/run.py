"""ci-collector's benchmarks: API budget, throughput, memory. See docs/benchmarks.md.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # under a minute; what CI runs

Prints a table and writes ``benchmarks/results.json``. Exits 1 when a request-count
target is missed (those are deterministic); wall-clock and memory targets fail the
full run only, never ``--quick`` (CI machines are too noisy for them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402
from history import GitHubShape, JenkinsShape  # noqa: E402
from serve import TOKEN  # noqa: E402
from throughput import map_rates, otlp_rates, upload_rate  # noqa: E402

DAY_MS = 86_400_000
BACKFILL_START = datetime(2025, 1, 1, tzinfo=timezone.utc)
JENKINS_START_MS = 1_717_000_000_000


@dataclass(frozen=True)
class Sizes:
    backfill_runs: int
    large_runs: int
    jobs: int
    steps: int
    poll_runs: int
    jenkins_builds: int
    jenkins_stages: int
    repeats: int
    throughput_runs: int


FULL = Sizes(2_000, 20_000, 5, 10, 500, 1_000, 8, 3, 2_000)
QUICK = Sizes(200, 2_000, 5, 10, 100, 200, 8, 1, 300)


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: str
    ok: bool | None
    deterministic: bool
    note: str = ""


# ---- helpers -----------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """The user's environment minus anything that would configure the collector."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRUNK_", "GITHUB_", "JENKINS_", "CIRCLECI_", "CI_COLLECTOR_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    # The local stand-in answers in well under a millisecond: unpaced (as for a GitHub
    # Enterprise server without rate limits), so the figures measure the client's work.
    # The pacing itself is measured by latency.py.
    env["CI_COLLECTOR_GITHUB_MAX_RATE"] = "0"
    return env


@dataclass
class Finished:
    seconds: float
    max_rss_mb: float
    cpu_seconds: float
    stdout: str
    stderr: str


def run_child(args: list[str], env: dict[str, str] | None = None, check: bool = True) -> Finished:
    """Run a command, timing it; a ``-m MODULE`` command also reports its own peak RSS.

    The module runs under `peak_rss.py`, which reads the process's ``VmHWM``: ``wait4``'s
    ``ru_maxrss`` would include this (large) benchmark process's RSS at fork time.
    """
    began = time.perf_counter()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rss") as peak,
    ):
        if args[1:2] == ["-m"]:
            args = [args[0], str(HERE / "peak_rss.py"), peak.name, *args[2:]]
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env or clean_env(), cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        rss = float(peak.read() or usage.ru_maxrss / 1024)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... exited {proc.returncode}:\n{stderr[-3000:]}")
    return Finished(seconds, rss, usage.ru_utime + usage.ru_stime, stdout, stderr)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ci_collector", *args]


@dataclass
class Servers:
    github: str
    jenkins: str
    trunk: str
    templates: str
    circleci: str = ""

    def counts(self, base: str) -> dict[str, int]:
        return dict(httpx.get(f"{base}/_bench/counts").json())

    def paths(self, base: str) -> list[str]:
        return list(httpx.get(f"{base}/_bench/paths").json())

    def reset(self, *bases: str) -> None:
        for base in bases:
            httpx.get(f"{base}/_bench/reset")

    def received(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.trunk}/_bench/counts").json())


@contextmanager
def servers(spec: dict[str, Any]) -> Iterator[Servers]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "serve.py"), json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark servers did not start")
        yield Servers(**json.loads(line))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def github_shapes(sizes: Sizes, now: datetime) -> dict[str, GitHubShape]:
    start = int(BACKFILL_START.timestamp() * 1000)
    poll_start = int((now - timedelta(days=2)).timestamp() * 1000)
    return {
        "backfill": GitHubShape(
            "bench", "backfill", sizes.backfill_runs, sizes.jobs, sizes.steps, start, 5 * 60_000
        ),
        "large": GitHubShape(
            "bench", "large", sizes.large_runs, sizes.jobs, sizes.steps, start, 5 * 60_000
        ),
        "poll": GitHubShape(
            "bench",
            "poll",
            sizes.poll_runs,
            sizes.jobs,
            sizes.steps,
            poll_start,
            DAY_MS // sizes.poll_runs,
        ),
    }


def jenkins_shapes(sizes: Sizes) -> dict[str, JenkinsShape]:
    return {
        "serial": JenkinsShape(
            "bench/app", sizes.jenkins_builds, sizes.jenkins_stages, JENKINS_START_MS
        ),
        "mixed": JenkinsShape(
            "bench/matrix",
            sizes.jenkins_builds // 2,
            sizes.jenkins_stages,
            JENKINS_START_MS,
            parallel_every=4,
        ),
    }


def window(shape: GitHubShape) -> tuple[str, str]:
    """--since/--until covering the history, on whole days (the same URLs every time)."""
    since = shape.start_ms - shape.start_ms % DAY_MS
    until = shape.end_ms - shape.end_ms % DAY_MS + DAY_MS
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return (
        datetime.fromtimestamp(since / 1000, timezone.utc).strftime(iso),
        datetime.fromtimestamp(until / 1000, timezone.utc).strftime(iso),
    )


def github_cli(srv: Servers, shape: GitHubShape, *extra: str, backfill: bool = True) -> list[str]:
    args = ["github", "--repo", f"{shape.owner}/{shape.name}", "--github-api-url", srv.github, "-q"]
    if backfill:
        since, until = window(shape)
        args += ["--since", since, "--until", until]
    return cli(*args, *extra)


def trunk_args(srv: Servers, work: Path, name: str) -> list[str]:
    return [
        "--trunk-url",
        srv.trunk,
        "--trunk-token",
        TOKEN,
        "--state",
        str(work / f"{name}.sqlite"),
        "--dead-letter",
        str(work / f"{name}-dead.jsonl"),
    ]


def counted(counts: dict[str, int]) -> int:
    return sum(n for kind, n in counts.items() if not kind.endswith("_304"))


# ---- the benchmarks --------------------------------------------------------------------


def github_backfill(
    srv: Servers, shape: GitHubShape, repeats: int, work: Path
) -> tuple[list[Figure], list[float]]:
    """Requests per attempt, and the end-to-end time against the httpx floor."""
    bodies = work / "bodies.jsonl"
    srv.reset(srv.github, srv.trunk)
    run_child(github_cli(srv, shape, "--output", str(bodies)))  # warm-up: renders every URL
    gets = work / "gets.txt"
    gets.write_text("\n".join(srv.paths(srv.github)) + "\n")
    floor: list[float] = []
    took: list[float] = []
    rss: list[float] = []
    cpu: list[float] = []
    floor_cpu: list[float] = []
    counts: dict[str, int] = {}
    received: dict[str, int] = {}
    for attempt in range(repeats):
        base = run_child(
            [
                sys.executable,
                str(HERE / "baseline.py"),
                str(gets),
                str(bodies),
                srv.github,
                srv.trunk,
                TOKEN,
            ]
        )
        floor.append(base.seconds)
        floor_cpu.append(base.cpu_seconds)
        srv.reset(srv.github, srv.trunk)
        done = run_child(github_cli(srv, shape, *trunk_args(srv, work, f"gh{attempt}")))
        took.append(done.seconds)
        cpu.append(done.cpu_seconds)
        rss.append(done.max_rss_mb)
        counts, received = srv.counts(srv.github), srv.received()
    runs, events = shape.runs, shape.runs * shape.events_per_run
    per_attempt = counted(counts) / runs
    ratio = min(took) / min(floor)
    cpu_ratio = min(cpu) / min(floor_cpu)
    delivered = received.get("events") == events
    return [
        Figure(
            "GitHub requests per finished run attempt (backfill)",
            round(per_attempt, 4),
            "req/attempt",
            "<= 1.05",
            per_attempt <= 1.05 and delivered,
            True,
            f"{counts.get('list', 0)} list pages + {counts.get('jobs', 0)} jobs requests "
            f"for {runs} attempts; {received.get('events')} of {events} events received",
        ),
        Figure(
            f"end-to-end backfill, {runs} runs x {shape.jobs} jobs x {shape.steps} steps",
            round(min(took), 2),
            "s",
            "",
            None,
            False,
            f"real CLI in a subprocess, to the Trunk receiver, state file; best of {repeats}",
        ),
        Figure(
            "baseline: same GETs + same POST bodies with bare httpx",
            round(min(floor), 2),
            "s",
            "",
            None,
            False,
            f"{len(gets.read_text().split())} GETs, "
            f"{received.get('bodies')} POSTs; best of {repeats}",
        ),
        Figure(
            "end-to-end time / baseline time",
            round(ratio, 2),
            "x",
            "<= 1.5",
            ratio <= 1.5,
            False,
            f"{events / min(took):,.0f} events/s end to end",
        ),
        Figure(
            "client CPU (user + sys) / baseline client CPU",
            round(cpu_ratio, 2),
            "x",
            "<= 1.5",
            cpu_ratio <= 1.5,
            False,
            f"collector {min(cpu):.2f}s, bare httpx {min(floor_cpu):.2f}s (best of {repeats}; "
            "the collector also parses, maps and encodes every event)",
        ),
    ], rss


def github_poll(srv: Servers, shape: GitHubShape, work: Path) -> list[Figure]:
    """A poll with nothing new: only 304s, which GitHub does not count."""
    args = github_cli(srv, shape, *trunk_args(srv, work, "poll"), backfill=False)
    srv.reset(srv.github)
    run_child(args)
    first = srv.counts(srv.github)
    srv.reset(srv.github)
    run_child(args)
    again = srv.counts(srv.github)
    cost = counted(again)
    return [
        Figure(
            "GitHub repeated poll, nothing new: requests counted by the rate limit",
            cost,
            "req",
            "= 0",
            cost == 0,
            True,
            f"first poll {json.dumps(first)}; repeated {json.dumps(again)}",
        )
    ]


def jenkins(srv: Servers, shapes: dict[str, JenkinsShape], work: Path) -> list[Figure]:
    figures = []
    serial, mixed = shapes["serial"], shapes["mixed"]
    args = cli(
        "jenkins",
        "--url",
        srv.jenkins,
        "--job",
        serial.job,
        "-q",
        *trunk_args(srv, work, "jenkins"),
    )
    srv.reset(srv.jenkins, srv.trunk)
    run_child(args)
    first = srv.counts(srv.jenkins)
    per_build = sum(first.values()) / serial.builds
    figures.append(
        Figure(
            "Jenkins requests per finished Pipeline build, no parallel stages",
            round(per_build, 4),
            "req/build",
            "<= 1.05",
            per_build <= 1.05,
            True,
            f"{json.dumps(first)} for {serial.builds} builds of {serial.stages} stages",
        )
    )
    srv.reset(srv.jenkins)
    run_child(args)
    again = srv.counts(srv.jenkins)
    figures.append(
        Figure(
            "Jenkins repeated poll, nothing new: requests",
            sum(again.values()),
            "req",
            "1 per job (+ crumb)",
            again == {"crumb": 1, "builds": 1},
            True,
            f"{json.dumps(again)}: one tree= list request per job; Jenkins has no rate limit "
            "and no ETags on api/json",
        )
    )
    srv.reset(srv.jenkins)
    run_child(
        cli(
            "jenkins",
            "--url",
            srv.jenkins,
            "--job",
            mixed.job,
            "-q",
            "--output",
            str(work / "mixed.jsonl"),
        )
    )
    mixed_counts = srv.counts(srv.jenkins)
    parallel = sum(1 for n in range(1, mixed.builds + 1) if mixed.parallel(n))
    pages = mixed.builds // 100 + 1  # a full page makes the collector ask for the next
    expected = 1 + pages + mixed.builds + parallel
    figures.append(
        Figure(
            "Jenkins requests per build, 1 in 4 with parallel stages",
            round(sum(mixed_counts.values()) / mixed.builds, 4),
            "req/build",
            f"= {expected / mixed.builds:.4f} (1 Blue Ocean graph per parallel build)",
            sum(mixed_counts.values()) == expected,
            True,
            json.dumps(mixed_counts),
        )
    )
    return figures


def memory(
    srv: Servers, small: GitHubShape, small_rss: float, large: GitHubShape, work: Path
) -> list[Figure]:
    srv.reset(srv.github, srv.trunk)
    done = run_child(github_cli(srv, large, *trunk_args(srv, work, "large")))
    received = srv.received()
    expected = large.runs * large.events_per_run
    state_mb = (work / "large.sqlite").stat().st_size / 2**20
    with sqlite3.connect(work / "large.sqlite") as db:
        etag_mb = db.execute("SELECT total(length(body)) FROM etags").fetchone()[0] / 2**20
    growth = done.max_rss_mb / small_rss
    return [
        Figure(
            f"peak RSS, {small.runs}-run backfill",
            round(small_rss, 1),
            "MB",
            "",
            None,
            False,
            "the timed end-to-end run above",
        ),
        Figure(
            f"peak RSS, {large.runs}-run backfill",
            round(done.max_rss_mb, 1),
            "MB",
            "<= 150",
            done.max_rss_mb <= 150,
            False,
            f"{received.get('events')} of {expected} events received in "
            f"{done.seconds:.1f}s; state file {state_mb:.1f} MB on disk, of which "
            f"{etag_mb:.1f} MB compressed list pages kept for ETags",
        ),
        Figure(
            f"peak RSS growth, {large.runs} vs {small.runs} runs",
            round(growth, 3),
            "x",
            "<= 1.2",
            growth <= 1.2,
            False,
            "streaming: memory must not grow with history",
        ),
    ]


def throughput(srv: Servers, sizes: Sizes) -> list[Figure]:
    rates = map_rates(sizes.throughput_runs, sizes.jobs, sizes.steps, sizes.jenkins_stages)
    srv.reset(srv.trunk)
    upload = upload_rate(srv.trunk, TOKEN, sizes.throughput_runs, sizes.jobs, sizes.steps)
    received = srv.received()
    figures = [
        Figure(
            "map + serialise, GitHub JSON -> Run -> events -> bytes",
            round(rates["github_full"]),
            "events/s",
            ">= 50,000",
            rates["github_full"] >= 50_000,
            False,
            "build_run + map_run + encode, one core, parsed bodies in",
        ),
        Figure(
            "map + serialise, Jenkins JSON -> Run -> events -> bytes",
            round(rates["jenkins_full"]),
            "events/s",
            ">= 50,000",
            rates["jenkins_full"] >= 50_000,
            False,
            "map_build + map_run + encode",
        ),
        Figure(
            "map_run + encode alone",
            round(rates["map_encode"]),
            "events/s",
            "",
            None,
            False,
            "pre-built Run trees",
        ),
        Figure(
            "upload to the local receiver (TrunkSink)",
            round(upload["rate"]),
            "events/s",
            ">= 20,000",
            upload["rate"] >= 20_000 and received.get("events") == upload["events"],
            False,
            f"{upload['events']} events in {received.get('bodies')} bodies of 100 "
            "(encode + batch + POST over loopback)",
        ),
    ]
    return figures + otlp_figures(srv, sizes)


def otlp_figures(srv: Servers, sizes: Sizes) -> list[Figure]:
    """The OTLP sink beside Trunk's: the same chains, as protobuf spans."""
    srv.reset(srv.trunk)
    otlp = otlp_rates(srv.trunk, sizes.throughput_runs, sizes.jobs, sizes.steps)
    received = srv.received()
    return [
        Figure(
            "OTLP encode alone (events -> spans -> protobuf bytes)",
            round(otlp["encode"]),
            "spans/s",
            "",
            None,
            False,
            "chain_spans + export_request + SerializeToString, one core",
        ),
        Figure(
            "upload to the local receiver (OtlpSink)",
            round(otlp["rate"]),
            "spans/s",
            ">= 20,000",
            otlp["rate"] >= 20_000 and received.get("events") == otlp["spans"],
            False,
            f"{otlp['spans']} spans in {received.get('bodies')} bodies of 512 "
            "(encode + batch + POST over loopback, receiver decodes)",
        ),
    ]


def report_timing(quick: bool) -> list[Figure]:
    """The report's own benchmark, when `benchmarks/report_bench.py` exists."""
    script = HERE / "report_bench.py"
    if not script.exists():
        return []
    runs = 10_000 if quick else 100_000
    done = run_child([sys.executable, str(script), "--runs", str(runs)], check=False)
    values = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    seconds = float(values.get("report_seconds", "nan"))
    sink_rate = float(values.get("store_sink_events_per_second", "nan"))
    return [
        Figure(
            f"ci-collector report over {runs:,} runs",
            seconds,
            "s",
            "< 2",
            seconds < 2,
            False,
            f"report_bench.py: {values}",
        ),
        Figure(
            "local store sink (StoreSink) write rate",
            round(sink_rate),
            "events/s",
            "",
            None,
            False,
            "report_bench.py",
        ),
    ]


# ---- output ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_table(figures: list[Figure], quick: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ci-collector benchmarks ({'quick' if quick else 'full'})")
    for column in ("figure", "measured", "target", "ok"):
        table.add_column(column, justify="right" if column == "measured" else "left")
    for f in figures:
        value = (
            "-"
            if f.value is None
            else (f"{f.value:,}" if isinstance(f.value, int) else f"{f.value:,.4g}")
        )
        mark = "" if f.ok is None else ("yes" if f.ok else "NO")
        table.add_row(f.name, f"{value} {f.unit}", f.target, mark)
    Console(width=140).print(table)
    for f in figures:
        if f.note:
            print(f"- {f.name}: {f.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()
    now = datetime.now(timezone.utc)
    gh, jk = github_shapes(sizes, now), jenkins_shapes(sizes)
    spec = {"github": [asdict(s) for s in gh.values()], "jenkins": [asdict(s) for s in jk.values()]}
    figures: list[Figure] = []
    with servers(spec) as srv, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backfill, rss = github_backfill(srv, gh["backfill"], sizes.repeats, work)
        figures += backfill
        figures += github_poll(srv, gh["poll"], work)
        figures += jenkins(srv, jk, work)
        figures += throughput(srv, sizes)
        figures += memory(srv, gh["backfill"], min(rss), gh["large"], work)
    figures += report_timing(args.quick)
    elapsed = time.perf_counter() - began
    print_table(figures, args.quick)
    print(f"templates: {srv.templates}; {elapsed:.0f}s in all")
    args.results.write_text(
        json.dumps(
            {
                "mode": "quick" if args.quick else "full",
                "when": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "machine": machine(),
                "sizes": asdict(sizes),
                "templates": srv.templates,
                "seconds": round(elapsed, 1),
                "figures": [asdict(f) for f in figures],
            },
            indent=2,
        )
        + "\n"
    )
    missed = [f for f in figures if f.ok is False and (f.deterministic or not args.quick)]
    for f in missed:
        print(f"MISSED: {f.name}: {f.value} {f.unit} (target {f.target})", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
