"""Credentials with scopes (CONTRACT §7 v1.1): the SWARMSCOPE_API_KEYS syntax, what each scope
grants, and stream tokens that are read-only, bound to one session (or the list stream),
short-lived and useless anywhere else. Unit tests; the route-table test in test_scopes.py checks
the same on a running gateway, for every endpoint."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from swarmscope_gateway.access import (
    ADMIN,
    ALL_SCOPES,
    INGEST,
    READ,
    Scope,
    key_id,
    needs,
    parse_api_keys,
)
from swarmscope_gateway.auth import Authenticator, AuthError, Principal, Refusal
from swarmscope_gateway.config import GatewaySettings
from swarmscope_gateway.errors import ApiError

KEY = "key-aaaaaaaa"


def authenticator(*entries: str, ttl: float = 60.0) -> Authenticator:
    return Authenticator(parse_api_keys(entries), ttl_seconds=ttl)


def test_api_key_syntax_is_backward_compatible_and_scoped() -> None:
    keys = parse_api_keys(
        [
            "bare-key-0001",
            "agent-key-0002:ingest",
            "viewer-key-003:read+metrics",
            "base64+/key==",  # not a scope list: a bare key, as before
            "Abc:Def-1234",  # the suffix is not lower-case letters: a bare key with a colon
            "user:pass:admin",  # a key ending in ':<word>' keeps working written this way
        ]
    )
    assert [k.secret for k in keys] == [
        "bare-key-0001",
        "agent-key-0002",
        "viewer-key-003",
        "base64+/key==",
        "Abc:Def-1234",
        "user:pass",
    ]
    assert keys[0].scopes == ALL_SCOPES
    assert keys[1].scopes == {Scope.INGEST}
    assert keys[2].scopes == {Scope.READ, Scope.METRICS}
    assert keys[3].scopes == ALL_SCOPES
    assert keys[4].scopes == ALL_SCOPES
    assert keys[5].scopes == {Scope.ADMIN}
    assert "user:pass" not in repr(keys[5])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("secret-key-1:injest", "unknown scope 'injest'"),
        ("user:pass", "unknown scope 'pass'"),
        ("short:read", "at least 8 characters"),
        ("short", "at least 8 characters"),
        ("secret-key-1:read+", "unknown scope ''"),
    ],
)
def test_an_unusable_key_entry_stops_the_gateway_without_showing_the_key(entry: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(api_keys=f"good-key-000,{entry}")
    errors = refused.value.errors()
    text = " ".join(str(e["msg"]) for e in errors)
    assert message in text
    assert "API key #2" in text
    secret = entry.rsplit(":", 1)[0] if ":" in entry else entry
    assert secret not in text


def test_a_repeated_key_is_refused_and_settings_never_show_keys() -> None:
    with pytest.raises(ValidationError, match="configured twice"):
        GatewaySettings(api_keys="same-key-123:read,same-key-123:ingest")
    settings = GatewaySettings(api_keys="hidden-key-123:read", gateway_token_secret="hidden-secret")
    assert "hidden-key-123" not in repr(settings)
    assert "hidden-secret" not in repr(settings)
    assert [k.scopes for k in settings.parsed_api_keys()] == [{Scope.READ}]


def test_scopes_grant_what_they_say() -> None:
    auth = authenticator("ingest-key-1:ingest", "read-key-123:read", "admin-key-12:admin", "bare-key-123")
    ingest, read, admin, bare = (
        auth.identify(f"Bearer {k}") for k in ("ingest-key-1", "read-key-123", "admin-key-12", "bare-key-123")
    )
    both = needs(Scope.READ, Scope.INGEST)
    for principal, allowed in (
        (ingest, {INGEST}),
        (read, {READ}),
        (admin, {INGEST, READ, ADMIN, both}),
        (bare, {INGEST, READ, ADMIN, both}),
    ):
        for access in (INGEST, READ, ADMIN, both):
            if access in allowed:
                auth.authorize(principal, access)
            else:
                with pytest.raises(AuthError) as refused:
                    auth.authorize(principal, access)
                assert refused.value.status == 403
                assert refused.value.refusal is Refusal.SCOPE
    with pytest.raises(AuthError) as unknown:
        auth.identify("Bearer not-a-key-123")
    assert unknown.value.status == 401
    with pytest.raises(AuthError) as missing:
        auth.identify(None)
    assert missing.value.refusal is Refusal.MISSING
    assert Authenticator(()).identify(None).scopes == ALL_SCOPES  # open when no key is configured


def test_tokens_are_bound_read_only_short_lived_and_die_with_their_key() -> None:
    auth = authenticator(KEY, "key-bbbbbbbb:read", ttl=60)
    principal = auth.identify(f"Bearer {KEY}")
    assert principal.key_id == key_id(KEY)
    issued = auth.issue_token(principal, "sess-1")
    token = auth.verify_token(issued.token)
    assert token == Principal(key_id(KEY), frozenset({Scope.READ}), token_target="sess-1")
    assert auth.identify(None, issued.token) == token
    assert auth.identify(f"Bearer {issued.token}") == token
    assert issued.expires_at <= time.time() + 61
    assert auth.issue_token(principal, "sess-1", 3600).expires_at <= time.time() + 61  # never longer

    session_stream = needs(Scope.READ, stream="session")
    list_stream = needs(Scope.READ, stream="list")
    auth.authorize(token, session_stream, "sess-1")
    auth.authorize(token, list_stream, "sess-1")  # /stream?session=sess-1, a socket confined to it
    for access, session in (
        (session_stream, "sess-2"),
        (list_stream, None),  # every session: only a `*` token
        (list_stream, "sess-2"),
        (READ, "sess-1"),  # a REST read, even of its own session
        (INGEST, None),
        (ADMIN, None),
    ):
        with pytest.raises(AuthError) as refused:
            auth.authorize(token, access, session)
        assert refused.value.status == 403
        assert refused.value.refusal is Refusal.TOKEN
    every = auth.verify_token(auth.issue_token(principal, "*").token)
    auth.authorize(every, list_stream, None)
    auth.authorize(every, list_stream, "sess-9")
    with pytest.raises(AuthError):
        auth.authorize(every, session_stream, "sess-9")  # the list stream, not a session's

    # A token cannot mint another; a key without `read` cannot get one.
    with pytest.raises(AuthError, match="cannot be used to get another"):
        auth.issue_token(token, "sess-1")
    with pytest.raises(AuthError, match="scope 'read'"):
        authenticator("agent-key-01:ingest").issue_token(
            Principal(key_id("agent-key-01"), frozenset({Scope.INGEST})), "sess-1"
        )

    # Another replica with the same keys accepts it; one without that key (or where it lost `read`)
    # does not.
    assert authenticator("key-bbbbbbbb:read", KEY).verify_token(issued.token) == token
    for other in (authenticator("key-bbbbbbbb"), authenticator(f"{KEY}:ingest", "key-bbbbbbbb")):
        with pytest.raises(AuthError, match=r"no longer configured|signature"):
            other.verify_token(issued.token)

    version, expires, kid, target, signature = issued.token.split(".")
    for forged in (
        f"{version}.{int(expires) + 999}.{kid}.{target}.{signature}",
        f"{version}.{expires}.{key_id('key-bbbbbbbb')}.{target}.{signature}",
        f"{version}.{expires}.{kid}.sess-2.{signature}",
        f"{version}.{expires}.{kid}.*.{signature}",
        f"v1.{expires}.{kid}.{signature}",  # a full-access token of the previous release
        f"{version}.{expires}.{kid}.{target}",
        "v2.1.2.3.4",
        "",
    ):
        with pytest.raises(AuthError) as refused:
            auth.verify_token(forged)
        assert refused.value.status == 401
    expired_body = f"v2.{int(time.time()) - 1}.{kid}.{target}"
    with pytest.raises(AuthError, match="expired"):
        auth.verify_token(f"{expired_body}.{auth._sign(expired_body)}")
    with pytest.raises(AuthError):
        auth.identify(None, KEY)  # a key is never a token
    with pytest.raises(ApiError, match="a session id or"):
        auth.issue_token(principal, "bad.target")
