"""Which proxy a URL goes through, read from the environment as httpx (0.28) reads it.

The Trunk sink used to send through httpx and now sends through urllib3; a proxy set
for it (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, either case, and ``NO_PROXY``)
must keep applying exactly as before. httpx turns the variables into URL patterns
(``https://``, ``all://*example.com``...) and takes the most specific pattern that
matches: one with a port first, then the longest host, then the longest scheme. The
same rules are written here, so the choice does not depend on httpx being imported.

NO_PROXY entries: ``*`` turns every proxy off; ``example.com`` also covers its
subdomains, ``.example.com`` only its subdomains; an IP address, ``localhost`` or an
entry with a scheme (``http://example.com``) covers that host alone.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
"""Ports httpx leaves out of a URL (and so never matches against a pattern's port)."""


@dataclass(frozen=True)
class _Pattern:
    scheme: str
    host: str
    port: int | None
    host_regex: re.Pattern[str] | None

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme and self.scheme != scheme:
            return False
        if self.host and self.host_regex is not None and not self.host_regex.match(host):
            return False
        return self.port is None or self.port == port

    def priority(self) -> tuple[int, int, int]:
        return (0 if self.port is not None else 1, -len(self.host), -len(self.scheme))


def _pattern(text: str) -> _Pattern | None:
    """``scheme://host:port`` as httpx's ``URLPattern`` reads it; None if it is no URL."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = "" if parts.scheme == "all" else parts.scheme
    raw_host = parts.hostname or ""
    host = "" if raw_host == "*" else raw_host
    regex: re.Pattern[str] | None = None
    if host.startswith("*."):  # subdomains only
        regex = re.compile(f"^.+\\.{re.escape(host[2:])}$")
    elif host.startswith("*"):  # the domain and its subdomains
        regex = re.compile(f"^(.+\\.)?{re.escape(host[1:])}$")
    elif host:
        regex = re.compile(f"^{re.escape(host)}$")
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        port = None
    return _Pattern(scheme, host, port, regex)


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text.split("/")[0])
    except ValueError:
        return False
    return True


def environment_proxies() -> list[tuple[_Pattern, str | None]]:
    """The proxy (a URL, or None for "go direct") of each pattern, most specific first."""
    found = urllib.request.getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        proxy = found.get(scheme)
        if proxy:
            mounts[f"{scheme}://"] = proxy if "://" in proxy else f"http://{proxy}"
    for entry in (name.strip() for name in found.get("no", "").split(",")):
        if entry == "*":
            return []
        if not entry:
            continue
        if "://" in entry:
            mounts[entry] = None
        elif _is_ip(entry, ipaddress.IPv4Address) or entry.lower() == "localhost":
            mounts[f"all://{entry}"] = None
        elif _is_ip(entry, ipaddress.IPv6Address):
            mounts[f"all://[{entry}]"] = None
        else:
            mounts[f"all://*{entry}"] = None
    patterns = []
    for key, proxy in mounts.items():
        pattern = _pattern(key)
        if pattern is not None:
            patterns.append((pattern, proxy))
    return sorted(patterns, key=lambda item: item[0].priority())  # stable, as httpx's sort


def proxy_for(url: str) -> str | None:
    """The proxy URL (credentials included) the environment gives `url`; None: direct."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        port = None
    for pattern, proxy in environment_proxies():
        if pattern.matches(scheme, host, port):
            return proxy
    return None
