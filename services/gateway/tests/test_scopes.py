"""Every endpoint and every kind of credential, on a running gateway, driven by the app's real route
table: a route that is not guarded (no declared access) fails here, and so does one whose declared
access has no row of expected outcomes below. To add an endpoint, declare its access (api_spec's
`access=`, e.g. INGEST for a new event edge): the row of that access applies to it.

Each probe carries a parameter no endpoint accepts (and no body), so a request the guard lets
through is answered 400 (or, for the few that take no parameters, its normal answer) without
writing anything: the test is about who gets past the guard, not about the endpoints' work.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.routing import BaseRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from swarmscope_dev.gateway import RunningGateway, new_session
from swarmscope_gateway.access import Access
from swarmscope_gateway.guard import GuardedMount, GuardedRoute, GuardedWebSocketRoute

# The columns: how each credential is sent.
CREDENTIALS = (
    "none",  # nothing
    "wrong",  # a Bearer key nobody configured
    "ingest",  # keys with these scopes, in the header
    "read",
    "metrics",
    "admin",
    "bare",  # a key configured without scopes (every scope, as before scopes existed)
    "read+ingest",
    "tok:hdr",  # a stream token for the probed session, in the header
    "tok:query",  # … in ?token=
    "other:query",  # a stream token for another session, in ?token=
    "all:query",  # a stream token for `*` (the list stream), in ?token=
    "all:hdr",  # … in the header
    "v1:hdr",  # a token of the previous release's shape (it opened everything)
)

# Expected outcome per access kind: ok = past the guard (any status but 401/403, and no 5xx).
# "read/list+S" is a list endpoint confined to the probed session (?session=S, or a WebSocket
# message about S); "read/list" the same endpoint over every session.
#                   none wrong ing  read met  adm  bare r+i  t:h  t:q  o:q  a:q  a:h  v1
OUTCOMES_TABLE = """
public              ok   ok    ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok
read                401  401   403  ok   403  ok   ok   ok   403  401  401  401  403  401
read/session        401  401   403  ok   403  ok   ok   ok   ok   ok   403  403  403  401
read/list+S         401  401   403  ok   403  ok   ok   ok   ok   ok   403  ok   ok   401
read/list           401  401   403  ok   403  ok   ok   ok   403  403  403  ok   ok   401
ingest              401  401   ok   403  403  ok   ok   ok   403  401  401  401  403  401
ingest+read         401  401   403  403  403  ok   ok   ok   403  401  401  401  403  401
admin               401  401   403  403  403  ok   ok   403  403  401  401  401  403  401
metrics             401  401   403  403  ok   ok   ok   403  403  401  401  401  403  401
"""


def _outcomes() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for line in OUTCOMES_TABLE.strip().splitlines():
        kind, *cells = line.split()
        assert len(cells) == len(CREDENTIALS), line
        table[kind] = dict(zip(CREDENTIALS, cells, strict=True))
    return table


OUTCOMES = _outcomes()
PATH_VALUES = {"session_id": None, "event_id": "evt-1", "collection": "tasks", "rest": "no/such/endpoint"}


def kind_of(access: Access) -> str:
    return access.label if access.stream == "none" else f"{access.label}/{access.stream}"


@dataclass
class Keyring:
    keys: dict[str, str]
    tokens: dict[str, str]

    def send(self, credential: str) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query) carrying the credential."""
        if credential == "none":
            return {}, {}
        if credential == "wrong":
            return {"Authorization": "Bearer not-a-configured-key"}, {}
        if credential in self.keys:
            return {"Authorization": f"Bearer {self.keys[credential]}"}, {}
        name, where = credential.split(":")
        token = self.tokens[name]
        return ({"Authorization": f"Bearer {token}"}, {}) if where == "hdr" else ({}, {"token": token})


