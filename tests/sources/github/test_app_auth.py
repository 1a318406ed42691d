"""GitHub App authentication against a stand-in that checks JWT signatures and token expiry.

The app's RSA key is generated per test (no private key is ever committed); the stand-in
knows only the public half.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ci_collector.errors import UserError
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.github.app import (
    AppCredentials,
    InstallationAuth,
    installations_for,
    integration,
)
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.state import State
from tests.conftest import run_cli
from tests.recorded_runs import only_runs
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_app import GitHubAppLayer
from tests.sources.github import scenarios as sc

APP_ID = 424242
INSTALLATION = 9001
OTHER_INSTALLATION = 9002


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class World:
    server: GitHubServer
    app: GitHubAppLayer
    now: list[float]


@pytest.fixture
def world(app_key: rsa.RSAPrivateKey) -> Iterator[World]:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now_ms - now_ms % sc.HOUR - 10 * sc.HOUR
    model: GitHubModel = sc.catalogue(base)
    sc.bulk(model, 40, base - 2 * sc.DAY, spacing_ms=7 * sc.MIN, jobs_per_run=1)
    sc.bulk(model, 3, base - sc.DAY, sc.HOUR, first_id=900_000, owner="elsewhere", name="tool")
    now = [datetime.now(timezone.utc).timestamp()]
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    installations = {sc.OWNER: INSTALLATION, "elsewhere": OTHER_INSTALLATION}
    app = GitHubAppLayer(APP_ID, public, installations, clock=lambda: now[0])
    with running_github(model) as server:
        server.server.intercept = app
        yield World(server, app, now)


def collect_in_process(world: World, key: str, *, ttl: float, step: float) -> list[str]:
    """A backfill whose every API request moves the stand-in's clock `step` seconds."""
    world.app.token_ttl = ttl
    inner = world.app.__call__

    def ticking(request, handle):  # type: ignore[no-untyped-def]
        world.now[0] += step
        return inner(request, handle)

    world.server.server.intercept = ticking
    app = integration(AppCredentials(str(APP_ID), key), world.server.url, timeout=10, verify=True)
    [installation] = installations_for(app, [(sc.OWNER, sc.NAME)], [])
    auth = InstallationAuth(app, installation, clock=lambda: world.now[0])
    client = GitHubClient(world.server.url, auth=auth)
    since = datetime.now(timezone.utc) - timedelta(days=4)
    query = GitHubQuery(repos=(f"{sc.OWNER}/{sc.NAME}",), since=since)
    collector = GitHubCollector(client, query, concurrency=4)
    try:
        keys = [run.natural_key for run in only_runs(collector(State(":memory:"), SkipPolicy()))]
    finally:
        client.close()
    world.refreshed = auth.refreshed  # type: ignore[attr-defined]
    return keys


@pytest.mark.parametrize(("ttl", "step"), [(900, 30), (600, 20), (450, 15)])
def test_a_token_expiring_mid_backfill_is_renewed_before_it_expires(
    world: World, app_key: rsa.RSAPrivateKey, ttl: float, step: float
) -> None:
    keys = collect_in_process(world, private_pem(app_key), ttl=ttl, step=step)
    assert len(keys) == 40 + 7 and len(set(keys)) == len(keys)
    assert world.app.rejected == []  # no request ever went out with an expired token
    api = world.app.counts["api"]
    assert api * step > ttl  # the backfill outlived the first token
    assert world.refreshed >= 2  # type: ignore[attr-defined]
    assert world.app.counts["access_token"] == world.refreshed  # type: ignore[attr-defined]


