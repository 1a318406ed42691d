"""SQL that does the aggregating: outcome counts, moments, percentiles, recoveries, flakes.

Every statistic is computed by SQLite. Counts and moments come from plain GROUP BYs;
percentiles from *ordered sub-queries*: for one group, walk a covering index in value
order and take the value at the wanted rank (``LIMIT 1 OFFSET rank - 1``). The index
already holds rows sorted per group, so nothing is sorted at report time and a report
costs a few index scans however many runs the store holds (see ``eventstore.SCHEMA``).

Only constants of this module and column names are formatted into the SQL (hence the
``noqa: S608``); every value a user gives is a bound parameter.

Percentiles use the *nearest-rank* method: the p-th percentile of n sorted values is the
value at rank ceil(p * n / 100); the median is the usual one (the mean of the two middle
values when n is even).
"""

from __future__ import annotations

from collections.abc import Sequence

SUCCESS = "conclusion = 'SUCCESS'"
FAILED = "conclusion IN ('FAILURE', 'TIMED_OUT')"
CANCELLED = "conclusion = 'CANCELLED'"
STATUS = f"CASE WHEN {SUCCESS} THEN 0 WHEN {FAILED} THEN 1 END"
"""0 green, 1 red, NULL for outcomes that neither break nor fix a branch (cancelled)."""

DAY_MS = 86_400_000
WINDOW = "created_at >= :start AND created_at < :end"

# Which covering index serves the ordered walks of each (grouping, value).
BY_DURATION = "events_by_duration"
BY_QUEUE = "events_by_queue"
BY_DAY = "events_by_day"
BY_DAY_QUEUE = "events_by_day_queue"


def branch_class(default_placeholders: Sequence[str]) -> str:
    """The hosted tools' branch classes (see `eventstore.branch_kind` for the others)."""
    defaults = ", ".join(default_placeholders) or "NULL"
    return (
        f"coalesce(branch_kind, CASE WHEN branch IN ({defaults}) THEN 'default_branch' "
        "ELSE 'other' END)"
    )


def outcomes(level: str, groups: Sequence[str], where: str, index: str = BY_DURATION) -> str:
    """Per group: total, successful, failed, cancelled, then count/min/max/mean/mean of
    squares/sum of durations, and how many rows have a queue time."""
    value = "duration_ms"
    keys = "".join(f"{group}, " for group in groups)
    grouping = f"GROUP BY {', '.join(groups)}" if groups else ""
    return f"""
SELECT {keys}COUNT(*), TOTAL({SUCCESS}), TOTAL({FAILED}), TOTAL({CANCELLED}),
    COUNT({value}), MIN({value}), MAX({value}), AVG({value}), AVG({value} * 1.0 * {value}),
    TOTAL({value}), COUNT(queue_ms)
FROM events INDEXED BY {index} WHERE {level} AND {WINDOW} {where}
{grouping}
"""  # noqa: S608


def nth(index: str, value: str, level: str, equal: Sequence[str], where: str) -> str:
    """The `value`s at ranks ``:skip + 1 ..`` (``:take`` of them) of one group."""
    match = " AND ".join(f"{column} = :g_{column}" for column in equal)
    return f"""
SELECT {value} FROM events INDEXED BY {index}
WHERE {level} AND {match} AND {WINDOW} AND {value} IS NOT NULL {where}
ORDER BY {value} LIMIT :take OFFSET :skip
"""  # noqa: S608


def label(level: str) -> str:
    """A group's display name, kind and workflow (from any one of its events)."""
    return f"""
SELECT name, kind, workflow_key FROM events INDEXED BY {BY_DURATION}
WHERE {level} AND repo = :g_repo AND sequence_key = :g_sequence_key LIMIT 1
"""  # noqa: S608


def recoveries(level: str, where: str) -> str:
    """Per workflow: how many red streaks turned green, and their mean length (MTTR).

    For each workflow on each branch separately, runs in start order (cancelled ones
    ignored). Numbering each run by the successful runs before it puts a red streak and
    the success that ends it under one number: the streak starts when its first failed
    run finishes and ends when that success finishes.
    """
    window = (
        "PARTITION BY repo, sequence_key, branch ORDER BY created_at, id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
    )
    return f"""
WITH v AS (
    SELECT repo, sequence_key, branch, finished_at, {STATUS} AS bad,
        coalesce(SUM({SUCCESS}) OVER ({window}), 0) AS greens
    FROM events INDEXED BY events_by_branch
    WHERE {level} AND {WINDOW} AND {STATUS} IS NOT NULL {where}
),
streaks AS (
    SELECT repo, sequence_key,
        MIN(CASE WHEN bad = 1 THEN finished_at END) AS red_since,
        MAX(CASE WHEN bad = 0 THEN finished_at END) AS green_at
    FROM v GROUP BY repo, sequence_key, branch, greens
)
SELECT repo, sequence_key, COUNT(*), AVG(MAX(green_at - red_since, 0))
FROM streaks WHERE red_since IS NOT NULL AND green_at IS NOT NULL
GROUP BY repo, sequence_key
"""  # noqa: S608


def flaky(where: str) -> str:
    """Jobs that both failed and succeeded on one commit, ranked by how many commits.

    Only commits with a failure are looked at (few), each by an index seek.
    """
    return f"""
WITH bad AS (
    SELECT DISTINCT repo AS r, sequence_key AS k, sha AS h
    FROM events INDEXED BY events_by_commit
    WHERE depth = 1 AND {WINDOW} AND sha IS NOT NULL AND {FAILED} {where}
),
c AS (
    SELECT r, k, h, TOTAL({FAILED}) AS f, TOTAL({SUCCESS}) AS s, MAX(created_at) AS last
    FROM bad JOIN events INDEXED BY events_by_commit
        ON depth = 1 AND repo = r AND sequence_key = k AND sha = h
    WHERE {WINDOW} {where}
    GROUP BY r, k, h
)
SELECT r, k, COUNT(*) AS flaky_commits, TOTAL(f) AS failures, TOTAL(s), MAX(last)
FROM c WHERE s > 0
GROUP BY r, k
ORDER BY flaky_commits DESC, failures DESC, k
LIMIT :limit
"""  # noqa: S608
