"""What a credential may do: scopes, the API keys of `SWARMSCOPE_API_KEYS`, and what each endpoint
requires (CONTRACT §7, v1.1).

Scopes:
- `ingest`: write events (POST /api/v1/ingest and every other event edge: OTLP, hooks). Reads nothing.
- `read`: every read: GETs, live streams, state, the debugger's POSTs that compute without writing
  (breakpoints, watch), stream tokens.
- `metrics`: `/metrics` on the API port (for a Prometheus scraper that should read nothing else).
- `admin`: everything, including dead letters (they hold payloads as they arrived), import and
  replay into a new session.

`SWARMSCOPE_API_KEYS` is a comma-separated list of entries `<key>` or `<key>:<scope>[+<scope>…]`. A
bare key has every scope (what every key meant before scopes existed). An entry is read as scoped
when the text after its last `:` consists of lower-case letters and `+` only; then each part must be
a known scope, otherwise the gateway refuses to start (a typo never turns into a full-access key).
A bare key that itself ends in `:<lower-case word>` is written `<key>:admin`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    METRICS = "metrics"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
MIN_KEY_CHARS = 8
_SCOPE_SUFFIX = re.compile(r"^[a-z+]+$")


def key_id(api_key: str) -> str:
    """A short public fingerprint of an API key (never the key)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its secret, its fingerprint and what it may do."""

    secret: str
    scopes: frozenset[Scope]

    @property
    def key_id(self) -> str:
        return key_id(self.secret)

    def __repr__(self) -> str:  # never the secret, whatever logs it
        return f"ApiKey(key_id={self.key_id!r}, scopes={sorted(self.scopes)})"


def grants(held: frozenset[Scope], required: frozenset[Scope]) -> bool:
    """Whether scopes `held` satisfy every scope in `required` (admin satisfies all)."""
    return Scope.ADMIN in held or required <= held


def parse_api_key(entry: str, position: int) -> ApiKey:
    """One entry of SWARMSCOPE_API_KEYS; ValueError naming the entry by position (never its text)."""
    entry = entry.strip()
    secret, sep, suffix = entry.rpartition(":")
    if sep and secret and _SCOPE_SUFFIX.match(suffix):
        scopes: set[Scope] = set()
        for part in suffix.split("+"):
            try:
                scopes.add(Scope(part))
            except ValueError:
                known = ", ".join(s.value for s in Scope)
                raise ValueError(
                    f"API key #{position}: unknown scope {part!r} (known: {known}; a key that itself "
                    "ends in ':<word>' is written '<key>:admin')"
                ) from None
    else:
        secret, scopes = entry, set(ALL_SCOPES)
    if len(secret) < MIN_KEY_CHARS:
        raise ValueError(f"API key #{position}: a key needs at least {MIN_KEY_CHARS} characters")
    return ApiKey(secret=secret, scopes=frozenset(scopes))


def parse_api_keys(entries: Iterable[str]) -> tuple[ApiKey, ...]:
    """Every entry of SWARMSCOPE_API_KEYS; ValueError when one is unusable or a key repeats."""
    keys = tuple(parse_api_key(entry, i) for i, entry in enumerate(entries, start=1))
    seen: set[str] = set()
    for position, key in enumerate(keys, start=1):
        if key.secret in seen:
            raise ValueError(f"API key #{position}: the same key is configured twice")
        seen.add(key.secret)
    return keys


# How a stream token may open an endpoint:
# - "session": the token must be bound to the path's session_id (a session's SSE, its export);
# - "list": a token bound to `*` opens it whole; a token bound to one session opens it only as far as
#   that session (`/stream?session=<it>`, WebSocket subscriptions to it);
# - "none": stream tokens are refused.
TokenUse = Literal["none", "session", "list"]

LIST_TARGET = "*"


@dataclass(frozen=True)
class Access:
    """What an endpoint requires: `scopes` (empty = public, no credential at all), and how a stream
    token may open it (`stream`, see TokenUse)."""

    scopes: frozenset[Scope]
    stream: TokenUse = "none"

    @property
    def public(self) -> bool:
        return not self.scopes

    @property
    def label(self) -> str:
        return "public" if self.public else "+".join(sorted(s.value for s in self.scopes))


PUBLIC = Access(frozenset())
READ = Access(frozenset({Scope.READ}))
INGEST = Access(frozenset({Scope.INGEST}))
ADMIN = Access(frozenset({Scope.ADMIN}))
METRICS = Access(frozenset({Scope.METRICS}))


def needs(*scopes: Scope, stream: TokenUse = "none") -> Access:
    """An Access requiring every one of `scopes`; `stream` says how a stream token may open it."""
    if not scopes:
        raise ValueError("a protected endpoint needs at least one scope; use PUBLIC for none")
    return Access(frozenset(scopes), stream)


def token_covers(bound_to: str, use: TokenUse, session_id: str | None) -> bool:
    """Whether a token bound to `bound_to` (a session id or `*`) opens an endpoint of `use` for
    `session_id` (the one session the request is confined to; None = every session)."""
    if use == "none":
        return False
    if use == "session":
        return session_id is not None and bound_to == session_id
    return bound_to == LIST_TARGET or (session_id is not None and bound_to == session_id)
