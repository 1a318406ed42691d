"""Options every collecting command shares, and the run loop behind them.

Every option also reads an environment variable: tokens by their conventional names
(``TRUNK_API_TOKEN``...), everything else as ``CI_COLLECTOR_<OPTION>``.
"""

from __future__ import annotations

import logging
import sqlite3
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import actions, gcpolicy, pipeline, secrets
from ..errors import EXIT_PARTIAL, CollectorError, ComeBackLater, RemoteError, UserError
from ..pipeline import RunSource, SkipPolicy, Summary
from ..progress import Progress
from ..retry import set_invocation_deadline
from ..sinks import DeliveryFailed, Sink, StoreSink, TeeSink, TrunkRefused
from ..sinks.base import SinkStats
from ..sinks.jsonl import OutputFailed
from ..sinks.otlp.config import OTLP_NAMESPACE, OtlpSettings
from ..sinks.trunk import DEFAULT_TRUNK_URL
from ..state import LOCK_MAX_AGE_SECONDS, State, StateBusy, default_state_path, state_failure
from ..transport import DEADLINE_PER_TIMEOUT, DEFAULT_MAX_BODY_MB
from .files import check_writable, write_failed
from .otlp_options import otlp_options, pop_otlp_settings
from .params import Seconds, configure_logging, logging_options
from .sink_choice import build_sink
from .trunk_config import (
    Refused,
    check_dead_letter_path,
    check_trunk_url,
    dead_letter_path,
    resolve_trunk,
)

log = logging.getLogger("ci_collector")
F = TypeVar("F", bound=Callable[..., Any])


