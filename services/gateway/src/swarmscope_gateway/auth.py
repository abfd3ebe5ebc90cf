"""Who is calling and whether they may: API keys in a Bearer header, and stream tokens.

Browsers cannot put headers on an EventSource or a WebSocket, so an authenticated client asks
`POST /api/v1/auth/token` for a token bound to one session (or `*`, the list stream) and passes it
as `?token=`. Tokens travel in URLs, which end up in logs, proxies and browser history, so a token
is worth as little as possible: read-only, short-lived, and opening only the stream it was issued
for — every other endpoint refuses it, in the header as in the query. A token is
`v2.<expiry>.<key id>.<session or *>.<signature>`: HMAC-SHA256 over the first four parts. The key id
is a fingerprint of the API key that obtained it, so removing that key (or its `read` scope) from the
configuration also invalidates its tokens. API keys themselves are never accepted in a URL, and
never logged: they are compared in constant time and known elsewhere only by their fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from swarmscope_gateway.access import (
    ALL_SCOPES,
    LIST_TARGET,
    Access,
    ApiKey,
    Scope,
    grants,
    token_covers,
)
from swarmscope_gateway.errors import ApiError
from swarmscope_schema.events import NAME_PATTERN
from swarmscope_schema.requests import ErrorCode

TOKEN_VERSION = "v2"
_BEARER = "bearer "
_SESSION_ID = re.compile(NAME_PATTERN)
_TOKEN_SHAPE = re.compile(r"^v[0-9]+\.")
# Read-only: the scopes a stream token can stand in for.
_TOKEN_SCOPES = frozenset({Scope.READ})


class Refusal(StrEnum):
    """Why a request was refused (the `reason` label of swarmscope_gateway_auth_failures_total)."""

    MISSING = "missing"  # no credential
    INVALID = "invalid"  # unknown key, bad or expired token
    SCOPE = "scope"  # a key without the scope the endpoint needs
    TOKEN = "token"  # a stream token outside the stream it was issued for


class AuthError(ApiError):
    def __init__(self, refusal: Refusal, message: str) -> None:
        if refusal in (Refusal.MISSING, Refusal.INVALID):
            super().__init__(
                ErrorCode.UNAUTHORIZED,
                message,
                headers={"WWW-Authenticate": 'Bearer realm="swarmscope"'},
            )
        else:
            super().__init__(ErrorCode.FORBIDDEN, message)
        self.refusal = refusal


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API key (by fingerprint) with its scopes, a stream token bound to a
    session (`token_target`), or `anonymous` when auth is off."""

    key_id: str
    scopes: frozenset[Scope]
    token_target: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.key_id == "anonymous"

    @property
    def is_token(self) -> bool:
        return self.token_target is not None


ANONYMOUS = Principal("anonymous", ALL_SCOPES)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    target: str
    expires_at: float  # epoch seconds


