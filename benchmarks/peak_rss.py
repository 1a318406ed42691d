"""Run ``python -m MODULE ARGS...`` in this process and write its peak RSS (MB) to a file.

    python benchmarks/peak_rss.py OUT MODULE [ARGS...]

Why not ``ru_maxrss`` from ``wait4``/``RUSAGE_CHILDREN``: Linux carries the parent's
resident set over ``fork``/``exec`` into the child's ``maxrss``, so a child started by a
benchmark process that holds 300 MB of test data reads as 300 MB. ``VmHWM`` in
``/proc/self/status`` is the high-water mark of this process's own address space.
"""

from __future__ import annotations

import resource
import runpy
import sys
from pathlib import Path


def peak_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    out, module = Path(sys.argv[1]), sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        out.write_text(f"{peak_mb():.1f}\n")


if __name__ == "__main__":
    main()
