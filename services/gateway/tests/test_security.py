"""Authentication (API keys, stream tokens), the WebSocket Origin allowlist, CORS, body limits and
rate limits, against a running gateway."""

from __future__ import annotations

import gzip
import uuid

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from swarmscope_gateway.testing import RunningGateway, SseReader, ingest, new_session, session_events
from swarmscope_schema.testing import make_event


def unique_key() -> str:
    return f"key-{uuid.uuid4().hex}"


async def test_api_keys_guard_the_api_and_tokens_open_streams(gateway_factory) -> None:
    key = unique_key()
    gateway: RunningGateway = await gateway_factory(api_keys=f"{key},{unique_key()}")
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer wrong-key-123"}, {"Authorization": f"Basic {key}"}):
            response = await http.get("/api/v1/sessions", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await http.get("/api/v1/sessions", headers=auth)).status_code == 200
        for public in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert (await http.get(public)).status_code not in (401, 403), public

        # Streams: a token from the authenticated endpoint, in the query.
        assert (await http.post("/api/v1/auth/token")).status_code == 401
        response = await http.post("/api/v1/auth/token", headers=auth, json={})
        assert response.status_code == 200
        token = response.json()["token"]
        assert response.json()["expires_in"] > 0
        # A token cannot mint another, and an API key is never accepted in a URL.
        assert (
            await http.post("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401
        sid = new_session()
        assert (await http.get(f"/api/v1/sessions/{sid}/stream", params={"token": key})).status_code == 401
        assert (
            await http.get(f"/api/v1/sessions/{sid}/stream", params={"token": token + "x"})
        ).status_code == 401
        assert (await http.get(f"/api/v1/sessions/{sid}/stream")).status_code == 401
        # A token is not a way around the header on other endpoints.
        assert (await http.get("/api/v1/sessions", params={"token": token})).status_code == 401
        # A token in the header works like a key.
        assert (
            await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200

        async with http.stream("GET", f"/api/v1/sessions/{sid}/stream", params={"token": token}) as stream:
            assert stream.status_code == 200
            await ingest(http, session_events(sid, 3), headers=auth)
            got, _ = await SseReader(stream).events(3)
        assert len(got) == 3

        # WebSocket: token in the query or the key in a header; nothing = 401 at the handshake.
        with pytest.raises(InvalidStatus) as refused:
            async with connect(gateway.ws_url):
                pass
        assert refused.value.response.status_code == 401
        assert orjson.loads(refused.value.response.body)["error"]["code"] == "unauthorized"
        async with connect(f"{gateway.ws_url}?token={token}") as ws:
            await ws.send('{"type": "ping"}')
            assert orjson.loads(await ws.recv())["type"] == "pong"
        async with connect(gateway.ws_url, additional_headers=auth) as ws:
            await ws.send('{"type": "ping"}')
            assert orjson.loads(await ws.recv())["type"] == "pong"
    assert await gateway.metric("swarmscope_gateway_auth_failures_total", reason="key") >= 3


async def test_websocket_origin_allowlist(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(allowed_origins="https://ui.example.com")
    own = f"http://127.0.0.1:{gateway.settings.gateway_port}"
    for origin in ("https://ui.example.com", own, None):
        async with connect(gateway.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
            await ws.send('{"type": "ping"}')
            assert orjson.loads(await ws.recv())["type"] == "pong"
    for origin in ("https://evil.example.com", "http://ui.example.com", "null"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(gateway.ws_url, origin=origin):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        assert orjson.loads(refused.value.response.body)["error"]["code"] == "forbidden"
    assert await gateway.metric("swarmscope_gateway_origin_rejections_total") == 3


async def test_cors_allows_the_configured_origin_only(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(cors_origins="https://ui.example.com")
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,last-event-id",
        }
        ok = await http.options("/api/v1/sessions", headers={"Origin": "https://ui.example.com", **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://ui.example.com"
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        refused = await http.options(
            "/api/v1/sessions", headers={"Origin": "https://evil.example.com", **preflight}
        )
        assert refused.status_code == 400
        simple = await http.get("/api/v1/sessions", headers={"Origin": "https://ui.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://ui.example.com"
        other = await http.get("/api/v1/sessions", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


async def test_bodies_over_the_limit_are_413(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(
        gateway_max_body_bytes=4096, gateway_max_import_bytes=8192
    )
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        big = [make_event("tool_call", session_id=new_session(), data={"tool": "x" * 5000})]
        response = await http.post("/api/v1/ingest", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        async def chunks():  # no Content-Length: the limit applies while streaming
            for _ in range(10):
                yield b"[" + b" " * 1000 + b"]"

        assert (await http.post("/api/v1/ingest", content=chunks())).status_code == 413
        lines = b"".join(orjson.dumps(make_event(session_id="imp-limit")) + b"\n" for _ in range(60))
        assert (await http.post("/api/v1/import", content=lines)).status_code == 413
        # A gzip body is limited by its decompressed size.
        response = await http.post(
            "/api/v1/import", content=gzip.compress(lines), headers={"Content-Encoding": "gzip"}
        )
        assert response.status_code == 413
        sid = new_session()
        response = await http.post(
            f"/api/v1/sessions/{sid}/watch", json={"seq": 1, "expressions": ["x" * 300_000]}
        )
        assert response.status_code == 413


@pytest.mark.parametrize("backend", ["local", "redis"])
async def test_publishing_is_rate_limited_per_key(gateway_factory, redis_url: str, backend: str) -> None:
    first, second = unique_key(), unique_key()
    settings = {
        "api_keys": f"{first},{second}",
        "gateway_rate_limit_per_second": 0.001,
        "gateway_rate_limit_burst": 2,
        "redis_url": redis_url if backend == "redis" else "",
    }
    gateways = [await gateway_factory(**settings)]
    if backend == "redis":
        gateways.append(await gateway_factory(**settings))  # replicas share the buckets
    event = make_event(session_id=new_session())
    async with httpx.AsyncClient(timeout=30) as http:
        statuses = []
        for i in range(3):
            url = gateways[i % len(gateways)].url + "/api/v1/ingest"
            response = await http.post(url, json=event, headers={"Authorization": f"Bearer {first}"})
            statuses.append(response.status_code)
        assert statuses == [202, 202, 429]
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "rate_limited"
        # Another key has its own bucket; reads are never limited.
        url = gateways[-1].url
        assert (
            await http.post(url + "/api/v1/ingest", json=event, headers={"Authorization": f"Bearer {second}"})
        ).status_code == 202
        assert (
            await http.get(url + "/api/v1/sessions", headers={"Authorization": f"Bearer {first}"})
        ).status_code == 200
    assert (
        sum(
            [
                await g.metric("swarmscope_gateway_rate_limited_total", endpoint="ingest_events")
                for g in gateways
            ]
        )
        == 1
    )
