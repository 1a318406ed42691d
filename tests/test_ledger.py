"""The ledger: checkpoints are written only behind settled chains, whatever the ack order."""

from __future__ import annotations

import os
from pathlib import Path

from ci_collector.ledger import Checkpoint, Ledger
from ci_collector.mapper import map_run
from ci_collector.model import Repo, Run
from ci_collector.pipeline import deliver
from ci_collector.sinks import Ack, Chain, JsonlSink, StoreSink, TeeSink, TrunkSink
from ci_collector.state import State
from tests.runs import make_run
from tests.servers.base import Reply
from tests.servers.trunk import TOKEN, TrunkStandIn

SOURCE = "github:github.com/acme/widgets"


def chain(run: Run) -> Chain:
    return Chain(run.natural_key, run.repo, map_run(run), SOURCE, run.fingerprint)


def test_a_checkpoint_waits_for_every_chain_before_it_in_any_ack_order() -> None:
    with State(":memory:") as state:
        ledger = Ledger(state, ("",))
        first, second = chain(make_run(1)), chain(make_run(2))
        ledger.expect(first)
        ledger.checkpoint(Checkpoint(SOURCE, {"at": 1}))
        ledger.expect(second)
        ledger.checkpoint(Checkpoint(SOURCE, {"at": 2}, complete=True))
        assert state.cursor(SOURCE) is None
        ledger.acknowledge([Ack(second, "")])  # out of order: nothing may move yet
        assert state.cursor(SOURCE) is None and state.is_delivered(second.run_key)
        ledger.acknowledge([Ack(first, "")])
        assert state.cursor(SOURCE) == {"at": 2}
        assert state.sources()[0].last_success is not None


def test_a_refused_chain_holds_checkpoints_unless_the_hook_accounts_for_it() -> None:
    for quarantined, expected in ((False, None), (True, {"at": 1})):
        with State(":memory:") as state:
            ledger = Ledger(state, ("",), refused=lambda chains, q=quarantined: chains if q else [])
            refused = chain(make_run(1))
            ledger.expect(refused)
            ledger.checkpoint(Checkpoint(SOURCE, {"at": 1}))
            ledger.acknowledge([Ack(refused, "", refused=True)])
            assert state.cursor(SOURCE) == expected
            assert not state.is_delivered(refused.run_key)


def test_a_chain_needs_every_sink_and_each_sink_is_remembered_apart(tmp_path: Path) -> None:
    with State(":memory:") as state:
        ledger = Ledger(state, ("", "store:", "otlp:"))
        run = chain(make_run(1))
        ledger.expect(run)
        ledger.checkpoint(Checkpoint(SOURCE, {"at": 1}))
        ledger.acknowledge([Ack(run, ""), Ack(run, "store:")])
        assert state.cursor(SOURCE) is None and ledger.settled.delivered == 0
        state.sinks = ("", "store:")
        assert state.is_delivered(run.run_key)
        state.sinks = ("", "store:", "otlp:")
        assert not state.is_delivered(run.run_key)
        ledger.acknowledge([Ack(run, "otlp:")])
        assert state.cursor(SOURCE) == {"at": 1} and state.is_delivered(run.run_key)


def test_three_sinks_through_the_pipeline(tmp_path: Path) -> None:
    sinks = [
        StoreSink(tmp_path / "a.sqlite", 3),
        StoreSink(tmp_path / "b.sqlite", 5, namespace="copy:"),
        JsonlSink(os.devnull, batch_events=2),
    ]
    tee = TeeSink(*sinks)
    runs = [make_run(n) for n in range(1, 5)]
    items = [runs[0], runs[1], Checkpoint(SOURCE, {"at": 2}), runs[2], runs[3]]
    with State(":memory:") as state:
        state.sinks = tee.namespaces
        summary = deliver([*items, Checkpoint(SOURCE, {"at": 4})], tee, state=state)
        tee.close()
        assert summary.delivered_runs == 4 and state.cursor(SOURCE) == {"at": 4}
        assert state.delivered_count() == 12  # 4 runs, remembered by each of 3 sinks


