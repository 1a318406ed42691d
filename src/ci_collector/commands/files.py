"""Files a command will write are checked before it fetches anything.

A typo in ``--output`` or a ``$GITHUB_OUTPUT`` in a missing directory must cost one line at
start, not a traceback after ten minutes of collecting (or after the events were sent).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from ..errors import CollectorError, UserError


def check_writable(path: str | None, option: str) -> None:
    """Refuse (exit 2, one line) a path this command could not create or append to.

    Probes by opening for append, which creates nothing new that it does not remove again:
    only a real open tells a read-only mount, a missing directory or ``/proc`` apart.
    """
    if path is None or path == "-":
        return
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise UserError(f"{option} {path}: is a directory")
    if not parent.exists():
        raise UserError(f"{option} {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is not a directory")
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    if not existed:
        with contextlib.suppress(OSError):
            os.unlink(target)


def write_failed(option: str, path: str, exc: OSError) -> CollectorError:
    """A write that failed midway (a full disk): one line, exit 1."""
    reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
    return CollectorError(f"{option} {path}: {reason}")
