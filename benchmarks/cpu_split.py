"""Exclusive CPU per component of one GitHub backfill, measured inside the process.

    python benchmarks/cpu_split.py                 # 1,000 runs x 5 jobs x 10 steps
    python benchmarks/cpu_split.py --src OTHER/src # another checkout's code

`cpu.py --profile` samples with py-spy, which charges a native call's time (a socket
send, a clock read) to whichever Python line made it. Here each component's entry
points are wrapped instead: a wrapper reads the thread's CPU clock (`time.thread_time`)
around the call and charges the component its CPU minus that of the components nested
in it. The backfill runs sequentially (``--concurrency 1``), so one thread does all the
work; each wrapper costs about a microsecond, charged to its caller (56,000 encodes:
~0.05 s). The same run as `cpu.py`'s "full" row, against the same stand-ins.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

COMPONENTS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("GitHub GETs (urllib3 pool)", "ci_collector.pooled", "PooledGetter", ("get",)),
    (
        "GitHub client (auth, pacing, limits)",
        "ci_collector.sources.github.session",
        "GitHubSession",
        ("get",),
    ),
    (
        "GitHub client (auth, pacing, limits)",
        "ci_collector.sources.github.client",
        "GitHubClient",
        ("get",),
    ),
    ("parsing JSON pages", "ci_collector.jsonio", None, ("loads",)),
    (
        "GitHub JSON -> Run (build_run)",
        "ci_collector.sources.github.attempts",
        None,
        ("build_run",),
    ),
    ("Run -> events (map_run)", "ci_collector.pipeline", None, ("map_run",)),
    ("encoding events", "ci_collector.sinks.base", None, ("encode",)),
    ("batching (per event)", "ci_collector.sinks.base", "BatchingSink", ("add", "flush")),
    ("Trunk POSTs", "ci_collector.sinks.trunk", "TrunkSink", ("_deliver",)),
    ("state and ledger (SQLite)", "ci_collector.state", "State", ()),
    ("state and ledger (SQLite)", "ci_collector.ledger", "Ledger", ()),
)
"""(component, module, class or None, functions; () for every method of the class)."""


class Meter:
    """Exclusive thread CPU per component: nested components' CPU is not counted twice."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._nested: list[float] = []

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def measured(*args: Any, **kwargs: Any) -> Any:
            began = time.thread_time()
            self._nested.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - began
                inner = self._nested.pop()
                self.spent[name] = self.spent.get(name, 0.0) + spent - inner
                if self._nested:
                    self._nested[-1] += spent

        return measured

    def install(self) -> None:
        for name, module_name, class_name, functions in COMPONENTS:
            module = importlib.import_module(module_name)
            owner: Any = module if class_name is None else getattr(module, class_name, None)
            if owner is None:
                continue
            names = functions or tuple(
                attribute
                for attribute, value in vars(owner).items()
                if not attribute.startswith("__") and callable(value)
            )
            for function in names:
                original = getattr(owner, function, None)
                if original is not None:
                    setattr(owner, function, self.wrap(name, original))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--src", type=Path, help="the ci_collector sources to measure")
    args = parser.parse_args()
    began = time.process_time()
    source = str(args.src.resolve()) if args.src else str(HERE.parent / "src")
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    from run import Sizes, clean_env, github_cli, github_shapes, servers, trunk_args

    # the harness imported this checkout's collector: measure `source`'s instead
    for name in [name for name in sys.modules if name.split(".")[0] == "ci_collector"]:
        del sys.modules[name]
    sys.path.insert(0, source)

    sizes = Sizes(args.runs, args.runs, 5, 10, 10, 10, 8, 1, 10)
    shape = github_shapes(sizes, datetime.now(timezone.utc))["backfill"]
    with (
        servers({"github": [asdict(shape)], "jenkins": []}) as srv,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ.clear()
        os.environ.update(clean_env())
        os.environ["CI_COLLECTOR_CONCURRENCY"] = "1"
        os.environ["CI_COLLECTOR_GITHUB_MAX_RATE"] = "0"
        command = github_cli(srv, shape, *trunk_args(srv, Path(tmp), "split"))
        started = time.process_time()
        cli = importlib.import_module("ci_collector.cli")
        assert cli.__file__ is not None and cli.__file__.startswith(source), cli.__file__
        importlib.import_module("ci_collector.commands.github")
        gcpolicy = sys.modules.get("ci_collector.gcpolicy")
        if gcpolicy is not None:  # what `cli.entry` sets up for a command-line run
            gcpolicy.batch_process()
            gcpolicy.imports_done()
        headerparse = sys.modules.get("ci_collector.headerparse")
        if headerparse is not None:
            headerparse.install()
        imports = time.process_time() - started
        meter = Meter()
        meter.install()
        started = time.process_time()
        try:
            cli.main(command[command.index("github") :])
        except SystemExit as exit:
            if exit.code not in (0, None):
                print(f"the backfill failed (exit {exit.code})")
                return 1
        total = time.process_time() - started
        received = srv.received()
    print(f"exclusive CPU of a {args.runs}-run GitHub backfill, sequential ({source})")
    print(f"  {'imports (httpx was loaded by the harness)':40s} {imports:6.2f} s")
    for name, seconds in sorted(meter.spent.items(), key=lambda item: -item[1]):
        print(f"  {name[:40]:40s} {seconds:6.2f} s  {100 * seconds / total:5.1f}%")
    other = total - sum(meter.spent.values())
    share = 100 * other / total
    print(f"  {'other (pipeline, prefetch, listing...)':40s} {other:6.2f} s  {share:5.1f}%")
    print(f"  {'the run (after imports)':40s} {total:6.2f} s; received {received}")
    print(f"  (this benchmark's own set-up: {started - began - imports:.2f} s, not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