def delivery_options(func: F) -> F:
    """Where events go and how: Trunk, a dry-run file, batching, state, failure policy."""
    options = [
        click.option(
            "--trunk-token",
            envvar="TRUNK_API_TOKEN",
            metavar="TOKEN",
            help="Trunk organisation API token [env TRUNK_API_TOKEN; prefer the env var: "
            "a flag's value shows in `ps`].",
        ),
        click.option(
            "--trunk-url",
            envvar="TRUNK_API_URL",
            default=DEFAULT_TRUNK_URL,
            show_default=True,
            help="Trunk API base URL [env TRUNK_API_URL].",
        ),
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, allow_dash=True),
            envvar="CI_COLLECTOR_OUTPUT",
            help="Dry run: write request bodies as JSON lines here ('-' for stdout) "
            "instead of sending them. Ignores and keeps the state.",
        ),
        click.option(
            "--store",
            is_flag=True,
            envvar="CI_COLLECTOR_STORE",
            help="Also keep what is sent to Trunk in the local store (the state "
            "file) for `ci-collector report`; without a token it is the default.",
        ),
        click.option(
            "--state",
            "state_path",
            type=click.Path(dir_okay=False),
            envvar="CI_COLLECTOR_STATE",
            help=f"State file [env CI_COLLECTOR_STATE; default {default_state_path()}].",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1, 1000),
            default=100,
            show_default=True,
            envvar="CI_COLLECTOR_BATCH_SIZE",
            help="Events per request to Trunk.",
        ),
        click.option(
            "--dead-letter",
            type=click.Path(dir_okay=False),
            envvar="CI_COLLECTOR_DEAD_LETTER",
            help="Where bodies Trunk refused (HTTP 400) are kept, with its answer "
            "[default: next to the state file, STATE.dead-letters.jsonl].",
        ),
        click.option(
            "--retry-seconds",
            type=Seconds(0),
            default=300.0,
            show_default=True,
            envvar="CI_COLLECTOR_RETRY_SECONDS",
            help="Give up retrying an upload after this long (exit 75).",
        ),
        click.option(
            "--timeout",
            type=Seconds(0.1, 3600),
            default=30.0,
            show_default=True,
            envvar="CI_COLLECTOR_TIMEOUT",
            help="Seconds an HTTP connect or read may wait; a whole request (a server "
            f"trickling its answer) ends after {DEADLINE_PER_TIMEOUT}x this.",
        ),
        click.option(
            "--deadline",
            type=Seconds(1),
            default=21600.0,
            show_default=True,
            envvar="CI_COLLECTOR_DEADLINE",
            help="Seconds this invocation may spend on HTTP, waits included; then it exits "
            "75 (what was delivered is recorded).",
        ),
        click.option(
            "--max-body",
            type=click.FloatRange(0.001, 4096),
            default=DEFAULT_MAX_BODY_MB,
            show_default=True,
            envvar="CI_COLLECTOR_MAX_BODY",
            metavar="MB",
            help="Largest HTTP answer read from a platform, in MB; a larger one ends the "
            "command with one line.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            envvar="CI_COLLECTOR_INSECURE",
            help="Do not verify the CI platform's TLS certificate (prints a warning). "
            "Trunk is still verified: see --trunk-ca-bundle.",
        ),
        click.option(
            "--trunk-ca-bundle",
            type=click.Path(dir_okay=False, exists=True),
            envvar="CI_COLLECTOR_TRUNK_CA_BUNDLE",
            help="Verify Trunk (or the proxy in front of it) with these CA certificates (PEM).",
        ),
        click.option(
            "--trunk-insecure",
            is_flag=True,
            envvar="CI_COLLECTOR_TRUNK_INSECURE",
            help="Do not verify Trunk's TLS certificate: the token goes to whoever answers. "
            "Prefer --trunk-ca-bundle.",
        ),
        click.option(
            "--max-lock-age",
            type=click.FloatRange(1),
            default=LOCK_MAX_AGE_SECONDS,
            show_default=True,
            envvar="CI_COLLECTOR_MAX_LOCK_AGE",
            help="Seconds: a state lock held longer than this is reported as stuck (exit 1); "
            "a younger one is a neighbour still at work (exit 0).",
        ),
        click.option(
            "--fail-fast",
            is_flag=True,
            envvar="CI_COLLECTOR_FAIL_FAST",
            help="Stop at the first run that cannot be collected or mapped.",
        ),
        click.option(
            "--wait",
            is_flag=True,
            envvar="CI_COLLECTOR_WAIT",
            help="If another ci-collector holds the state lock, wait for it instead of exiting.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return logging_options(otlp_options(func))


@dataclass(frozen=True)
class DeliveryConfig:
    trunk_token: str | None
    trunk_url: str
    output: str | None
    state_path: str | None
    batch_size: int
    dead_letter: str | None
    retry_seconds: float
    timeout: float
    insecure: bool
    fail_fast: bool
    wait: bool
    store: bool = False
    deadline: float | None = None
    max_body: float = DEFAULT_MAX_BODY_MB
    output_format: str = "jsonl"
    otlp: OtlpSettings | None = None
    trunk_ca_bundle: str | None = None
    trunk_insecure: bool = False
    max_lock_age: float = LOCK_MAX_AGE_SECONDS

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> DeliveryConfig:
        """Pop the shared options out of a command's keyword arguments."""
        configure_logging(options)
        otlp = pop_otlp_settings(options)
        names = [name for name in cls.__dataclass_fields__ if name != "otlp" and name in options]
        values = {name: options.pop(name) for name in names}
        values["trunk_token"] = secrets.clean_token("TRUNK_API_TOKEN", values["trunk_token"])
        values["trunk_url"] = check_trunk_url(values["trunk_url"])
        config = cls(**values, otlp=otlp)
        if config.output_format != "jsonl" and config.output is None:
            raise UserError("--format applies to --output (a dry run); add --output FILE")
        check_writable(config.output, "--output")
        otlp_on = config.otlp is not None and config.otlp.enabled
        no_token = not (config.trunk_token or "").strip()
        if config.output is None and not config.store and no_token and not otlp_on:
            _refuse_throwaway_store()
        set_invocation_deadline(config.deadline)
        if config.insecure:
            log.warning("TLS certificate verification is OFF (--insecure)")
        if config.trunk_insecure and config.sends_to_trunk:
            log.warning(
                "TLS verification for Trunk is OFF (--trunk-insecure): the Trunk token "
                "goes to whoever answers at %s",
                config.trunk_url,
            )
        return config

    @property
    def sends_to_trunk(self) -> bool:
        return bool(self.trunk_token) and not self.dry_run

    def trunk_verify(self) -> bool | ssl.SSLContext:
        if self.trunk_insecure:
            return False
        if self.trunk_ca_bundle:
            try:
                return ssl.create_default_context(cafile=self.trunk_ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise UserError(f"--trunk-ca-bundle {self.trunk_ca_bundle}: {exc}") from None
        return True

    @property
    def dry_run(self) -> bool:
        return self.output is not None


def _refuse_throwaway_store() -> None:
    """Inside GitHub Actions a local store dies with the runner: no token, nothing kept."""
    if actions.in_actions():
        raise UserError(
            "no Trunk token in GitHub Actions: set TRUNK_API_TOKEN (the action's "
            "trunk-token input); events stored on a runner are thrown away. For a "
            "dry run use --output FILE, to keep a local store anyway use --store"
        )


STORE_NAMESPACE = "store:"


def state_path(config: DeliveryConfig) -> Path:
    return Path(config.state_path) if config.state_path else default_state_path()


def open_state(config: DeliveryConfig) -> State:
    """The user's state file, or a throwaway one for a dry run (so it is repeatable)."""
    if config.dry_run:
        return State(":memory:")
    # Only-local runs are remembered apart from Trunk deliveries: a token added later
    # still sends everything the local store already has. OTLP has its own namespace
    # too; with several destinations the pipeline tells the state all of them.
    return State(state_path(config), namespace=_first_namespace(config))


def _first_namespace(config: DeliveryConfig) -> str:
    """The namespace of the run's first destination: Trunk, else OTLP, else the store."""
    if config.trunk_token:
        return ""
    return OTLP_NAMESPACE if config.otlp is not None and config.otlp.enabled else STORE_NAMESPACE


def collect(
    config: DeliveryConfig,
    source: RunSource,
    on_done: Callable[[SinkStats], None] | None = None,
) -> int:
    """Lock the state, run one poll of `source` through the pipeline, print its summary.

    `on_done` gets the sink's counts however the delivery ended (what was accepted).
    """
    try:
        return _collect(config, source, on_done)
    except sqlite3.Error as exc:  # busy for long, full, corrupted: one line, its exit code
        raise state_failure(state_path(config), exc) from None


def _collect(
    config: DeliveryConfig,
    source: RunSource,
    on_done: Callable[[SinkStats], None] | None,
) -> int:
    if config.sends_to_trunk:
        resolve_trunk(config.trunk_url)
        check_dead_letter_path(dead_letter_path(config), default=not config.dead_letter)
    gcpolicy.imports_done()
    with open_state(config) as state:
        if not config.dry_run:
            try:
                state.lock(wait=config.wait)
            except StateBusy as exc:
                if exc.age is not None and exc.age > config.max_lock_age:
                    raise RemoteError(
                        f"{exc}: longer than a poll should take (--max-lock-age "
                        f"{config.max_lock_age:g}s); is that process stuck?"
                    ) from None
                click.echo(f"ci-collector: {exc}; exiting (use --wait to queue)", err=True)
                return 0
        refused = Refused(state)
        try:
            sink = build_sink(config, state.path, refused)
        except OSError as exc:
            raise write_failed("--output", str(config.output), exc) from None
        summary = Summary()
        try:
            with Progress(
                "collecting",
                interactive=_interactive(config),
                position=lambda: getattr(source, "position", None),
            ) as progress:
                pipeline.run(
                    source,
                    state,
                    sink,
                    SkipPolicy(config.fail_fast),
                    on_progress=progress,
                    summary=summary,
                )
        except TrunkRefused as exc:
            raise RemoteError(str(exc)) from None
        except DeliveryFailed as exc:
            raise ComeBackLater(str(exc)) from None
        except OutputFailed as exc:
            raise write_failed("--output", str(config.output), exc.cause) from None
        except CollectorError:
            if summary.delivered_runs:  # stopped early (a rate limit): say what got through
                report(summary, sink, config)
            raise
        finally:
            try:
                sink.close()
            except OSError as exc:
                raise write_failed("--output", str(config.output), exc) from None
            finally:
                if on_done is not None:
                    on_done(sink.stats)
        report(summary, sink, config)
        refused.report()
        if summary.exit_code == 0 and sink.stats.refused_bodies:
            log.warning(
                "Trunk answered HTTP 400 to %d bodies, then accepted every chain of them once "
                "split: nothing was dead-lettered, but a refusal that goes away is worth a look",
                sink.stats.refused_bodies,
            )
            return EXIT_PARTIAL
        return summary.exit_code


def _interactive(config: DeliveryConfig) -> bool:
    return sys.stderr.isatty() and config.output != "-" and log.getEffectiveLevel() <= logging.INFO


def report(summary: Summary, sink: Sink, config: DeliveryConfig) -> None:
    verb = "wrote" if config.dry_run else "stored" if isinstance(sink, StoreSink) else "sent"
    members = sink.sinks if isinstance(sink, TeeSink) else (sink,)
    unit = getattr(members[0], "unit", "events")  # an OTLP sink counts spans
    requests = sum(member.stats.requests for member in members)
    refused = sum(member.stats.dead_lettered_events for member in members)
    line = (
        f"{verb} {sink.stats.events_sent} {unit} of {summary.delivered_runs} runs "
        f"in {requests} requests"
    )
    if any(isinstance(member, StoreSink) for member in members):
        line += f"; local store {state_path(config)} (see `ci-collector report`)"
    if summary.skipped:
        line += f"; {len(summary.skipped)} runs skipped (see warnings)"
    if refused and config.otlp is not None and config.otlp.enabled:
        line += f"; {refused} refused (see errors for where they are kept)"
    elif refused:
        line += f"; {refused} events refused by Trunk, kept in {dead_letter_path(config)}"
    log.info("%s", line)
    actions.append_summary(f"### ci-collector\n\n{line}\n")
    if config.output == "-":
        sys.stdout.flush()
