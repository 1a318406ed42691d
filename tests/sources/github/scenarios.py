"""Named GitHub Actions histories for the tests, the cassettes and the benchmarks.

Every value is ours; every body has the shape of the real ones (`github_bodies`).
"""

from __future__ import annotations

from typing import Any

from tests.servers.github import GitHubModel
from tests.servers.github_bodies import T0, job_body, run_body, standard_steps, step

OWNER, NAME = "acme", "widgets"
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR

MATRIX_RUN = 9001
RERUN_RUN = 9002
MANY_JOBS_RUN = 9003
SKIPPED_RUN = 9004
OUTCOMES_RUN = 9005
STARTUP_FAILURE_RUN = 9006
IN_PROGRESS_RUN = 9007
MANY_JOBS = 130


def _job(
    run: dict[str, Any],
    job_id: int,
    job_name: str,
    start: int,
    *,
    conclusion: str = "success",
    minutes: int = 3,
    attempt: int | None = None,
    queue: int = 20_000,
) -> dict[str, Any]:
    return job_body(
        OWNER,
        NAME,
        run,
        job_id,
        job_name,
        created=start - queue,
        started=start,
        completed=start + minutes * MIN,
        conclusion=conclusion,
        attempt=attempt,
        steps=standard_steps(start, conclusion if conclusion != "skipped" else "success"),
    )


def catalogue(base: int = T0) -> GitHubModel:
    """One repository holding every edge case the issue lists, one run each."""
    model = GitHubModel()
    add = model.add_attempt

    created = base + 1 * HOUR
    run = run_body(
        OWNER,
        NAME,
        MATRIX_RUN,
        created=created,
        run_number=101,
        conclusion="success",
        pr_number=42,
        event="pull_request",
        branch="feature/x",
    )
    jobs = [
        _job(run, 70_001 + i, f"test ({python}, {os})", created + 30_000 + i * 1000)
        for i, (python, os) in enumerate(
            [(p, o) for p in ("3.11", "3.12") for o in ("ubuntu-latest", "macos-latest")]
        )
    ]
    add(OWNER, NAME, run, jobs)

    created = base + 2 * HOUR
    first = run_body(
        OWNER,
        NAME,
        RERUN_RUN,
        created=created,
        run_number=102,
        conclusion="failure",
        updated=created + 10 * MIN,
    )
    build = _job(first, 71_001, "build", created + 30_000)
    test = _job(first, 71_002, "test", created + 4 * MIN, conclusion="failure")
    add(OWNER, NAME, first, [build, test])
    second_start = created + 30 * MIN
    second = run_body(
        OWNER,
        NAME,
        RERUN_RUN,
        created=created,
        run_number=102,
        attempt=2,
        started=second_start,
        conclusion="success",
        triggering_actor="re-runner",
    )
    # "Re-run failed jobs": attempt 2's list repeats build (ran in attempt 1) and holds a new test.
    add(OWNER, NAME, second, [build, _job(second, 71_003, "test", second_start + 40_000)])

    created = base + 3 * HOUR
    run = run_body(
        OWNER,
        NAME,
        MANY_JOBS_RUN,
        created=created,
        run_number=103,
        path=".github/workflows/matrix.yml@refs/heads/main",
        workflow="Big matrix",
    )
    add(
        OWNER,
        NAME,
        run,
        [
            _job(run, 72_000 + i, f"shard {i}", created + 60_000 + i * 1000, minutes=1)
            for i in range(MANY_JOBS)
        ],
    )

    created = base + 4 * HOUR
    run = run_body(OWNER, NAME, SKIPPED_RUN, created=created, run_number=104)
    skipped = job_body(
        OWNER,
        NAME,
        run,
        73_002,
        "deploy",
        created=created + 5 * MIN,
        started=None,
        completed=None,
        conclusion="skipped",
        steps=[],
        labels=(),
        runner=None,
        runner_group=None,
    )
    add(OWNER, NAME, run, [_job(run, 73_001, "build", created + 30_000), skipped])

    created = base + 5 * HOUR
    run = run_body(
        OWNER,
        NAME,
        OUTCOMES_RUN,
        created=created,
        run_number=105,
        conclusion="failure",
        event="schedule",
    )
    add(
        OWNER,
        NAME,
        run,
        [
            _job(run, 74_001, "unit", created + 30_000, conclusion="failure"),
            _job(run, 74_002, "lint", created + 30_000, conclusion="cancelled", minutes=1),
            _job(run, 74_003, "e2e", created + 30_000, conclusion="timed_out", minutes=30),
            job_body(
                OWNER,
                NAME,
                run,
                74_004,
                "flaky clock",
                created=created + 30_000,
                started=created + 60_000,
                completed=created + 50_000,
                conclusion="success",
                steps=[step(1, "Set up job", created + 60_000, created + 55_000)],
            ),
        ],
    )

    created = base + 6 * HOUR
    run = run_body(
        OWNER,
        NAME,
        STARTUP_FAILURE_RUN,
        created=created,
        run_number=106,
        conclusion="startup_failure",
        updated=created + 2000,
        path=".github/workflows/broken.yml",
        workflow=".github/workflows/broken.yml",
    )
    add(OWNER, NAME, run, [])

    created = base + 7 * HOUR
    run = run_body(
        OWNER,
        NAME,
        IN_PROGRESS_RUN,
        created=created,
        run_number=107,
        status="in_progress",
        conclusion=None,
    )
    add(
        OWNER,
        NAME,
        run,
        [
            _job(run, 76_001, "build", created + 30_000),
            job_body(
                OWNER,
                NAME,
                run,
                76_002,
                "test",
                created=created + 4 * MIN,
                started=created + 5 * MIN,
                completed=None,
                status="in_progress",
                conclusion=None,
                steps=[
                    step(
                        1,
                        "Set up job",
                        created + 5 * MIN,
                        None,
                        conclusion=None,
                        status="in_progress",
                    )
                ],
            ),
        ],
    )
    return model


def bulk(
    model: GitHubModel,
    count: int,
    start: int,
    spacing_ms: int,
    first_id: int = 100_000,
    jobs_per_run: int = 2,
    owner: str = OWNER,
    name: str = NAME,
) -> list[int]:
    """`count` finished one-attempt runs created every `spacing_ms` from `start`."""
    ids = []
    for n in range(count):
        run_id = first_id + n
        created = start + n * spacing_ms
        run = run_body(owner, name, run_id, created=created, run_number=n + 1)
        jobs = [
            job_body(
                owner,
                name,
                run,
                run_id * 10 + j,
                f"job {j}",
                created=created,
                started=created + 5000,
                completed=created + 65_000,
                steps=standard_steps(created + 5000),
            )
            for j in range(jobs_per_run)
        ]
        model.add_attempt(owner, name, run, jobs)
        ids.append(run_id)
    return ids
