"""``ci-collector dead-letter``: the chains Trunk kept refusing, and what to do about them.

A chain refused in several polls in a row is quarantined in the state file (it is no
longer re-sent on every poll). Here a person lists them, replays them once the cause
is fixed (re-sends the kept events, or releases them to be collected again), or drops
them for good.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .. import secrets
from ..errors import ComeBackLater, RemoteError, UserError
from ..model import Repo
from ..refusals import Refusal
from ..sinks import DeliveryFailed, TrunkRefused, TrunkSink
from ..sinks.base import Chain
from ..sinks.trunk import DEFAULT_TRUNK_URL
from ..state import State, default_state_path
from .common import DeliveryConfig
from .params import configure_logging, logging_options
from .state import state_option
from .trunk_config import (
    check_dead_letter_path,
    check_trunk_url,
    dead_letter_path,
    resolve_trunk,
)


@click.group("dead-letter")
def dead_letter() -> None:
    """Chains Trunk refused (HTTP 400) poll after poll: list, replay or drop them."""


def _open(state_path: str | None) -> State:
    return State(state_path or default_state_path())


def _select(db: State, run_keys: tuple[str, ...], every: bool) -> list[Refusal]:
    held = [record for record in db.refusals() if record.quarantine == "held"]
    if every:
        return held
    if not run_keys:
        raise UserError("name the chains (RUN_KEY as `dead-letter list` prints it) or pass --all")
    by_key = {record.run_key: record for record in held}
    missing = [key for key in run_keys if key not in by_key]
    if missing:
        raise UserError(
            f"not a quarantined chain: {missing[0]} (see `ci-collector dead-letter list`)"
        )
    return [by_key[key] for key in run_keys]


@dead_letter.command("list")
@state_option
@click.option(
    "--all", "show_all", is_flag=True, help="Also chains still retried, and dropped ones."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_chains(state_path: str | None, show_all: bool, as_json: bool) -> int:
    """Quarantined chains: key, polls refused, Trunk's answer."""
    with _open(state_path) as db:
        rows = db.refusals(with_dropped=show_all)
    if not show_all:
        rows = [row for row in rows if row.quarantine == "held"]
    if as_json:
        fields = ("run_key", "source", "polls", "status", "error", "first_refused")
        click.echo(
            json.dumps(
                [
                    {name: getattr(row, name) for name in fields}
                    | {"quarantine": row.quarantine or "retrying"}
                    for row in rows
                ],
                indent=2,
            )
        )
        return 0
    if not rows:
        click.echo("no quarantined chains")
    for row in rows:
        reason = " ".join(row.error.split())[:160] or "no message"
        click.echo(
            f"{row.run_key}\t{row.quarantine or 'retrying'}\trefused in {row.polls} polls "
            f"(last {row.last_refused})\tHTTP {row.status}: {reason}"
        )
    return 0


@dead_letter.command()
@click.argument("run_keys", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every quarantined chain.")
@click.option(
    "--recollect",
    is_flag=True,
    help="Do not re-send the kept events: release the chains, so the next poll collects "
    "and maps them again (after a collector upgrade), if they are still in its window.",
)
@state_option
@click.option(
    "--trunk-token",
    envvar="TRUNK_API_TOKEN",
    metavar="TOKEN",
    help="Trunk organisation API token [env TRUNK_API_TOKEN; prefer the env var].",
)
@click.option("--trunk-url", envvar="TRUNK_API_URL", default=DEFAULT_TRUNK_URL, show_default=True)
@click.option(
    "--trunk-ca-bundle",
    type=click.Path(dir_okay=False, exists=True),
    envvar="CI_COLLECTOR_TRUNK_CA_BUNDLE",
)
@click.option("--trunk-insecure", is_flag=True, envvar="CI_COLLECTOR_TRUNK_INSECURE")
@click.option("--dead-letter", envvar="CI_COLLECTOR_DEAD_LETTER", type=click.Path(dir_okay=False))
@click.option("--timeout", type=click.FloatRange(0.1), default=30.0, envvar="CI_COLLECTOR_TIMEOUT")
@click.option(
    "--retry-seconds", type=click.FloatRange(0), default=300.0, envvar="CI_COLLECTOR_RETRY_SECONDS"
)
@logging_options
def replay(run_keys: tuple[str, ...], every: bool, recollect: bool, **options: Any) -> int:
    """Re-send quarantined chains to Trunk (after the cause was fixed); exit 1 if refused again."""
    configure_logging(options)
    token = secrets.clean_token("TRUNK_API_TOKEN", options["trunk_token"])
    with _open(options["state_path"]) as db:
        db.lock(wait=True)
        chosen = _select(db, run_keys, every)
        if recollect:
            for record in chosen:
                db.set_quarantine(record.run_key, "")
            click.echo(f"released {len(chosen)} chains: the next poll collects them again")
            return 0
        if not token:
            raise UserError("no Trunk token: set TRUNK_API_TOKEN to replay")
        config = DeliveryConfig(
            trunk_token=token,
            trunk_url=check_trunk_url(options["trunk_url"]),
            output=None,
            state_path=options["state_path"],
            batch_size=100,
            dead_letter=options["dead_letter"],
            retry_seconds=options["retry_seconds"],
            timeout=options["timeout"],
            insecure=False,
            fail_fast=False,
            wait=True,
            trunk_ca_bundle=options["trunk_ca_bundle"],
            trunk_insecure=options["trunk_insecure"],
        )
        return _resend(db, config, chosen)


def _resend(db: State, config: DeliveryConfig, chosen: list[Refusal]) -> int:
    resolve_trunk(config.trunk_url)
    check_dead_letter_path(dead_letter_path(config))
    sink = TrunkSink(
        config.trunk_token or "",
        config.trunk_url,
        dead_letter_path=dead_letter_path(config),
        timeout=config.timeout,
        retry_budget=config.retry_seconds,
        verify=config.trunk_verify(),
    )
    delivered: list[Chain] = []
    try:
        for record in chosen:
            body = json.loads(record.body)
            repo = Repo(**body["repo"])
            chain = Chain(record.run_key, repo, body["events"], record.source, record.fingerprint)
            acks = sink.add(chain) + sink.flush()  # one chain per body: each judged alone
            delivered += [ack.chain for ack in acks if not ack.refused]
    except TrunkRefused as exc:
        raise RemoteError(str(exc)) from None
    except DeliveryFailed as exc:
        raise ComeBackLater(str(exc)) from None
    finally:
        sink.close()
        if delivered:
            db.mark_all_delivered(
                (chain.run_key, chain.source, chain.fingerprint, len(chain.events))
                for chain in delivered
            )
            db.clear_refusals(chain.run_key for chain in delivered)
    refused = len(chosen) - len(delivered)
    click.echo(f"replayed {len(delivered)} chains; {refused} refused again (still quarantined)")
    return 1 if refused else 0


@dead_letter.command()
@click.argument("run_keys", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every quarantined chain.")
@state_option
def drop(run_keys: tuple[str, ...], every: bool, state_path: str | None) -> int:
    """Give up on quarantined chains: never sent, no longer listed."""
    with _open(state_path) as db:
        db.lock(wait=True)
        chosen = _select(db, run_keys, every)
        for record in chosen:
            db.set_quarantine(record.run_key, "dropped")
    click.echo(f"dropped {len(chosen)} chains")
    return 0
