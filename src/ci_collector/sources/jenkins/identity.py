"""Which Jenkins server a build belongs to, as one string whatever the user typed."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def server_identity(url: str) -> str:
    """The server's part of every natural key: one string for every spelling of its URL.

    Lower-case host, no user or password (credentials never reach an id), no default
    port (80 for http, 443 for https), and the path prefix without trailing slashes:
    ``https://user:TOKEN@CI.Acme.com:443/jenkins/`` is ``ci.acme.com/jenkins``.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    path = "/".join(segment for segment in parts.path.split("/") if segment)
    return f"{host}/{path}".rstrip("/").lower()
