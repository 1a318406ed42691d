"""Small hand-made CI histories, stored through the real mapper and StoreSink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ci_collector.eventstore import EventStore
from ci_collector.model import Conclusion, Node, Repo, Run
from ci_collector.pipeline import deliver
from ci_collector.report import Report, ReportQuery, build_report
from ci_collector.sinks import StoreSink

DAY = 86_400_000
S = 1000
T0 = 1_700_006_400_000  # 2023-11-15T00:00:00Z, a day boundary
C = Conclusion


@dataclass
class Job:
    name: str
    seconds: float
    conclusion: Conclusion = C.SUCCESS
    queue_s: float | None = None
    steps: Sequence[tuple[str, float]] = ()


@dataclass
class History:
    """Runs added with `run(...)`; `report(...)` stores them and reports."""

    runs: list[Run] = field(default_factory=list)

    def run(
        self,
        start_s: float,
        seconds: float,
        conclusion: Conclusion = C.SUCCESS,
        *,
        workflow: str = ".github/workflows/ci.yml",
        name: str = "CI",
        branch: str = "main",
        sha: str | None = None,
        attempt: int = 1,
        jobs: Sequence[Job] = (),
        repo: tuple[str, str] = ("o", "r"),
        platform: str = "github_actions",
        tags: dict[str, str | int] | None = None,
        run_id: int | None = None,
    ) -> Run:
        number = run_id if run_id is not None else len(self.runs) + 1
        key = f"github.com/{repo[0]}/{repo[1]}/actions/runs/{number}/attempts/{attempt}"
        start = T0 + int(start_s * S)
        children = []
        for index, job in enumerate(jobs):
            steps = [
                Node("step", step, f"steps/{n}", step, start, start + int(length * S), C.SUCCESS)
                for n, (step, length) in enumerate(job.steps)
            ]
            metrics = {"queue_ms": int(job.queue_s * S)} if job.queue_s is not None else {}
            children.append(
                Node(
                    "job",
                    job.name,
                    f"jobs/{index}",
                    job.name,
                    start,
                    start + int(job.seconds * S),
                    job.conclusion,
                    metrics=metrics,
                    children=steps,
                )
            )
        all_tags: dict[str, str | int] = {"branch": branch, "attempt": str(attempt)}
        if sha:
            all_tags["sha"] = sha
        all_tags.update(tags or {})
        root = Node(
            "workflow",
            name,
            "",
            workflow,
            start,
            start + int(seconds * S),
            conclusion,
            tags=all_tags,
            children=children,
        )
        made = Run(platform, Repo("github.com", *repo), key, root, "test", "fp")
        self.runs.append(made)
        return made

    def store(self, path: Path) -> Path:
        sink = StoreSink(path)
        deliver(self.runs, sink)
        sink.close()
        return path

    def report(
        self, path: Path, days: float = 30, end_s: float = 30 * 86_400, **filters: object
    ) -> Report:
        self.store(path)
        store = EventStore(path)
        try:
            end = T0 + int(end_s * S)
            query = ReportQuery(end - int(days * DAY), end, **filters)  # type: ignore[arg-type]
            return build_report(store.db, query, store.reader())
        finally:
            store.close()
