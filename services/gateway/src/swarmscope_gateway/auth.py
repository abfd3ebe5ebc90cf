"""Who may call the API: API keys in a Bearer header, and short-lived stream tokens.

Browsers cannot put headers on an EventSource or a WebSocket, so an authenticated client asks
`POST /api/v1/auth/token` for a token and passes it as `?token=`. A token is
`v1.<expiry>.<key id>.<signature>`: HMAC-SHA256 over the first three parts. The key id is a
fingerprint of the API key that obtained it, so removing a key from the configuration also
invalidates the tokens it issued. API keys themselves are never accepted in a URL (URLs end up in
logs and browser history).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from swarmscope_gateway.errors import ApiError
from swarmscope_schema.requests import ErrorCode

TOKEN_VERSION = "v1"
_BEARER = "bearer "


def key_id(api_key: str) -> str:
    """A short public fingerprint of an API key (never the key)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API key's fingerprint, or `anonymous` when auth is off."""

    key_id: str

    @property
    def anonymous(self) -> bool:
        return self.key_id == "anonymous"


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: float  # epoch seconds


class Authenticator:
    """Checks credentials; open (everything allowed) when no API key is configured."""

    def __init__(self, api_keys: tuple[str, ...], *, secret: str = "", ttl_seconds: float = 300.0) -> None:
        self._keys = {key_id(k): k.encode() for k in api_keys}
        self._ttl = ttl_seconds
        if secret:
            self._secret = secret.encode()
        elif api_keys:
            # Derived from the keys, so replicas with the same keys accept each other's tokens.
            material = "\n".join(sorted(api_keys)).encode()
            self._secret = hashlib.sha256(b"swarmscope-stream-token\n" + material).digest()
        else:
            self._secret = secrets.token_bytes(32)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def authenticate(self, authorization: str | None, token: str | None = None) -> Principal:
        """The principal of a request; raises ApiError(unauthorized) when auth is on and the
        credentials are missing or wrong. `token` is the `?token=` query value, if the route
        accepts one."""
        if not self.enabled:
            return ANONYMOUS
        if authorization:
            if not authorization.lower().startswith(_BEARER):
                raise _unauthorized("the Authorization header must be 'Bearer <API key or token>'")
            credential = authorization[len(_BEARER) :].strip()
            principal = self._check_key(credential)
            if principal is not None:
                return principal
            if credential.startswith(TOKEN_VERSION + "."):
                return self.verify_token(credential)
            raise _unauthorized("unknown API key")
        if token:
            return self.verify_token(token)
        raise _unauthorized("an API key is required: send 'Authorization: Bearer <key>'")

    def authenticate_key(self, authorization: str | None) -> Principal:
        """Like authenticate, but only an API key will do (tokens cannot mint tokens)."""
        if not self.enabled:
            return ANONYMOUS
        if not authorization or not authorization.lower().startswith(_BEARER):
            raise _unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
        principal = self._check_key(authorization[len(_BEARER) :].strip())
        if principal is None:
            raise _unauthorized("unknown API key (a stream token cannot be used to get another)")
        return principal

    def issue_token(self, principal: Principal, ttl_seconds: float | None = None) -> IssuedToken:
        ttl = min(ttl_seconds or self._ttl, self._ttl)
        expires = int(time.time() + ttl)
        body = f"{TOKEN_VERSION}.{expires}.{principal.key_id}"
        return IssuedToken(token=f"{body}.{self._sign(body)}", expires_at=float(expires))

    def verify_token(self, token: str) -> Principal:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != TOKEN_VERSION:
            raise _unauthorized("malformed token")
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(body), parts[3]):
            raise _unauthorized("invalid token signature")
        try:
            expires = int(parts[1])
        except ValueError:
            raise _unauthorized("malformed token") from None
        if expires < time.time():
            raise _unauthorized("token expired; ask POST /api/v1/auth/token for a new one")
        if self.enabled and parts[2] not in self._keys:
            raise _unauthorized("the API key that issued this token is no longer configured")
        return Principal(parts[2])

    def _check_key(self, credential: str) -> Principal | None:
        candidate = credential.encode()
        for kid, key in self._keys.items():
            if hmac.compare_digest(candidate, key):
                return Principal(kid)
        return None

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": 'Bearer realm="swarmscope"'}
    )
