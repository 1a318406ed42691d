"""The cyclic garbage collector's settings for a command-line run: fewer, cheaper passes.

A backfill allocates millions of small dicts and lists (an event is a dozen of them)
that reference counting frees as soon as the event is sent; almost none form cycles.
With the default thresholds the cyclic collector still ran thousands of times, and its
oldest generation kept walking the hundred thousand objects the imports left behind:
5-8% of a backfill's CPU for nothing found. A test calling `cli.main` in its own process
keeps the defaults: only the real entry points (`entry`) opt in.
"""

from __future__ import annotations

import gc

BATCH_THRESHOLDS = (20_000, 20, 50)
"""Allocations before a young collection (default 700), and the older generations' ratios."""

_settings = {"batch": False}


def batch_process() -> None:
    """This process is one command-line run: collect garbage less often."""
    _settings["batch"] = True
    gc.set_threshold(*BATCH_THRESHOLDS)


def imports_done() -> None:
    """The command's modules are loaded: they live as long as the process, so the
    collector stops walking them (`gc.freeze`). Does nothing unless `batch_process` ran."""
    if _settings["batch"]:
        gc.freeze()
