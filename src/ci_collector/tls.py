"""One TLS context per verification setting, shared by every HTTP client of the process.

Building a verifying `ssl.SSLContext` parses the whole CA bundle (certifi's, or
``SSL_CERT_FILE``/``SSL_CERT_DIR``): 50-200 ms each time. httpx does it for every client
it makes, and a run makes one per platform and per sink, so the context is built once
per setting and reused. The environment is part of the key: a changed ``SSL_CERT_FILE``
gets its own context, never a stale one.

The contexts are the ones ``httpx.create_ssl_context`` (httpx 0.28) builds, made here
with `ssl` and `certifi` so the clients that do not use httpx (the Trunk sink, urllib3)
never pay for importing it.
"""

from __future__ import annotations

import os
import ssl
import threading

import certifi

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
    if not verify:  # --insecure: no certificate check, no hostname check
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if os.environ.get("SSL_CERT_FILE"):  # the trust store the environment names, as httpx
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())
