"""TLS: verified by default, and ``--insecure`` turns it off only with a warning.

The loopback stand-ins are served over HTTPS with a self-signed certificate for
127.0.0.1 (made with `cryptography`), which no trust store knows: a verifying client
must refuse it, and every client must accept it under ``--insecure``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ci_collector.errors import RemoteError
from ci_collector.sources.github.client import GitHubClient
from tests.conftest import run_cli
from tests.servers.base import LoopbackServer, Reply
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import T0
from tests.servers.jenkins import JenkinsStandIn, running_jenkins
from tests.servers.trunk import TOKEN as TRUNK_TOKEN
from tests.servers.trunk import TrunkStandIn
from tests.sources.github.scenarios import NAME, OWNER, bulk
from tests.sources.jenkins.scenarios import populate

WARNING = "WARNING TLS certificate verification is OFF (--insecure)"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ci-collector test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    context.__dict__["folder"] = str(folder)
    return context


@pytest.fixture(scope="module")
def tls_folder(tls: ssl.SSLContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where `tls` keeps its certificate (a CA bundle that trusts the stand-ins)."""
    return Path(str(tls.__dict__["folder"]))


def serve_tls(server: LoopbackServer, context: ssl.SSLContext) -> str:
    """Switch a not-yet-started loopback server to HTTPS; its https:// URL."""
    inner = server._server
    inner.socket = context.wrap_socket(inner.socket, server_side=True)
    return server.url.replace("http://", "https://")


@pytest.fixture
def github(tls: ssl.SSLContext) -> Iterator[str]:
    model = GitHubModel()
    bulk(model, 2, T0, 60_000)
    with running_github(model) as server:
        yield server.url


def collect(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--timeout", "2", "--retry-seconds", "0.5", env=env)


def test_a_self_signed_platform_is_refused_by_default_and_read_with_insecure(
    tls: ssl.SSLContext, tmp_path: Path
) -> None:
    model = GitHubModel()
    bulk(model, 2, T0, 60_000)
    server = GitHubServer(model)
    url = serve_tls(server.server, tls)
    with server.server:
        args = [
            "github",
            "--repo",
            f"{OWNER}/{NAME}",
            "--github-api-url",
            url,
            "--since",
            "2024-12-31",
            "--output",
            str(tmp_path / "o.jsonl"),
        ]
        refused = collect(*args)
        insecure = collect(*args, "--insecure")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"ci-collector: error: the TLS certificate of GitHub at {url} was not accepted "
        "(self-signed certificate); install its CA, or use --insecure if you trust this "
        "server\n"
    )
    assert insecure.returncode == 0, insecure.stderr
    assert insecure.stderr.splitlines()[0] == WARNING
    assert (tmp_path / "o.jsonl").read_text().count('"chainId"') > 0


def test_a_self_signed_trunk_is_refused_by_default_and_used_with_insecure(
    tls: ssl.SSLContext, tls_folder: Path, github: str, tmp_path: Path
) -> None:
    trunk = TrunkStandIn()
    url = serve_tls(trunk.server, tls)
    with trunk.server:
        args = [
            "github",
            "--repo",
            f"{OWNER}/{NAME}",
            "--github-api-url",
            github,
            "--since",
            "2024-12-31",
            "--trunk-url",
            url,
        ]
        env = {"TRUNK_API_TOKEN": TRUNK_TOKEN}
        refused = collect(*args, "--state", str(tmp_path / "a.sqlite"), env=env)
        assert refused.returncode == 1 and trunk.events == {}
        assert "the TLS certificate of Trunk at" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert "--trunk-ca-bundle" in refused.stderr
        platform_only = collect(*args, "--state", str(tmp_path / "c.sqlite"), "--insecure", env=env)
        assert platform_only.returncode == 1 and trunk.events == {}  # --insecure: platforms only
        assert "the TLS certificate of Trunk at" in platform_only.stderr
        insecure = collect(
            *args, "--state", str(tmp_path / "b.sqlite"), "--trunk-insecure", env=env
        )
        assert insecure.returncode == 0, insecure.stderr
        assert insecure.stderr.splitlines()[0] == (
            f"WARNING TLS verification for Trunk is OFF (--trunk-insecure): the Trunk token "
            f"goes to whoever answers at {url}"
        )
        assert len(trunk.events) > 0
        trunk.events.clear()
        bundle = collect(
            *args,
            "--state",
            str(tmp_path / "d.sqlite"),
            "--trunk-ca-bundle",
            str(tls_folder / "cert.pem"),
            env=env,
        )
    assert bundle.returncode == 0, bundle.stderr
    assert "WARNING" not in bundle.stderr
    assert len(trunk.events) > 0


def test_jenkins_and_circleci_accept_a_self_signed_server_only_with_insecure(
    tls: ssl.SSLContext, tmp_path: Path
) -> None:
    with running_jenkins() as plain:
        populate(plain)
        jobs, containers = plain.jobs, plain.containers
    jenkins = JenkinsStandIn()
    jenkins.jobs, jenkins.containers = jobs, containers
    jenkins_url = serve_tls(jenkins.server, tls)
    world = CircleCIWorld()
    circleci_url = serve_tls(world.server, tls) + "/api/v2"
    out = ["--output", str(tmp_path / "o.jsonl")]
    with jenkins.server, running_circleci(world):
        for args, env in (
            (["jenkins", "--url", jenkins_url, *out], {}),
            (
                [
                    "circleci",
                    "--project-slug",
                    "gh/acme/widgets",
                    "--circleci-api-url",
                    circleci_url,
                    *out,
                ],
                {"CIRCLECI_TOKEN": CIRCLECI_TOKEN},
            ),
        ):
            refused = collect(*args, "-q", env=env)
            assert refused.returncode == 1, refused.stderr
            assert len(refused.stderr.splitlines()) == 1, refused.stderr
            assert "TLS certificate" in refused.stderr and "(self-signed certificate)" in (
                refused.stderr
            )
            insecure = collect(*args, "--insecure", env=env)
            assert insecure.returncode == 0, insecure.stderr
            assert insecure.stderr.splitlines()[0] == WARNING


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_github_trusts_the_ca_bundle_requests_reads_from_the_environment(
    tls: ssl.SSLContext, tls_folder: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_COLLECTOR_RETRY_BASE", "0.001")  # the refused handshake's retries
    server = LoopbackServer(lambda request: Reply(200, b'{"ok": true}'))
    url = serve_tls(server, tls)
    with server:
        refused = GitHubClient(url, "ghp_tls-bundle-token-0000")
        with pytest.raises(RemoteError, match=r"TLS certificate of GitHub at .* not accepted"):
            refused.get("/repos/o/n")
        refused.close()
        insecure = GitHubClient(url, "ghp_tls-bundle-token-0000", verify=False)
        assert insecure.get("/repos/o/n") == {"ok": True}
        insecure.close()
        monkeypatch.setenv(variable, str(tls_folder / "cert.pem"))
        trusting = GitHubClient(url, "ghp_tls-bundle-token-0000")
        assert trusting.get("/repos/o/n") == {"ok": True}
        trusting.close()
    assert len(server.requests) == 2  # the refused one never got past the handshake
