"""Re-record the Jenkins cassettes: ``python -m tests.sources.jenkins.record_cassettes``.

Recording runs the real collector against the loopback stand-in, then rewrites the
ephemeral ``127.0.0.1:PORT`` to a fixed host so replays match. Authorization headers
are filtered at record time; the token never reaches the file.
"""

from __future__ import annotations

from pathlib import Path

import vcr

from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.state import State
from tests.conftest import CASSETTES
from tests.servers.jenkins import running_jenkins
from tests.sources.jenkins.scenarios import APP, DEPLOY, populate

HOST = "jenkins.example.test:8080"
URL = f"http://{HOST}"
USER, TOKEN = "ci-bot", "recording-token-0123456789"
CASES: dict[str, tuple[str, ...]] = {
    "freestyle": (DEPLOY,),
    "pipeline": (APP,),
    "discovery": (),
}
"""Cassette name -> ``--job`` paths (empty: discover every job)."""


def record(name: str, jobs: tuple[str, ...], folder: Path = CASSETTES / "jenkins") -> Path:
    path = folder / f"{name}.yaml"
    path.unlink(missing_ok=True)
    with running_jenkins(USER, TOKEN) as server:
        populate(server)
        recorder = vcr.VCR(record_mode="all", filter_headers=["authorization"])
        with recorder.use_cassette(str(path)):
            client = JenkinsClient(server.url, USER, TOKEN, timeout=5)
            list(
                JenkinsCollector(client, JenkinsOptions(jobs=jobs))(State(":memory:"), SkipPolicy())
            )
        text = path.read_text(encoding="utf-8")
        port = server.url.rsplit(":", 1)[1]
    path.write_text(text.replace(f"127.0.0.1:{port}", HOST), encoding="utf-8")
    return path


def main() -> None:
    for name, jobs in CASES.items():
        print(record(name, jobs))


if __name__ == "__main__":
    main()
