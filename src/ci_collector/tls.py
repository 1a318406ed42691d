"""One TLS context per verification setting, shared by every httpx client of the process.

Building a verifying `ssl.SSLContext` parses the whole CA bundle (certifi's, or
``SSL_CERT_FILE``/``SSL_CERT_DIR`` as httpx reads them): 50-200 ms each time. httpx does it
for every client it makes, and a run makes one per platform and per sink, so the context is
built once per setting and reused. The environment is part of the key: a changed
``SSL_CERT_FILE`` gets its own context, never a stale one.
"""

from __future__ import annotations

import os
import ssl
import threading

import httpx

_contexts: dict[tuple[bool | str, str, str], ssl.SSLContext] = {}
_lock = threading.Lock()


def tls_context(verify: bool | str = True) -> ssl.SSLContext:
    """The context httpx would build for `verify` (True, False or a CA bundle path), cached."""
    key = (verify, os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    with _lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = _build(verify)
        return context


def _build(verify: bool | str) -> ssl.SSLContext:
    if isinstance(verify, str):  # a CA bundle: a file, or a directory of hashed certificates
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)
