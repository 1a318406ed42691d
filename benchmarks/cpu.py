"""Client CPU of a GitHub backfill against the bare loop, and where the collector's goes.

    python benchmarks/cpu.py                      # 1,000 runs x 5 jobs x 10 steps, 3 repeats
    python benchmarks/cpu.py --profile            # and a profile by component (py-spy)
    python benchmarks/cpu.py --src OTHER/src      # the same, for another checkout's code

Against the fast local stand-in (no latency, GitHub pacing off), in the same run:

- **bare loop**: `baseline.py`, the same GETs and POST bodies with httpx, nothing else;
- **start-up**: ``ci-collector github --help`` (interpreter, imports, click);
- **dry run**: the backfill to ``--output /dev/null`` (GETs, parsing, mapping, encoding);
- **full**: the backfill delivered to the Trunk receiver with a state file.

CPU is user + sys of the child (``wait4``); min and median of the repeats. ``--profile``
samples one more full backfill with py-spy (``pip install py-spy``; not a dependency of
the project) and charges every sample to the first component found on its stack;
`cpu_split.py` measures the same components with CPU clocks instead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src"), str(HERE.parent)]

from history import GitHubShape  # noqa: E402
from run import HERE as BENCH  # noqa: E402
from run import (  # noqa: E402
    TOKEN,
    Servers,
    Sizes,
    clean_env,
    cli,
    github_cli,
    github_shapes,
    run_child,
    servers,
    trunk_args,
)

COMPONENTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("imports and start-up", (("_find_and_load", "importlib._bootstrap>"),)),
    ("parsing JSON pages", (("loads", "ci_collector/jsonio.py"), ("loads", "json/__init__.py"))),
    ("encoding events", (("dumps", "ci_collector/jsonio.py"), ("encode", "sinks/base.py"))),
    ("GitHub GETs (client, urllib3 pool)", (("GitHubClient._send", "client.py"),)),
    ("Trunk POSTs (TrunkSink, urllib3 pool)", (("TrunkSink._deliver", "sinks/trunk.py"),)),
    ("GitHub JSON -> Run (build_run)", (("build_run", "github/mapping.py"),)),
    ("Run -> events (map_run)", (("map_run", "ci_collector/mapper.py"),)),
    ("state and ledger (SQLite)", (("Ledger.", "ledger.py"), ("State.", "state.py"))),
)
"""(function name or its prefix, file suffix) pairs marking each component's frames."""
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default="8")
    parser.add_argument("--src", type=Path, help="the ci_collector sources to measure")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="path to py-spy")
    args = parser.parse_args()
    env = clean_env()
    if args.src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env["PYTHONPATH"]])
    env["CI_COLLECTOR_CONCURRENCY"] = args.concurrency
    sizes = Sizes(args.runs, args.runs, 5, 10, 10, 10, 8, 1, 10)
    shape = github_shapes(sizes, datetime.now(timezone.utc))["backfill"]
    with (
        servers({"github": [asdict(shape)], "jenkins": []}) as srv,
        tempfile.TemporaryDirectory() as tmp,
    ):
        work = Path(tmp)
        bodies, gets = work / "bodies.jsonl", work / "gets.txt"
        srv.reset(srv.github, srv.trunk)
        run_child(github_cli(srv, shape, "--output", str(bodies)), env=env)
        gets.write_text("\n".join(srv.paths(srv.github)) + "\n")
        bare = [srv.github, srv.trunk, TOKEN]
        cpu: dict[str, list[float]] = {"bare": [], "startup": [], "dry": [], "full": []}
        for attempt in range(args.repeats):
            floor = run_child(
                [sys.executable, str(BENCH / "baseline.py"), str(gets), str(bodies), *bare]
            )
            cpu["bare"].append(floor.cpu_seconds)
            cpu["startup"].append(run_child(cli("github", "--help"), env=env).cpu_seconds)
            dry = github_cli(srv, shape, "--output", os.devnull)
            cpu["dry"].append(run_child(dry, env=env).cpu_seconds)
            cpu["full"].append(_full(srv, shape, work, f"full{attempt}", env))
        _print_cpu(cpu, args.runs)
        if args.profile:
            _profile(args.py_spy, srv, shape, work, env)
    return 0


def _full(srv: Servers, shape: GitHubShape, work: Path, name: str, env: dict[str, str]) -> float:
    srv.reset(srv.github, srv.trunk)
    return run_child(github_cli(srv, shape, *trunk_args(srv, work, name)), env=env).cpu_seconds


def _print_cpu(cpu: dict[str, list[float]], runs: int) -> None:
    print(f"client CPU, GitHub backfill of {runs} runs (s; min / median of {len(cpu['bare'])})")
    for name, values in cpu.items():
        print(f"  {name:8s} {min(values):6.2f} / {statistics.median(values):6.2f}")
    print(f"  full / bare: {min(cpu['full']) / min(cpu['bare']):.2f}x")


def _profile(
    py_spy: str | None, srv: Servers, shape: GitHubShape, work: Path, env: dict[str, str]
) -> None:
    if not py_spy:
        print("--profile needs py-spy: pip install py-spy (or pass --py-spy PATH)")
        return
    raw = work / "profile.txt"
    srv.reset(srv.github, srv.trunk)
    command = github_cli(srv, shape, *trunk_args(srv, work, "profiled"))
    sampler = [py_spy, "record", "--gil", "--rate", "250", "--format", "raw", "--output", str(raw)]
    run_child([*sampler, "--", *command], env=env)
    shares = _shares(raw.read_text().splitlines())
    total = sum(shares.values())
    print(f"where the CPU goes (py-spy, {total} samples of the thread holding the GIL)")
    for name, _ in (*COMPONENTS, ("other", ())):
        print(f"  {100 * shares[name] / total:5.1f}%  {name}")


def _shares(lines: list[str]) -> Counter[str]:
    """Each folded stack's samples go to the first component (in `COMPONENTS` order) on it."""
    shares: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [m.group("function", "file") for m in map(_FRAME.match, stack.split(";")) if m]
        owner = next(
            (
                name
                for name, marks in COMPONENTS
                if any(
                    function.startswith(mark) and file.endswith(suffix)
                    for function, file in frames
                    for mark, suffix in marks
                )
            ),
            "other",
        )
        shares[owner] += int(count)
    return shares


if __name__ == "__main__":
    sys.exit(main())
