"""The shared TLS context: built once per setting, never stale after the trust store changes."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

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
