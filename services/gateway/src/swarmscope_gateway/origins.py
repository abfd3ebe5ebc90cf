"""The WebSocket Origin allowlist: a browser page may open the socket only from an allowed origin.

Cross-site WebSocket hijacking works because browsers attach cookies and open sockets from any
page; the Origin header is the defence. Same-origin pages (the UI the gateway serves) are always
allowed; clients that send no Origin are not browsers and are left to authentication.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _normalize(origin: str) -> str | None:
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    port = port or _DEFAULT_PORTS[parts.scheme]
    return f"{_HTTP_SCHEME[parts.scheme]}://{parts.hostname}:{port}"


def origin_allowed(origin: str | None, *, host: str | None, scheme: str, allowed: tuple[str, ...]) -> bool:
    """True when a handshake with this Origin may proceed.

    `host` is the request's Host header and `scheme` its scheme (ws or wss), which together name
    the gateway's own origin.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    wanted = _normalize(origin)
    if wanted is None:
        return False
    if host:
        own = _normalize(f"{scheme}://{host}")
        if own is not None and own == wanted:
            return True
    return any(_normalize(candidate) == wanted for candidate in allowed)
