"""The state file: delivered runs, cursors, ETags, forgetting, and the poll lock."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ci_collector.errors import UserError
from ci_collector.state import State, StateBusy
from tests.conftest import run_cli

SOURCE = "github:github.com/acme/widgets"
OTHER = "jenkins:ci.example/folder/job"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "state.sqlite"


def test_delivered_runs_and_their_fingerprints(path: Path) -> None:
    with State(path) as state:
        assert not state.is_delivered("run/1")
        state.mark_delivered("run/1", SOURCE, "completed@10", 7)
        assert state.is_delivered("run/1")
        assert state.is_delivered("run/1", "completed@10")
        assert not state.is_delivered("run/1", "completed@11")  # content changed: send again
        assert not state.is_delivered("run/2")
        state.mark_delivered("run/1", SOURCE, "completed@11", 8)
        assert state.is_delivered("run/1", "completed@11")
        assert not state.is_delivered("run/1", "completed@10")
        assert state.delivered_count() == state.delivered_count(SOURCE) == 1
        assert state.delivered_count(OTHER) == 0
        [summary] = state.sources()
        assert summary.runs_delivered == 1  # one run, sent twice: still one run


def test_many_attempts_marked_at_once_count_each_new_run_once(path: Path) -> None:
    """One call per body: 1,200 attempts, some
    repeated in the call, some already delivered, some skipped before, two sources."""
    with State(path) as state:
        state.mark_delivered("run/0", SOURCE, "old", 1)
        state.mark_skipped("run/7", SOURCE, "settings", "too big")
        attempts = [(f"run/{i}", SOURCE if i % 3 else OTHER, f"f{i}", 2) for i in range(1200)]
        state.mark_all_delivered([*attempts, attempts[5], attempts[6]])
        assert state.delivered_count() == 1200
        assert state.is_delivered("run/0", "f0")  # re-sent: the new fingerprint is kept
        assert state.skipped(SOURCE) == {}  # delivered at last: no longer skipped
        counts = {summary.source: summary.runs_delivered for summary in state.sources()}
        # run/0 was counted under SOURCE when first delivered, not again under OTHER
        assert counts == {SOURCE: 800 + 1, OTHER: 400 - 1}
        state.mark_all_delivered(attempts[:10])
        assert {s.source: s.runs_delivered for s in state.sources()} == counts


def test_cursors_round_trip(path: Path) -> None:
    with State(path) as state:
        assert state.cursor(SOURCE) is None
        state.set_cursor(SOURCE, {"updated": "2024-05-01T00:00:00Z", "page": 3})
        state.set_cursor(OTHER, {"build": 41})
        state.set_cursor(SOURCE, {"updated": "2024-05-02T00:00:00Z"})
        assert state.cursor(SOURCE) == {"updated": "2024-05-02T00:00:00Z"}
        assert state.cursor(OTHER) == {"build": 41}


def test_etags_round_trip_with_their_bodies(path: Path) -> None:
    body = json.dumps({"workflow_runs": [{"id": n} for n in range(200)]}).encode()
    with State(path) as state:
        assert state.etag("https://api.github.com/x") is None
        state.set_etag("https://api.github.com/x", SOURCE, 'W/"abc"', body)
        assert state.etag("https://api.github.com/x") == ('W/"abc"', body)
        state.set_etag("https://api.github.com/x", SOURCE, '"def"', b"{}")
        assert state.etag("https://api.github.com/x") == ('"def"', b"{}")


def test_everything_survives_reopening(path: Path) -> None:
    with State(path) as state:
        state.mark_delivered("run/1", SOURCE, "fp", 3)
        state.set_cursor(SOURCE, {"since": 5})
        state.set_etag("u", SOURCE, "e", b"b")
        state.record_success(SOURCE)
    with State(path) as state:
        assert state.is_delivered("run/1", "fp")
        assert state.cursor(SOURCE) == {"since": 5}
        assert state.etag("u") == ("e", b"b")
        [summary] = state.sources()
        assert summary.source == SOURCE
        assert summary.runs_delivered == 1
        assert summary.last_success is not None
        assert summary.last_success.endswith("Z")


def test_forget_drops_one_source_only(path: Path) -> None:
    with State(path) as state:
        for n in range(3):
            state.mark_delivered(f"a/{n}", SOURCE, "fp", 1)
        state.mark_delivered("b/1", OTHER, "fp", 1)
        state.set_cursor(SOURCE, {"x": 1})
        state.set_cursor(OTHER, {"y": 2})
        state.set_etag("url-a", SOURCE, "e", b"a")
        state.set_etag("url-b", OTHER, "e", b"b")
        assert state.forget(SOURCE) == 4  # three runs and the source row
        assert not state.is_delivered("a/0")
        assert state.cursor(SOURCE) is None
        assert state.etag("url-a") is None
        assert state.is_delivered("b/1")
        assert state.cursor(OTHER) == {"y": 2}
        assert state.etag("url-b") == ("e", b"b")
        assert [s.source for s in state.sources()] == [OTHER]
        assert state.forget("never:seen") == 0


def test_a_second_process_finds_the_state_busy(path: Path) -> None:
    with State(path) as first, State(path) as second:
        first.lock()
        with pytest.raises(StateBusy, match="another ci-collector is using"):
            second.lock()
        first.unlock()
        second.lock()  # free again
        with pytest.raises(StateBusy):
            first.lock()


def test_closing_releases_the_lock(path: Path) -> None:
    first = State(path)
    first.lock()
    first.close()
    with State(path) as second:
        second.lock()


def test_wait_blocks_until_the_lock_is_released(path: Path) -> None:
    holder = State(path)
    holder.lock()
    acquired = threading.Event()
    failure: list[BaseException] = []

    def waiter() -> None:
        try:
            with State(path) as state:
                state.lock(wait=True, poll_seconds=0.02)
                acquired.set()
        except BaseException as exc:  # surfaced in the main thread below
            failure.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not acquired.wait(0.3), "took a lock that was held"
    released_at = time.monotonic()
    holder.close()
    assert acquired.wait(2), "never took the lock after it was released"
    assert time.monotonic() - released_at < 1
    thread.join(2)
    assert failure == []


def test_an_unusable_path_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(UserError, match="cannot open state file"):
        State(tmp_path / "dir.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database, just some text " * 40)
    with pytest.raises(UserError, match="cannot open state file"):
        State(tmp_path / "junk.sqlite")


# ---- ci-collector state --------------------------------------------------------------


def test_cli_state_show(path: Path) -> None:
    missing = run_cli("state", "show", "--state", str(path))  # reading creates nothing
    assert missing.returncode == 2 and "no state file at" in missing.stderr
    assert not path.exists()
    State(path).close()
    empty = run_cli("state", "show", "--state", str(path))
    assert (empty.returncode, empty.stdout) == (0, "no sources yet\n")
    with State(path) as state:
        state.mark_delivered("run/1", SOURCE, "fp", 3)
        state.set_cursor(SOURCE, {"updated": "2024-05-01"})
    shown = run_cli("state", "show", env={"CI_COLLECTOR_STATE": str(path)})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (
        f'{SOURCE}\truns delivered: 1\tlast success: never\tcursor: {{"updated": "2024-05-01"}}\n'
    )
    as_json = run_cli("state", "show", "--json", "--state", str(path))
    assert json.loads(as_json.stdout) == [
        {
            "source": SOURCE,
            "cursor": {"updated": "2024-05-01"},
            "last_success": None,
            "runs_delivered": 1,
            "skipped": [],
            "refused": [],
        }
    ]


def test_cli_state_forget(path: Path) -> None:
    with State(path) as state:
        state.mark_delivered("run/1", SOURCE, "fp", 3)
        state.mark_delivered("run/2", OTHER, "fp", 3)
    forgot = run_cli("state", "forget", "--source", SOURCE, "--state", str(path))
    assert (forgot.returncode, forgot.stdout) == (0, f"forgot {SOURCE}\n")
    with State(path) as state:
        assert not state.is_delivered("run/1")
        assert state.is_delivered("run/2")


def test_cli_forgetting_an_unknown_source_is_a_usage_error(path: Path) -> None:
    result = run_cli("state", "forget", "--source", "github:nowhere/x", "--state", str(path))
    assert result.returncode == 2
    assert result.stderr == (
        "ci-collector: error: --source 'github:nowhere/x': no such source in the state file\n"
    )
    assert result.stdout == ""


def test_cached_pages_unused_for_a_week_are_pruned(path: Path) -> None:
    """Look-back URLs change every day; their cached pages must not pile up forever."""
    with State(path) as state:
        state.set_etag("old", SOURCE, "e", b"old page")
        state.set_etag("fresh", SOURCE, "e", b"fresh page")
        assert state.prune_etags(unused_for=3600) == 0
        state._db.execute("UPDATE etags SET used_at = used_at - 8 * 86400 WHERE url = 'old'")
    with State(path) as state:  # opening prunes
        assert state.etag("old") is None
        assert state.etag("fresh") == ("e", b"fresh page")


def test_namespaces_keep_destinations_apart(path: Path) -> None:
    """What only the local store has is not delivered as far as Trunk is concerned."""
    with State(path, namespace="store:") as local:
        local.mark_delivered("run/1", SOURCE, "fp", 3)
        local.set_cursor(SOURCE, {"last": 1})
        assert local.is_delivered("run/1")
        assert local.cursor(SOURCE) == {"last": 1}
    with State(path) as trunk:
        assert not trunk.is_delivered("run/1")
        assert trunk.cursor(SOURCE) is None
        assert [row.source for row in trunk.sources()] == [f"store:{SOURCE}"]
