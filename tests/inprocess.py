"""Run ``ci_collector.cli.main(argv)`` inside the test process as if it were its own process.

Starting the CLI as a subprocess costs about 1.7 s (interpreter, imports); in-process it costs
milliseconds. What a fresh process would give the CLI is rebuilt around each call and undone
after it: the environment and working directory, its own stdin/stdout/stderr, no registered
secrets, logging as an unconfigured interpreter has it, Python's default warning filters (shown
on its stderr), the terminal size of a piped process and the default SIGTERM handler.
Exit codes and uncaught tracebacks come back the way the interpreter reports them, so a test
cannot tell the two apart except by speed.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import click

from ci_collector import retry, secrets

SERVER_THREADS = ("process_request_thread", "serve_forever")
"""Threads of the stand-in servers: what they print belongs to the test, not to the CLI."""


class _CliStream(io.TextIOBase):
    """The CLI's stdout or stderr: writes from stand-in server threads go to the test's own."""

    def __init__(self, errors: str, outside: TextIO) -> None:
        self.buffer = io.BytesIO()
        self._text = io.TextIOWrapper(
            self.buffer, encoding="utf-8", errors=errors, write_through=True
        )
        self._outside = outside

    def write(self, text: str) -> int:
        if any(name in threading.current_thread().name for name in SERVER_THREADS):
            return self._outside.write(text)
        return self._text.write(text)

    def flush(self) -> None:
        self._text.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def value(self) -> str:
        """What a parent reading a text-mode pipe sees (universal newlines)."""
        self._text.flush()
        text = self.buffer.getvalue().decode("utf-8", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")


@contextmanager
def _environment(environ: Mapping[str, str], cwd: Path | None) -> Iterator[None]:
    saved, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(environ)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _fresh_logging() -> Iterator[None]:
    """`logs.configure` replaces the root handlers and sets levels: put the test's back."""
    root, ours = logging.getLogger(), logging.getLogger("ci_collector")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    ours.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(levels[0])
        ours.setLevel(levels[1])


@contextmanager
def _fresh_secrets() -> Iterator[None]:
    saved = set(secrets._SECRETS)
    secrets._SECRETS.clear()
    try:
        yield
    finally:
        secrets._SECRETS.clear()
        secrets._SECRETS.update(saved)


@contextmanager
def _no_invocation_deadline() -> Iterator[None]:
    """A ``--deadline`` is the invocation's (a process-wide bound): it must end with it, or
    the next test's clients, in this process, would find it long passed."""
    retry.set_invocation_deadline(None)
    try:
        yield
    finally:
        retry.set_invocation_deadline(None)


@contextmanager
def _default_warnings(stderr: TextIO) -> Iterator[None]:
    """The filters of `python -m` without -W, shown on the CLI's stderr."""

    def show(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        stderr.write(warnings.formatwarning(message, category, filename, lineno))

    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
            warnings.simplefilter("ignore", category)
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = show
        yield


@contextmanager
def _default_sigterm() -> Iterator[None]:
    saved = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, saved)


def _exit_code(code: object, stderr: TextIO) -> int:
    """`sys.exit(code)` as the interpreter turns it into a process exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    stderr.write(f"{code}\n")
    return 1


def run_main(
    main: Callable[[list[str]], object],
    args: list[str],
    environ: Mapping[str, str],
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Call `main(args)` as `python -m ci_collector args` would run, with `environ` as its
    whole environment; the result looks like `subprocess.run(..., text=True)`'s."""
    stdout = _CliStream("strict", sys.stdout)
    stderr = _CliStream("backslashreplace", sys.stderr)
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_size = shutil.get_terminal_size
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("run_main swaps process-wide state: call it from the main thread")
    with (
        _environment(environ, cwd),
        _fresh_logging(),
        _fresh_secrets(),
        _no_invocation_deadline(),
        _default_sigterm(),
        _default_warnings(stderr),  # type: ignore[arg-type]
    ):
        sys.stdin = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        sys.stdout, sys.stderr = stdout, stderr  # type: ignore[assignment]
        shutil.get_terminal_size = _pipe_terminal_size  # type: ignore[assignment]
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code, stderr)  # type: ignore[arg-type]
        except Exception:
            traceback.print_exc(file=stderr)  # type: ignore[arg-type]
            code = 1
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            shutil.get_terminal_size = saved_size
            _close_stray_context()
    return subprocess.CompletedProcess(
        ["ci-collector", *args], code, stdout.value(), stderr.value()
    )


def _pipe_terminal_size(fallback: tuple[int, int] = (80, 24)) -> os.terminal_size:
    """What `shutil.get_terminal_size` says in a process whose stdout is a pipe: $COLUMNS
    and $LINES, else the fallback (never the size of the terminal pytest runs in)."""
    size = [fallback[0], fallback[1]]
    for index, name in enumerate(("COLUMNS", "LINES")):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            size[index] = int(value)
    return os.terminal_size(size)


def _close_stray_context() -> None:
    """A click context left pushed by a failed call must not leak into the next one."""
    while click.get_current_context(silent=True) is not None:
        click.globals.pop_context()
