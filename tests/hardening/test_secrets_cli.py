"""No token in any byte the collector writes, at ``-vv``, through every kind of failure.

Each platform's real command runs against its loopback stand-in and a Trunk stand-in
with recognisable tokens, through 5xx, 429, rate limits, dropped connections, a body
Trunk refuses (400, so a dead-letter file is written) and rejected tokens (401). Then
stdout, stderr and every file in the working directory (state, lock, dead letters,
--output) are searched for each token, its base64 forms (Basic auth) and its URL form.
The committed cassettes are searched for the tokens they were recorded with.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import CASSETTES, ROOT, run_cli
from tests.servers.base import Reply, Request
from tests.servers.circleci import TOKEN as CIRCLECI_SERVER_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubModel, running_github
from tests.servers.github_bodies import T0
from tests.servers.jenkins import running_jenkins
from tests.servers.trunk import TrunkStandIn, running_trunk
from tests.sources.github.scenarios import NAME, OWNER, bulk
from tests.sources.jenkins.scenarios import populate

GITHUB_TOKEN = "ghp_SECRET_github_0123456789"
TRUNK_TOKEN = "trunk_SECRET_trunk_0123456789"
JENKINS_USER, JENKINS_TOKEN = "ci-bot", "jenkins_SECRET_0123456789"
CIRCLECI_TOKEN = "circle_SECRET_circleci_0123456789"


def forms(secret: str, user: str | None = None) -> list[bytes]:
    """The token as it could leak: raw, base64 (alone and as Basic user:token), quoted."""
    found = [secret.encode(), base64.b64encode(secret.encode()), quote(secret).encode()]
    if user is not None:
        found.append(base64.b64encode(f"{user}:{secret}".encode()))
    return found


LEAKS = [
    *forms(GITHUB_TOKEN),
    *forms(TRUNK_TOKEN),
    *forms(JENKINS_TOKEN, JENKINS_USER),
    *forms(CIRCLECI_TOKEN),
]


class Written:
    """Everything the CLI wrote in a test: its streams and the files of its directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.streams: list[bytes] = []
        self.codes: list[int] = []
        self.errors: list[list[str]] = []

    def run(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        result = run_cli(
            *args,
            "-vv",
            "--retry-seconds",
            "5",
            "--timeout",
            "1",
            "--dead-letter",
            str(self.workdir / "dead.jsonl"),
            env={"CI_COLLECTOR_RETRY_BASE": "0.01", **env},  # as many retries, paced in ms
            cwd=self.workdir,
        )
        self.streams += [result.stdout.encode(), result.stderr.encode()]
        self.codes.append(result.returncode)
        self.errors.append(result.stderr.splitlines()[-1:])
        return result

    def leaks(self) -> list[str]:
        blobs = {"stdout/stderr": b"\n".join(self.streams)}
        for path in self.workdir.rglob("*"):
            if path.is_file():
                blobs[path.name] = path.read_bytes()
        assert any(name.startswith("state") for name in blobs), "the state file was written"
        return [
            f"{form!r} in {name}" for name, blob in blobs.items() for form in LEAKS if form in blob
        ]


def faults(*replies: Reply) -> Callable[[Request, Callable[[], Reply]], Reply]:
    """Answer the first requests with `replies`, then for real."""
    queue = list(replies)

    def intercept(request: Request, real: Callable[[], Reply]) -> Reply:
        return queue.pop(0) if queue else real()

    return intercept


def trouble() -> list[Reply]:
    return [
        Reply(500, b'{"message":"boom"}'),
        Reply(429, b"{}", {"Retry-After": "0"}),
        Reply(drop=True),
    ]


@pytest.fixture
def trunk() -> Iterator[TrunkStandIn]:
    with running_trunk(TRUNK_TOKEN) as stand_in:
        stand_in.faults += [Reply(503), Reply(400, b'{"error":"refused"}')]
        yield stand_in


def test_github_at_vv_through_failures_leaks_no_token(trunk: TrunkStandIn, tmp_path: Path) -> None:
    written = Written(tmp_path)
    model = GitHubModel()
    bulk(model, 3, T0, 3_600_000)
    with running_github(model) as github:
        github.server.intercept = faults(
            *trouble(),
            Reply(
                403,
                b'{"message":"API rate limit"}',
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"},
            ),
        )
        base = [
            "github",
            "--repo",
            f"{OWNER}/{NAME}",
            "--github-api-url",
            github.url,
            "--since",
            "2024-12-31",
            "--max-wait",
            "2",
        ]
        env = {"GITHUB_TOKEN": GITHUB_TOKEN, "TRUNK_API_TOKEN": TRUNK_TOKEN}
        sent = written.run(
            *base, "--trunk-url", trunk.url, "--state", "state.sqlite", "--batch-size", "2", env=env
        )
        assert (
            '"GET /repos/' in sent.stderr
            and f"POST {trunk.url}/v1/metrics/trackEvents: HTTP " in sent.stderr
        )  # -vv
        written.run(*base, "--output", "out.jsonl", env=env)
        github.server.intercept = faults(Reply(401, b'{"message":"Bad credentials"}'))
        written.run(*base, "--output", "out401.jsonl", env=env)
        written.run(
            *base,
            "--trunk-url",
            trunk.url,
            "--state",
            "state.sqlite",
            env={**env, "TRUNK_API_TOKEN": TRUNK_TOKEN + "x"},
        )  # Trunk answers 401
    assert written.codes == [1, 0, 1, 1]  # dead letter, dry run, GitHub 401, Trunk 401
    assert (tmp_path / "dead.jsonl").exists() and trunk.events
    assert written.leaks() == []


def test_jenkins_at_vv_through_failures_leaks_no_token(trunk: TrunkStandIn, tmp_path: Path) -> None:
    written = Written(tmp_path)
    with running_jenkins(JENKINS_USER, JENKINS_TOKEN) as jenkins:
        populate(jenkins)
        jenkins.server.intercept = faults(Reply(502), Reply(drop=True))
        env = {
            "JENKINS_USER": JENKINS_USER,
            "JENKINS_API_TOKEN": JENKINS_TOKEN,
            "TRUNK_API_TOKEN": TRUNK_TOKEN,
        }
        written.run(
            "jenkins",
            "--url",
            jenkins.url,
            "--trunk-url",
            trunk.url,
            "--state",
            "state.sqlite",
            "--batch-size",
            "3",
            env=env,
        )
        written.run("jenkins", "--url", jenkins.url, "--output", "out.jsonl", env=env)
        written.run(
            "jenkins",
            "--url",
            jenkins.url,
            "--output",
            "out401.jsonl",
            env={**env, "JENKINS_API_TOKEN": JENKINS_TOKEN + "x"},
        )
    assert written.codes == [1, 0, 2]  # dead letter, dry run, refused credentials
    assert written.leaks() == []


def test_circleci_at_vv_through_failures_leaks_no_token(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    written = Written(tmp_path)
    world = CircleCIWorld()
    now = datetime.now(timezone.utc)
    for number in (1, 2):
        created = now - timedelta(hours=number)
        pipeline = world.add_pipeline(number, created)
        workflow = world.add_workflow(
            pipeline, f"wf-{number}", "ci", "success", created, created + timedelta(minutes=2)
        )
        world.add_job(workflow, "build", "success", created, created + timedelta(minutes=2))
    pending = trouble()[::2]  # a 500 and a drop: a third would outlast --retry-seconds

    def accept_our_token(request: Request, real: Callable[[], Reply]) -> Reply:
        if pending:
            return pending.pop(0)
        if request.headers.get("circle-token") == CIRCLECI_TOKEN:
            request.headers["circle-token"] = CIRCLECI_SERVER_TOKEN
        return real()

    with running_circleci(world):
        world.server.intercept = accept_our_token
        base = [
            "circleci",
            "--project-slug",
            "gh/acme/widgets",
            "--circleci-api-url",
            world.api_url,
        ]
        env = {"CIRCLECI_TOKEN": CIRCLECI_TOKEN, "TRUNK_API_TOKEN": TRUNK_TOKEN}
        written.run(
            *base, "--trunk-url", trunk.url, "--state", "state.sqlite", "--batch-size", "1", env=env
        )
        written.run(*base, "--output", "out.jsonl", env=env)
        written.run(
            *base,
            "--output",
            "out401.jsonl",
            env={**env, "CIRCLECI_TOKEN": "circle_SECRET_wrong_0123456789"},
        )
    assert written.codes == [1, 0, 1], written.errors  # dead letter, dry run, rejected token
    assert written.leaks() == []
    assert b"circle_SECRET_wrong" not in b"".join(written.streams)


RECORDING_TOKENS = {
    "github": forms("ghp_cassette-recording-token-000000"),
    "jenkins": forms("recording-token-0123456789", "ci-bot"),
}


def test_cassettes_hold_no_token_and_no_credential_header() -> None:
    files = sorted(CASSETTES.rglob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        text = path.read_bytes()
        lowered = text.lower()
        for header in (b"authorization:", b"circle-token:", b"x-api-token:"):
            assert header not in lowered, f"{header!r} recorded in {path.relative_to(ROOT)}"
        for tokens in RECORDING_TOKENS.values():
            for form in tokens:
                assert form not in text, f"a recording token in {path.relative_to(ROOT)}"


def test_the_scan_finds_a_planted_token(tmp_path: Path) -> None:
    """The scan itself can fail: a Basic-auth header in a file is found."""
    written = Written(tmp_path)
    (tmp_path / "state.sqlite").write_bytes(b"")
    basic = base64.b64encode(f"{JENKINS_USER}:{JENKINS_TOKEN}".encode())
    (tmp_path / "trace.log").write_bytes(b"Authorization: Basic " + basic)
    written.streams.append(f"token={quote(CIRCLECI_TOKEN)}".encode())
    assert len(written.leaks()) == 3
