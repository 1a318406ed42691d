"""The local event store: every event the collector produced, in the state's SQLite file.

One narrow row per event id (what the report aggregates) plus the event's JSON in a side
table (so scans for the report never read it). Each row also carries what the report
must not have to join for: the run it belongs to, its depth in the run tree, whether it
is a leaf, and the run's branch/commit/PR/actor tags when the event has none itself.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import jsonio
from .errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    chain_id TEXT NOT NULL,
    parent_id TEXT,
    depth INTEGER NOT NULL,
    leaf INTEGER NOT NULL,
    host TEXT NOT NULL,
    repo TEXT NOT NULL,
    platform TEXT NOT NULL,
    kind TEXT NOT NULL,
    workflow_key TEXT NOT NULL,
    sequence_key TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    day INTEGER NOT NULL,
    conclusion TEXT,
    duration_ms INTEGER NOT NULL,
    queue_ms INTEGER,
    branch TEXT,
    sha TEXT,
    pr_number TEXT,
    result TEXT,
    attempt TEXT,
    actor TEXT,
    trigger TEXT,
    branch_kind TEXT
);
CREATE INDEX IF NOT EXISTS events_by_duration ON events(
    depth, repo, sequence_key, duration_ms, created_at, conclusion, leaf, branch, platform, host,
    queue_ms);
CREATE INDEX IF NOT EXISTS events_by_queue ON events(
    depth, repo, sequence_key, queue_ms, created_at, conclusion, branch, platform, host)
    WHERE queue_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_day ON events(
    depth, day, duration_ms, created_at, conclusion, branch, platform, host, repo, queue_ms,
    branch_kind);
CREATE INDEX IF NOT EXISTS events_by_day_queue ON events(
    depth, day, queue_ms, created_at, conclusion, branch, platform, host, repo)
    WHERE queue_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_branch ON events(
    depth, repo, sequence_key, branch, created_at, id, finished_at, conclusion, platform, host);
CREATE INDEX IF NOT EXISTS events_by_commit ON events(
    depth, repo, sequence_key, sha, conclusion, created_at, branch, platform, host);
CREATE TABLE IF NOT EXISTS event_bodies (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""

COLUMNS = (
    "id",
    "run_id",
    "chain_id",
    "parent_id",
    "depth",
    "leaf",
    "host",
    "repo",
    "platform",
    "kind",
    "workflow_key",
    "sequence_key",
    "name",
    "created_at",
    "finished_at",
    "day",
    "conclusion",
    "duration_ms",
    "queue_ms",
    "branch",
    "sha",
    "pr_number",
    "result",
    "attempt",
    "actor",
    "trigger",
    "branch_kind",
)
INHERITED_TAGS = ("branch", "sha", "pr_number", "attempt", "actor", "trigger")
"""Tags a job or step takes from its run when it does not carry its own."""

DAY_MS = 86_400_000

MERGE_QUEUE_PREFIXES = ("gh-readonly-queue/", "trunk-merge/")
BOTS = ("dependabot", "renovate")
_JENKINS_PR = re.compile(r"^PR-\d+$")

RUN_START_TAGS = ("upstream_job", "upstream_build")
"""A Jenkins downstream build hangs under another run's event but is a run of its own."""

_PLACEHOLDERS = ", ".join("?" * len(COLUMNS))
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
_UPSERT = (
    f"INSERT INTO events({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS}) "  # noqa: S608
    f"ON CONFLICT(id) DO UPDATE SET {_UPDATES}"
)
_UPSERT_BODY = (
    "INSERT INTO event_bodies(id, body) VALUES (?, ?) "
    "ON CONFLICT(id) DO UPDATE SET body = excluded.body"
)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RunContext:
    """What one event of a run needs from the rest of the run to become a row."""

    run_id: str
    workflow_key: str
    depth: int
    leaf: bool
    inherited: Mapping[str, str]
    queue_ms: int | None = None
    """A run's wait, when the platform gives none for the run itself: its first job's."""


def tags_of(event: Mapping[str, Any]) -> dict[str, str]:
    payload = event.get("payload") or {}
    return {str(t["k"]): str(t["v"]) for t in payload.get("tags") or ()}


def _metric(event: Mapping[str, Any], name: str) -> int | None:
    payload = event.get("payload") or {}
    for metric in payload.get("metrics") or ():
        if metric["k"] == name:
            return int(metric["v"])
    return None


def run_contexts(events: Sequence[Mapping[str, Any]]) -> dict[str, RunContext]:
    """Contexts of one run's events: ``events[0]`` is the root, parents precede children."""
    root = events[0]
    root_tags = tags_of(root)
    inherited = {k: root_tags[k] for k in INHERITED_TAGS if k in root_tags}
    depth: dict[str, int] = {root["id"]: 0}
    parents: set[str] = set()
    for event in events[1:]:
        parent = event.get("parent", {}).get("eventId")
        depth[event["id"]] = depth.get(parent, 0) + 1
        parents.add(parent)
    contexts = {
        event_id: RunContext(
            root["id"],
            root["sequence"]["key"],
            level,
            level > 0 and event_id not in parents,
            inherited,
        )
        for event_id, level in depth.items()
    }
    waits = [
        (int(event["createdAt"]), wait)
        for event in events[1:]
        if depth[event["id"]] == 1 and (wait := _metric(event, "queue_ms")) is not None
    ]
    if waits:
        contexts[root["id"]] = replace(contexts[root["id"]], queue_ms=min(waits)[1])
    return contexts


