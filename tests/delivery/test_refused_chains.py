"""Issue 12: one bad event must not poison its batch; chains refused poll after poll are
quarantined and handled with ``ci-collector dead-letter``. Through `main`, against the
strict Trunk stand-in, which refuses an invalid chain with a real 400."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import Run
from ci_collector.state import State
from tests.delivery import harness
from tests.delivery.harness import bad, good, run
from tests.servers.base import Reply
from tests.servers.trunk import TOKEN, TrunkStandIn

EVENTS_PER_RUN = 4


def poll(trunk: TrunkStandIn, tmp_path: Path, runs: list[Run], *args: str) -> harness.Result:
    harness.RUNS[:] = runs
    return run(
        "tiny",
        "--state",
        str(tmp_path / "state.sqlite"),
        "--retry-seconds",
        "2",
        *args,
        env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url},
    )


def chain_ids(runs: list[Run]) -> set[str]:
    return {map_run(r)[0]["chainId"] for r in runs}


def dead_chains(path: Path) -> list[set[str]]:
    """Per dead-letter record, the chains its body carries."""
    return [
        {event["chainId"] for event in json.loads(line)["body"]["events"]}
        for line in path.read_text().splitlines()
    ]


@pytest.mark.parametrize(
    ("layout", "batch"),
    [
        ("BGGGGGG", 100),  # the bad chain first in one body
        ("GGGBGGG", 100),  # in the middle
        ("GGGGGGB", 100),  # last
        ("GBGGGBG", 100),  # two bad chains
        ("GGBGGGGGGG", 6),  # bodies that cut chains in two
        ("BB", 100),  # nothing good at all
    ],
)
def test_a_400_is_split_until_only_the_refused_chain_is_dead_lettered(
    trunk: TrunkStandIn, tmp_path: Path, layout: str, batch: int
) -> None:
    runs = [(bad if kind == "B" else good)(n) for n, kind in enumerate(layout, 1)]
    goods = [r for r, kind in zip(runs, layout, strict=True) if kind == "G"]
    bads = [r for r, kind in zip(runs, layout, strict=True) if kind == "B"]
    result = poll(trunk, tmp_path, runs, "--batch-size", str(batch))
    assert result.code == 1, result.err
    assert {e["id"] for r in goods for e in map_run(r)} == set(trunk.events)
    records = dead_chains(tmp_path / "state.dead-letters.jsonl")
    assert all(len(chains) == 1 for chains in records), records  # each record: one chain
    assert set().union(*records) == chain_ids(bads)
    if batch >= len(layout) * EVENTS_PER_RUN:  # whole chains per body: one record each
        assert len(records) == len(bads)
    with State(tmp_path / "state.sqlite") as state:
        assert [state.is_delivered(r.natural_key, r.fingerprint) for r in runs] == [
            kind == "G" for kind in layout
        ]
    assert f"{len(bads) * EVENTS_PER_RUN} events refused by Trunk" in result.lines[-1]


@pytest.fixture
def quick_quarantine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls here come seconds apart: drop the minimum time span of a quarantine."""
    monkeypatch.setattr("ci_collector.refusals.QUARANTINE_MIN_SECONDS", 0.0)


def test_polls_back_to_back_quarantine_nothing(trunk: TrunkStandIn, tmp_path: Path) -> None:
    runs = [good(1), bad(2)]
    for _ in range(4):  # four refusals within seconds (a short Trunk incident): still retried
        before = trunk.posts
        assert poll(trunk, tmp_path, runs).code == 1
        assert trunk.posts > before
    with State(tmp_path / "state.sqlite") as state:
        [record] = state.refusals()
    assert (record.polls, record.quarantine) == (4, "")


