"""The cyclic garbage collector in a command-line run: stop re-walking what imports built.

A backfill allocates millions of small dicts and lists (an event is a dozen of them).
Reference counting frees them, but every allocation counts toward the cyclic collector's
thresholds, and each pass of its oldest generation walked the hundred thousand objects
the imports left behind, finding nothing. Freezing those once the command is loaded
(`gc.freeze`) takes them out of every later pass.

The thresholds stay the default: raising them was a few percent faster when the Trunk
sink posted through httpx, but httpx leaves each request and response in a reference
cycle that holds the 70 kB body (a 2,000-run backfill peaked at 102 MB instead of 74 MB),
and the OTLP sink still posts through httpx. Collection is now about 0.1 s of a
1,000-run backfill.
A test calling `cli.main` in its own process is left alone: only the real entry points
(`cli.entry`) opt in.
"""

from __future__ import annotations

import gc

_settings = {"batch": False}


def batch_process() -> None:
    """This process is one command-line run (the console script, ``python -m``)."""
    _settings["batch"] = True


def imports_done() -> None:
    """The command's modules are loaded and live as long as the process: freeze them.
    Does nothing unless `batch_process` ran."""
    if _settings["batch"]:
        gc.freeze()