class Authenticator:
    """Checks credentials; open (everything allowed) when no API key is configured."""

    def __init__(self, api_keys: Sequence[ApiKey], *, secret: str = "", ttl_seconds: float = 300.0) -> None:
        self._keys = {key.key_id: key for key in api_keys}
        self._digests = [(hashlib.sha256(key.secret.encode()).digest(), key) for key in api_keys]
        self._ttl = ttl_seconds
        if secret:
            self._secret = secret.encode()
        elif api_keys:
            # Derived from the keys, so replicas with the same keys accept each other's tokens.
            material = "\n".join(sorted(key.secret for key in api_keys)).encode()
            self._secret = hashlib.sha256(b"swarmscope-stream-token\n" + material).digest()
        else:
            self._secret = secrets.token_bytes(32)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def identify(self, authorization: str | None, token: str | None = None) -> Principal:
        """The principal of a request; AuthError(401) when auth is on and the credentials are
        missing or wrong. `token` is the `?token=` value, passed only where tokens are accepted."""
        if not self.enabled:
            return ANONYMOUS
        if authorization:
            if not authorization.lower().startswith(_BEARER):
                raise AuthError(
                    Refusal.INVALID, "the Authorization header must be 'Bearer <API key or token>'"
                )
            credential = authorization[len(_BEARER) :].strip()
            key = self._match_key(credential)
            if key is not None:
                return Principal(key.key_id, key.scopes)
            if _TOKEN_SHAPE.match(credential):
                return self.verify_token(credential)
            raise AuthError(Refusal.INVALID, "unknown API key")
        if token:
            return self.verify_token(token)
        raise AuthError(Refusal.MISSING, "an API key is required: send 'Authorization: Bearer <key>'")

    def authorize(self, principal: Principal, access: Access, session_id: str | None = None) -> None:
        """Raises AuthError(403) unless `principal` may use an endpoint of `access`, for the one
        session the request is confined to (`session_id`; None = every session)."""
        if access.public:
            return
        if principal.token_target is not None:
            if not access.scopes <= _TOKEN_SCOPES or not token_covers(
                principal.token_target, access.stream, session_id
            ):
                raise AuthError(Refusal.TOKEN, _token_refusal(principal.token_target, access))
            return
        if not grants(principal.scopes, access.scopes):
            held = ", ".join(sorted(principal.scopes)) or "none"
            raise AuthError(
                Refusal.SCOPE,
                f"this API key lacks the scope {access.label!r} (it has: {held})",
            )

    def issue_token(self, principal: Principal, target: str, ttl_seconds: float | None = None) -> IssuedToken:
        """A stream token for `target` (a session id or `*`), for a principal that holds `read`
        through an API key (a token cannot mint another)."""
        if principal.is_token:
            raise AuthError(Refusal.TOKEN, "a stream token cannot be used to get another; send an API key")
        if not grants(principal.scopes, _TOKEN_SCOPES):
            raise AuthError(Refusal.SCOPE, "a stream token needs an API key with the scope 'read'")
        if target != LIST_TARGET and not _SESSION_ID.match(target):
            raise ApiError(ErrorCode.BAD_REQUEST, "session_id: a session id or * (the list stream)")
        ttl = min(ttl_seconds or self._ttl, self._ttl)
        expires = int(time.time() + ttl)
        body = f"{TOKEN_VERSION}.{expires}.{principal.key_id}.{target}"
        return IssuedToken(token=f"{body}.{self._sign(body)}", target=target, expires_at=float(expires))

    def verify_token(self, token: str) -> Principal:
        """The principal a stream token stands for; AuthError(401) when it is not a valid one."""
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != TOKEN_VERSION:
            raise AuthError(
                Refusal.INVALID, "malformed or outdated stream token; ask POST /api/v1/auth/token"
            )
        body = ".".join(parts[:4])
        if not hmac.compare_digest(self._sign(body), parts[4]):
            raise AuthError(Refusal.INVALID, "invalid token signature")
        try:
            expires = int(parts[1])
        except ValueError:
            raise AuthError(Refusal.INVALID, "malformed stream token") from None
        if expires < time.time():
            raise AuthError(Refusal.INVALID, "token expired; ask POST /api/v1/auth/token for a new one")
        key = self._keys.get(parts[2])
        if self.enabled and (key is None or not grants(key.scopes, _TOKEN_SCOPES)):
            raise AuthError(
                Refusal.INVALID, "the API key that issued this token is no longer configured to read"
            )
        return Principal(parts[2], _TOKEN_SCOPES, token_target=parts[3])

    def _match_key(self, credential: str) -> ApiKey | None:
        # Equal-length digests compared with compare_digest, and every key compared (no early exit):
        # neither the time taken nor the length compared says anything about a configured key.
        candidate = hashlib.sha256(credential.encode()).digest()
        found: ApiKey | None = None
        for digest, key in self._digests:
            if hmac.compare_digest(candidate, digest):
                found = key
        return found

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _token_refusal(target: str, access: Access) -> str:
    where = "the list stream" if target == LIST_TARGET else f"the stream of session {target!r}"
    if access.stream == "none":
        return f"a stream token opens only {where}; send an API key for this endpoint"
    return f"this stream token opens only {where}"