@pytest.mark.usefixtures("quick_quarantine")
def test_a_chain_refused_three_polls_in_a_row_is_quarantined_listed_and_not_resent(
    trunk: TrunkStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [good(1), bad(2), good(3)]
    codes = [poll(trunk, tmp_path, runs).code for _ in range(3)]
    assert codes == [1, 1, 1]
    refused_posts = trunk.posts
    fourth = poll(trunk, tmp_path, runs)
    assert fourth.code == 0, fourth.err
    assert trunk.posts == refused_posts  # the quarantined chain is not sent again
    assert fourth.lines[-1] == (
        "WARNING 1 chains quarantined after repeated refusals by Trunk: see "
        "`ci-collector dead-letter list`"
    )
    state = ["--state", str(tmp_path / "state.sqlite")]
    listed = run("dead-letter", "list", *state)
    [line] = listed.out.splitlines()
    assert line.startswith(f"{runs[1].natural_key}\theld\trefused in 3 polls")
    assert "HTTP 400" in line and "snake_case" in line
    as_json = json.loads(run("dead-letter", "list", "--json", *state).out)
    assert [(r["run_key"], r["polls"], r["quarantine"]) for r in as_json] == [
        (runs[1].natural_key, 3, "held")
    ]
    # Replay while Trunk still refuses: stays quarantined, exit 1.
    env = {"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    again = run("dead-letter", "replay", "--all", *state, env=env)
    assert again.code == 1 and "1 refused again" in again.out
    # After the fix (Trunk accepts it now), replay delivers it and forgets the refusal.
    monkeypatch.setattr("tests.servers.trunk.body_problems", lambda body: [])
    fixed = run("dead-letter", "replay", runs[1].natural_key, *state, env=env)
    assert fixed.code == 0, fixed.err
    assert fixed.out == "replayed 1 chains; 0 refused again (still quarantined)\n"
    assert {e["id"] for e in map_run(runs[1])} <= set(trunk.events)
    assert run("dead-letter", "list", *state).out == "no quarantined chains\n"
    with State(tmp_path / "state.sqlite") as db:
        assert db.is_delivered(runs[1].natural_key, runs[1].fingerprint)
        assert db.refusals(with_dropped=True) == []


@pytest.mark.usefixtures("quick_quarantine")
def test_refusals_must_be_in_a_row_and_a_changed_run_starts_again(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    first = bad(7)
    assert poll(trunk, tmp_path, [first]).code == 1
    assert poll(trunk, tmp_path, [first]).code == 1
    changed = bad(7)
    changed.fingerprint = "completed@later"  # the run itself changed: a new attempt to send
    assert poll(trunk, tmp_path, [changed]).code == 1
    with State(tmp_path / "state.sqlite") as db:
        [record] = db.refusals()
    assert (record.polls, record.quarantine) == (1, "")
    before = trunk.posts
    assert poll(trunk, tmp_path, [changed]).code == 1
    assert trunk.posts == before + 1  # not quarantined yet: still sent


@pytest.mark.usefixtures("quick_quarantine")
def test_drop_and_recollect(trunk: TrunkStandIn, tmp_path: Path) -> None:
    runs = [bad(1), bad(2)]
    for _ in range(3):
        poll(trunk, tmp_path, runs)
    state = ["--state", str(tmp_path / "state.sqlite")]
    assert len(run("dead-letter", "list", *state).out.splitlines()) == 2
    dropped = run("dead-letter", "drop", runs[0].natural_key, *state)
    assert (dropped.code, dropped.out) == (0, "dropped 1 chains\n")
    released = run("dead-letter", "replay", "--recollect", runs[1].natural_key, *state)
    assert released.code == 0 and released.out.startswith("released 1 chains")
    assert run("dead-letter", "list", *state).out == "no quarantined chains\n"
    before = trunk.posts
    assert poll(trunk, tmp_path, runs).code == 1  # the released one is collected again
    assert trunk.posts == before + 1
    unknown = run("dead-letter", "drop", "github:nope/1", *state)
    assert unknown.code == 2
    assert unknown.lines == [
        "ci-collector: error: not a quarantined chain: github:nope/1 "
        "(see `ci-collector dead-letter list`)"
    ]
    assert run("dead-letter", "drop", *state).code == 2  # neither keys nor --all


@pytest.mark.parametrize("batch", [8, 100])
def test_a_400_that_goes_away_when_split_delivers_everything_and_still_exits_1(
    trunk: TrunkStandIn, tmp_path: Path, batch: int
) -> None:
    runs = [good(n) for n in range(1, 6)]
    trunk.faults.append(Reply(400, b'{"error":"try again"}'))
    result = poll(trunk, tmp_path, runs, "--batch-size", str(batch))
    assert result.code == 1, result.err
    assert len(trunk.events) == 5 * EVENTS_PER_RUN
    assert result.lines[-1] == (
        "WARNING Trunk answered HTTP 400 to 1 bodies, then accepted every chain of them once "
        "split: nothing was dead-lettered, but a refusal that goes away is worth a look"
    )
    assert not (tmp_path / "state.dead-letters.jsonl").exists()
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 5
