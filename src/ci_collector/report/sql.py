"""SQL that does the aggregating: distributions, outcomes, recoveries, flakes.

Every statistic is computed by SQLite over the rows of the window, so a report costs a
handful of ordered scans however many runs the store holds. The definitions live here,
once; ``README.md`` (Local store and report) states them for users.

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
COMMON_COLUMNS = (
    "id, repo, platform, kind, name, workflow_key, sequence_key AS key, created_at, "
    "finished_at, duration_ms, queue_ms, conclusion, branch, sha, pr_number, actor, trigger"
)


def branch_class(default_placeholders: Sequence[str]) -> str:
    """The hosted tools' branch classes; the first that matches wins."""
    defaults = ", ".join(default_placeholders) or "NULL"
    return f"""CASE
        WHEN branch GLOB 'gh-readonly-queue/*' OR branch GLOB 'trunk-merge/*'
             OR trigger = 'merge_group' THEN 'merge_queue'
        WHEN lower(coalesce(actor, '')) GLOB '*dependabot*'
             OR lower(coalesce(actor, '')) GLOB '*renovate*'
             OR branch GLOB 'dependabot/*' OR branch GLOB 'renovate/*' THEN 'bot'
        WHEN pr_number IS NOT NULL OR branch GLOB 'pull/*' OR branch GLOB 'PR-[0-9]*'
             OR trigger IN ('pull_request', 'pull_request_target') THEN 'pull_request'
        WHEN branch IN ({defaults}) THEN 'default_branch'
        ELSE 'other' END"""


def source(depth: str, where: str, extra: str = "") -> str:
    """Rows of one level of the run tree inside the window (and the one before it).

    ``cur`` is 1 for the current window and 0 for the previous one.
    """
    columns = COMMON_COLUMNS + (f", {extra}" if extra else "")
    return (
        f"SELECT {columns}, (created_at >= :start) AS cur, created_at / {DAY_MS} AS day "  # noqa: S608
        f"FROM events WHERE {depth} AND created_at >= :lower AND created_at < :end {where}"
    )


def distribution(src: str, groups: Sequence[str], value: str = "duration_ms") -> str:
    """Per group: outcome counts and the distribution of `value` (NULLs left out).

    Columns: groups..., total, successful, failed, cancelled, count, min, max, mean, sum,
    median, p95, variance (population), name, kind.
    """
    keys = ", ".join(groups)
    return f"""
WITH v AS ({src}),
r AS (
    SELECT *,
        ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {value} NULLS LAST) AS rn,
        COUNT({value}) OVER (PARTITION BY {keys}) AS n,
        AVG({value}) OVER (PARTITION BY {keys}) AS mean
    FROM v
)
SELECT {keys}, COUNT(*), TOTAL({SUCCESS}), TOTAL({FAILED}), TOTAL({CANCELLED}),
    COUNT({value}), MIN({value}), MAX({value}), AVG({value}), TOTAL({value}),
    AVG(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN {value} END),
    MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN {value} END),
    AVG(({value} - mean) * ({value} - mean)),
    MAX(name), MAX(kind)
FROM r GROUP BY {keys}
"""  # noqa: S608


def recoveries(src: str, groups: Sequence[str]) -> str:
    """Per group: how many red streaks turned green, and their mean length (MTTR).

    For each workflow on each branch separately, runs in start order (cancelled ones
    ignored); a streak starts when the first failed run finishes and ends when the next
    successful run finishes.
    """
    keys = ", ".join(groups)
    order = f"PARTITION BY {keys}, repo, platform, key, b ORDER BY created_at, id"
    return f"""
WITH v AS (
    SELECT *, coalesce(branch, '') AS b, {STATUS} AS bad FROM ({src}) WHERE {STATUS} IS NOT NULL
),
l AS (SELECT *, LAG(bad) OVER ({order}) AS prev FROM v),
s AS (
    SELECT *, MAX(CASE WHEN bad = 1 AND coalesce(prev, 0) = 0 THEN finished_at END)
        OVER ({order} ROWS UNBOUNDED PRECEDING) AS red_since
    FROM l
)
SELECT {keys}, COUNT(*), AVG(MAX(finished_at - red_since, 0))
FROM s WHERE bad = 0 AND prev = 1 GROUP BY {keys}
"""  # noqa: S608


def flaky(where: str) -> str:
    """Jobs that both failed and succeeded on one commit, ranked by how many commits."""
    return f"""
WITH c AS (
    SELECT repo, workflow_key, sequence_key AS key, MAX(name) AS name, sha,
        TOTAL({FAILED}) AS f, TOTAL({SUCCESS}) AS s, MAX(created_at) AS last
    FROM events
    WHERE depth = 1 AND created_at >= :start AND created_at < :end AND sha IS NOT NULL
        AND {STATUS} IS NOT NULL {where}
    GROUP BY repo, workflow_key, sequence_key, sha
)
SELECT repo, workflow_key, key, MAX(name),
    TOTAL(f > 0 AND s > 0) AS flaky_commits, COUNT(*),
    TOTAL(CASE WHEN f > 0 AND s > 0 THEN f END) AS failures,
    TOTAL(CASE WHEN f > 0 AND s > 0 THEN s END),
    MAX(CASE WHEN f > 0 AND s > 0 THEN last END)
FROM c GROUP BY repo, workflow_key, key
HAVING flaky_commits > 0
ORDER BY flaky_commits DESC, failures DESC, key
LIMIT :limit
"""  # noqa: S608