@pytest.fixture
async def keyed(gateway_factory, tmp_dist: Path) -> tuple[RunningGateway, Keyring, str]:
    tag = uuid.uuid4().hex[:12]
    keys = {
        "ingest": f"ingest-{tag}:ingest",
        "read": f"read-{tag}:read",
        "metrics": f"metrics-{tag}:metrics",
        "admin": f"admin-{tag}:admin",
        "bare": f"bare-{tag}",
        "read+ingest": f"both-{tag}:read+ingest",
    }
    gateway: RunningGateway = await gateway_factory(
        api_keys=",".join(keys.values()), gateway_rate_limit_per_second=0, frontend_dist=tmp_dist
    )
    secrets = {name: entry.rsplit(":", 1)[0] if ":" in entry else entry for name, entry in keys.items()}
    session = new_session()
    tokens = {}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for name, target in (("tok", session), ("other", new_session()), ("all", "*")):
            response = await http.post(
                "/api/v1/auth/token",
                json={"session_id": target},
                headers={"Authorization": f"Bearer {secrets['read']}"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["session_id"] == target
            tokens[name] = response.json()["token"]
    expires = int(tokens["tok"].split(".")[1])
    tokens["v1"] = f"v1.{expires}.{tokens['tok'].split('.')[2]}.c2lnbmF0dXJl"
    return gateway, Keyring(secrets, tokens), session


def _path(template: str, session: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PATH_VALUES, f"add a probe value for path parameter {name!r} ({template})"
        return PATH_VALUES[name] or session

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, template)


async def _probe_http(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], query: dict[str, str]
) -> int:
    # Streamed, so an SSE endpoint that wrongly opened would not hang the test: only the status
    # line is read.
    async with http.stream(method, path, headers=headers, params=query, content=b"") as response:
        return response.status_code


async def _probe_ws(url: str, session: str, headers: dict[str, str], query: dict[str, str]) -> int:
    target = url + ("?" + str(httpx.QueryParams(query)) if query else "")
    try:
        async with connect(target, additional_headers=headers) as ws:
            await ws.send(orjson.dumps({"type": "time_travel", "session_id": session, "seq": 1}).decode())
            reply = orjson.loads(await ws.recv())
    except InvalidStatus as refused:
        return refused.response.status_code
    return 403 if reply.get("type") == "error" and reply.get("code") == "forbidden" else 200


def _declared(route: BaseRoute) -> Access:
    assert isinstance(route, (GuardedRoute, GuardedWebSocketRoute, GuardedMount)), (
        f"route {getattr(route, 'path', route)!r} is not guarded: declare its access "
        "(an api_spec Endpoint with access=…, or a GuardedRoute)"
    )
    return route.access


async def test_every_route_admits_exactly_the_credentials_its_access_declares(keyed) -> None:
    gateway, keyring, session = keyed
    assert gateway.app is not None
    failures: list[str] = []
    probed = 0
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for route in gateway.app.routes:
            access = _declared(route)
            kind = kind_of(access)
            assert kind in OUTCOMES, f"{route.path}: no expected outcomes for access {kind!r}; add a row"
            variants: list[tuple[str, dict[str, str]]] = [(kind, {"zz_probe": "1"})]
            if access.stream == "list":
                variants = [(f"{kind}+S", {"zz_probe": "1", "session": session})]
                if not isinstance(route, GuardedWebSocketRoute):
                    variants.append((kind, {"zz_probe": "1"}))
            for row, params in variants:
                for credential in CREDENTIALS:
                    headers, query = keyring.send(credential)
                    expected = OUTCOMES[row][credential]
                    if isinstance(route, GuardedWebSocketRoute):
                        status = await _probe_ws(gateway.ws_url, session, headers, query)
                        where = f"WS {route.path}"
                    elif isinstance(route, GuardedMount):
                        status = await _probe_http(http, "GET", "/", headers, query)
                        where = "GET / (ui)"
                    else:
                        method = sorted((route.methods or {"GET"}) - {"HEAD"})[0]
                        path = _path(route.path, session)
                        status = await _probe_http(http, method, path, headers, {**params, **query})
                        where = f"{method} {route.path}"
                    probed += 1
                    if expected == "ok":
                        good = status not in (401, 403) and status < 500
                    else:
                        good = status == int(expected)
                    if not good:
                        failures.append(f"{where} [{row}] with {credential}: {status}, expected {expected}")
    assert not failures, f"{len(failures)} of {probed} probes:\n" + "\n".join(failures)
    # Every kind of route the gateway has today was probed (a new one only needs its row).
    kinds = {kind_of(_declared(r)) for r in gateway.app.routes}
    assert {
        "public",
        "read",
        "read/session",
        "read/list",
        "ingest",
        "admin",
        "ingest+read",
        "metrics",
    } <= kinds