def event_row(event: Mapping[str, Any], host: str, repo: str, context: RunContext) -> Row:
    tags = tags_of(event)
    sequence = event["sequence"]
    created, finished = int(event["createdAt"]), int(event["finishedAt"])
    duration = _metric(event, "duration_ms")
    queue = _metric(event, "queue_ms")
    parent = event.get("parent")

    def tag(name: str) -> str | None:
        return tags.get(name, context.inherited.get(name))

    own = {**context.inherited, **tags}

    return (
        event["id"],
        context.run_id,
        event["chainId"],
        parent["eventId"] if parent else None,
        context.depth,
        int(context.leaf),
        host,
        repo,
        sequence["platform"],
        sequence["kind"],
        context.workflow_key,
        sequence["key"],
        sequence["name"],
        created,
        finished,
        created // DAY_MS,
        event.get("conclusion"),
        duration if duration is not None else finished - created,
        queue if queue is not None else context.queue_ms,
        tag("branch"),
        tag("sha"),
        tag("pr_number"),
        tags.get("result"),
        tag("attempt"),
        tag("actor"),
        tag("trigger"),
        branch_kind(own),
    )


def branch_kind(tags: Mapping[str, str]) -> str | None:
    """The branch classes that do not depend on the repository's default branch.

    The first that matches wins: merge queue, bot, pull request; None otherwise (the
    report then tells the default branch from the others).
    """
    branch = tags.get("branch", "")
    actor = tags.get("actor", "").lower()
    trigger = tags.get("trigger", "")
    if branch.startswith(MERGE_QUEUE_PREFIXES) or trigger == "merge_group":
        return "merge_queue"
    if any(bot in actor for bot in BOTS) or branch.startswith(tuple(f"{b}/" for b in BOTS)):
        return "bot"
    if (
        "pr_number" in tags
        or branch.startswith("pull/")
        or _JENKINS_PR.match(branch)
        or trigger in ("pull_request", "pull_request_target")
    ):
        return "pull_request"
    return None


def encode_event(event: Mapping[str, Any]) -> str:
    return jsonio.dumps(event).decode()


class EventStore:
    """The events tables of one SQLite file (``:memory:`` for a throwaway store)."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if read_only and self.path is not None:
            self.db = open_read_only(self.path)
            return
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            if self.path is not None:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise UserError(f"cannot open the local store {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def reader(self) -> sqlite3.Connection | None:
        """A second connection to the same file, for reading in another thread."""
        if self.path is None:
            return None
        if self.db.execute("PRAGMA query_only").fetchone()[0]:
            return open_read_only(self.path)
        return sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)

    def write(self, rows: Sequence[Row], bodies: Iterable[tuple[str, str]]) -> None:
        """Upsert rows and their JSON in one transaction: a re-sent id updates its row."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(_UPSERT, rows)
                self.db.executemany(_UPSERT_BODY, bodies)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise UserError(f"cannot write the local store {self.path}: {exc}") from None

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])


def split_runs(events: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Regroup a stream of events (of request bodies) into runs, roots first.

    A run starts at an event with no parent, a parent that is not in the stream, or an
    upstream tag (a downstream build); every other event joins its parent's run.
    """
    known = {event["id"] for event in events}
    run_of: dict[str, int] = {}
    runs: list[list[Mapping[str, Any]]] = []
    for event in events:
        parent = event.get("parent", {}).get("eventId")
        starts = (
            parent is None
            or parent not in known
            or parent not in run_of
            or any(k in tags_of(event) for k in RUN_START_TAGS)
        )
        if starts:
            run_of[event["id"]] = len(runs)
            runs.append([event])
        else:
            index = run_of[parent]
            run_of[event["id"]] = index
            runs[index].append(event)
    return runs


def load_request_bodies(store: EventStore, lines: Iterable[str], origin: str) -> int:
    """Load JSON-lines request bodies (``--output`` files) into `store`; returns runs."""
    per_repo: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
            repo = body["repo"]
            key = (str(repo["host"]), f"{repo['owner']}/{repo['name']}")
            per_repo.setdefault(key, []).extend(body["events"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{origin}:{number}: not a request body ({exc})") from None
    runs = 0
    for (host, repo), events in per_repo.items():
        rows: list[Row] = []
        bodies: list[tuple[str, str]] = []
        try:
            for run in split_runs(events):
                runs += 1
                contexts = run_contexts(run)
                for event in run:
                    rows.append(event_row(event, host, repo, contexts[event["id"]]))
                    bodies.append((event["id"], encode_event(event)))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{origin}: an event is missing a field ({exc})") from None
        store.write(rows, bodies)
    return runs


def open_read_only(path: Path) -> sqlite3.Connection:
    """The store of a file this process cannot write (read-only mount, another user's).

    ``mode=ro`` first; a WAL file whose directory is not writable cannot get its shared
    memory file, so it is then read as ``immutable`` (a snapshot: fine for a report).
    """
    problem: sqlite3.Error | None = None
    for flags in ("mode=ro", "immutable=1"):
        uri = f"{path.resolve().as_uri()}?{flags}"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
            db.execute("PRAGMA query_only = 1")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.Error as exc:
            problem = exc
            continue
        if "events" not in tables:
            db.close()
            raise UserError(
                f"no local store in {path}: run a collector without TRUNK_API_TOKEN (or with "
                "--store) first, or pass --input FILE.jsonl"
            )
        return db
    raise UserError(f"cannot read the local store {path}: {problem}")
