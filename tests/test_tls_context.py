"""The shared TLS context: built once per setting, never stale after the trust store changes."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from ci_collector import tls
from ci_collector.sinks.trunk import TrunkSink
from ci_collector.tls import tls_context


def test_one_context_per_setting_is_reused() -> None:
    assert tls_context(True) is tls_context(True)
    assert tls_context(False) is tls_context(False)
    assert tls_context(True) is not tls_context(False)


def test_verifying_and_not_verifying_contexts_do_what_they_say() -> None:
    verifying, insecure = tls_context(True), tls_context(False)
    assert verifying.verify_mode == ssl.CERT_REQUIRED and verifying.check_hostname
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


def test_a_changed_ssl_cert_file_gets_its_own_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.pem", tmp_path / "second.pem"
    for bundle in (first, second):
        bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(first))
    from_first = tls_context(True)
    monkeypatch.setenv("SSL_CERT_FILE", str(second))
    from_second = tls_context(True)
    assert from_second is not from_first and from_second is tls_context(True)
    monkeypatch.setenv("SSL_CERT_FILE", str(first))
    assert tls_context(True) is from_first


def test_a_ca_bundle_path_is_loaded(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    assert tls_context(str(bundle)).cert_store_stats()["x509_ca"] > 0
    with pytest.raises(FileNotFoundError):
        tls_context(str(tmp_path / "missing.pem"))


def described(context: ssl.SSLContext) -> dict[str, object]:
    """What a context does with a peer: verification, protocols, options, trusted CAs."""
    return {
        "protocol": context.protocol,
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "verify_flags": context.verify_flags,
        "options": context.options,
        "versions": (context.minimum_version, context.maximum_version),
        "store": context.cert_store_stats(),
        "cas": sorted(str(ca.get("serialNumber")) for ca in context.get_ca_certs()),
    }


@pytest.mark.parametrize("environment", ["none", "SSL_CERT_FILE", "SSL_CERT_DIR", "both"])
@pytest.mark.parametrize("verify", [True, False])
def test_the_contexts_are_the_ones_httpx_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: str, verify: bool
) -> None:
    """httpx (CircleCI, OTLP) gets these contexts, and used to build them itself."""
    httpx = pytest.importorskip("httpx")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    bundle = tmp_path / "few.pem"
    certificates = Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")
    bundle.write_text(
        "-----END CERTIFICATE-----".join(certificates[:3]) + "-----END CERTIFICATE-----\n"
    )
    if environment in ("SSL_CERT_FILE", "both"):
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    if environment in ("SSL_CERT_DIR", "both"):
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    ours, theirs = described(tls_context(verify)), described(httpx.create_ssl_context(verify))
    assert ours == theirs
    if verify and environment in ("SSL_CERT_FILE", "both"):
        assert ours["store"] == {"x509": 3, "crl": 0, "x509_ca": 3}  # the bundle named, only


def test_a_trunk_sink_builds_a_context_only_for_an_https_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Reading the CA bundle costs 50 ms and more at every invocation: not for http://."""
    built: list[object] = []
    original = tls._build
    monkeypatch.setattr(tls, "_contexts", {})

    def counted(verify: bool | str) -> ssl.SSLContext:
        built.append(verify)
        return original(verify)

    monkeypatch.setattr(tls, "_build", counted)
    for variable in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(variable, raising=False)
    letters = tmp_path / "dead.jsonl"
    TrunkSink("t", "http://127.0.0.1:9", dead_letter_path=letters).close()
    assert built == []
    TrunkSink("t", "https://127.0.0.1:9", dead_letter_path=letters).close()
    assert built == [True]