def test_without_renewal_the_stand_in_refuses_the_expired_token(
    world: World, app_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ci_collector.sources.github.app.REFRESH_MARGIN_SECONDS", 0.0)
    monkeypatch.setattr(
        InstallationAuth, "token", property(lambda self: self._token or _once(self))
    )
    with pytest.raises(Exception, match=r"rejected|401"):
        collect_in_process(world, private_pem(app_key), ttl=600, step=120)
    assert any("expired" in why for why in world.app.rejected)


def _once(auth: InstallationAuth) -> str:
    auth._renew()
    return auth._token


def cli(world: World, tmp_path: Path, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return run_cli(
        "github",
        "--github-api-url",
        world.server.url,
        "--output",
        str(tmp_path / "out.jsonl"),
        *args,
        env={"GITHUB_TOKEN": "ghp_personal-token-that-must-not-be-used", **env},
    )


@pytest.mark.parametrize("key_from", ["file", "env"])
def test_cli_authenticates_as_the_app_and_never_shows_the_key_or_tokens(
    world: World, app_key: rsa.RSAPrivateKey, tmp_path: Path, key_from: str
) -> None:
    pem = private_pem(app_key)
    env = {"GITHUB_APP_ID": str(APP_ID)}
    if key_from == "file":
        (tmp_path / "app.pem").write_text(pem)
        env["GITHUB_APP_PRIVATE_KEY_FILE"] = str(tmp_path / "app.pem")
    else:
        env["GITHUB_APP_PRIVATE_KEY"] = pem
    done = cli(world, tmp_path, "--repo", f"{sc.OWNER}/{sc.NAME}", "-v", **env)
    assert done.returncode == 0, done.stderr
    assert world.app.rejected == []
    assert world.app.counts["repo_installation"] == 1 and world.app.counts["access_token"] == 1
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert sum(len(json.loads(line)["events"]) for line in lines) > 40
    seen = done.stdout + done.stderr + (tmp_path / "out.jsonl").read_text()
    for token in world.app.tokens:
        assert token not in seen
    assert "PRIVATE KEY" not in seen and pem.splitlines()[1] not in seen


def test_org_installation_is_found_by_the_organisation(
    world: World, app_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    done = cli(
        world,
        tmp_path,
        "--org",
        "elsewhere",
        GITHUB_APP_ID=str(APP_ID),
        GITHUB_APP_PRIVATE_KEY=private_pem(app_key),
    )
    assert done.returncode == 0, done.stderr
    assert world.app.counts["org_installation"] == 1 and world.app.rejected == []


@pytest.mark.parametrize(
    "args",
    [
        ["--repo", f"{sc.OWNER}/{sc.NAME}", "--repo", "elsewhere/tool"],
        ["--repo", "elsewhere/tool", "--repo", f"{sc.OWNER}/{sc.NAME}"],
        ["--org", "elsewhere", "--repo", f"{sc.OWNER}/{sc.NAME}"],
    ],
)
def test_each_installation_is_collected_with_its_own_token(
    world: World, app_key: rsa.RSAPrivateKey, tmp_path: Path, args: list[str]
) -> None:
    done = cli(
        world,
        tmp_path,
        *args,
        GITHUB_APP_ID=str(APP_ID),
        GITHUB_APP_PRIVATE_KEY=private_pem(app_key),
    )
    assert done.returncode == 0, done.stderr
    assert world.app.rejected == []  # the stand-in refuses a token of another installation
    assert world.app.counts["access_token"] == 2
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    owners = {json.loads(line)["repo"]["owner"] for line in lines}
    assert owners == {sc.OWNER, "elsewhere"}


@pytest.mark.parametrize(
    ("args", "env_key", "expected"),
    [
        (["--repo", "nobody/here"], "right", "not installed for --repo nobody/here"),
        (["--repo", f"{sc.OWNER}/{sc.NAME}"], "wrong", "rejected the GitHub App"),
        (["--repo", f"{sc.OWNER}/{sc.NAME}"], "garbage", "not a PEM private key"),
    ],
)
def test_app_problems_are_one_line_usage_errors(
    world: World,
    app_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    args: list[str],
    env_key: str,
    expected: str,
) -> None:
    keys = {
        "right": private_pem(app_key),
        "wrong": private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "garbage": "not a key at all",
    }
    done = cli(
        world, tmp_path, *args, GITHUB_APP_ID=str(APP_ID), GITHUB_APP_PRIVATE_KEY=keys[env_key]
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "PRIVATE KEY" not in done.stderr


@pytest.mark.parametrize(
    ("app_id", "key_file", "key_text"),
    [("1", None, None), (None, None, "-----BEGIN PRIVATE KEY-----"), ("x1", None, "PRIVATE KEY")],
)
def test_credentials_need_both_halves_and_a_numeric_id(
    app_id: str | None, key_file: str | None, key_text: str | None
) -> None:
    with pytest.raises(UserError):
        AppCredentials.from_options(app_id, key_file, key_text)


def test_a_missing_key_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        AppCredentials.from_options("1", str(tmp_path / "absent.pem"), None)
    assert AppCredentials.from_options(None, None, None) is None
