"""The floor: the same GETs and the same POST bodies as the collector, and nothing else.

``python benchmarks/baseline.py GETS BODIES API_BASE TRUNK_URL TOKEN`` — `GETS` holds one
request path per line (as the collector sent them, in order), `BODIES` the request
bodies the collector produced (its ``--output`` file, one JSON body per line). No
parsing, mapping, validation or state: one httpx client per server, keep-alive, the
bytes in, the bytes out. Prints ``{"seconds": ..., "gets": ..., "posts": ...}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx


def main(gets: Path, bodies: Path, api: str, trunk: str, token: str) -> None:
    began = time.perf_counter()
    paths = gets.read_text().split()
    posted = 0
    with (
        httpx.Client(base_url=api) as source,
        httpx.Client(
            base_url=trunk, headers={"x-api-token": token, "Content-Type": "application/json"}
        ) as sink,
    ):
        for path in paths:
            source.get(path).raise_for_status()
        with bodies.open("rb") as lines:
            for line in lines:
                sink.post("/v1/metrics/trackEvents", content=line.rstrip(b"\n")).raise_for_status()
                posted += 1
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "gets": len(paths), "posts": posted}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