def test_trunk_refusing_a_body_leaves_the_cursor_behind_it(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    trunk.faults.append(Reply(400, b'{"error":"refused"}'))
    sink = TrunkSink(TOKEN, trunk.url, batch_events=1000, dead_letter_path=tmp_path / "d.jsonl")
    runs = [make_run(1), make_run(2, repo=Repo("github.com", "acme", "other"))]
    with State(":memory:") as state:
        summary = deliver(
            [runs[0], Checkpoint(SOURCE, {"at": 1}), runs[1], Checkpoint(SOURCE, {"at": 2})],
            sink,
            state=state,
        )
        sink.close()
        assert summary.exit_code == 1 and summary.dead_lettered_runs == 1
        assert state.cursor(SOURCE) is None  # the refused chain comes first in the stream
        [row] = [r for r in state.sources() if r.refused]
        assert row.refused == (runs[0].natural_key,)


def test_a_refused_chain_holds_only_its_own_source() -> None:
    other = "jenkins:ci.example.com/team/other"
    with State(":memory:") as state:
        ledger = Ledger(state, ("",))
        refused, fine = chain(make_run(1)), chain(make_run(2))
        fine = Chain(fine.run_key, fine.repo, fine.events, other, fine.fingerprint)
        ledger.expect(refused)
        ledger.checkpoint(Checkpoint(SOURCE, {"at": 1}, complete=True))
        ledger.expect(fine)
        ledger.checkpoint(Checkpoint(other, {"at": 2}, complete=True))
        ledger.acknowledge([Ack(refused, "", refused=True), Ack(fine, "")])
        assert state.cursor(SOURCE) is None and state.cursor(other) == {"at": 2}
        successes = {row.source: row.last_success for row in state.sources()}
        assert successes[SOURCE] is None and successes[other] is not None


def _hold(state: State, refused: Chain, fingerprint: str) -> None:
    """Trunk's refusal of `refused` on record, quarantined (as after 3 polls over 30 min)."""
    state.record_refusal(refused.run_key, SOURCE, fingerprint, 400, "bad event", "{}")
    state._db.execute("UPDATE refusals SET quarantine = 'held'")


def test_the_default_hook_settles_exactly_the_quarantined_chains() -> None:
    # (quarantined?, fingerprint on record matches?) -> is the cursor past the chain?
    cases = [(False, True, None), (True, True, {"at": 1}), (True, False, None)]
    for held, same, expected in cases:
        with State(":memory:") as state:
            refused = chain(make_run(1))
            if held:
                _hold(state, refused, refused.fingerprint if same else "an older attempt")
            ledger = Ledger(state, ("",))
            ledger.expect(refused)
            ledger.checkpoint(Checkpoint(SOURCE, {"at": 1}))
            ledger.acknowledge([Ack(refused, "", refused=True)])
            assert state.cursor(SOURCE) == expected, (held, same)
            assert [r.run_key for r in state.refusals()] == [refused.run_key]
            assert state.sources()[0].refused == (refused.run_key,)  # `state show` lists it
            settled = state.is_delivered(refused.run_key, refused.fingerprint)
            assert settled == (expected is not None)


def test_a_refused_chain_delivered_later_is_no_longer_listed_and_forget_clears_refusals() -> None:
    with State(":memory:") as state:
        first, second = chain(make_run(1)), chain(make_run(2))
        ledger = Ledger(state, ("",))
        for refused in (first, second):
            ledger.expect(refused)
            ledger.acknowledge([Ack(refused, "", refused=True)])
        assert {r.run_key for r in state.refusals()} == {first.run_key, second.run_key}
        again = Ledger(state, ("",))  # the next poll: the first is accepted this time
        again.expect(first)
        again.acknowledge([Ack(first, "")])
        assert [r.run_key for r in state.refusals()] == [second.run_key]
        assert state.sources()[0].refused == (second.run_key,)
        state.forget(SOURCE)
        assert state.refusals() == [] and state.sources() == []
