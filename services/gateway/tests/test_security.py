"""Authentication (API keys, stream tokens), the WebSocket Origin allowlist, CORS, body limits and
rate limits, against a running gateway."""

from __future__ import annotations

import gzip
import logging
import uuid

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from swarmscope_dev.gateway import (
    RunningGateway,
    SseReader,
    ingest,
    new_session,
    session_events,
    wait_stored,
)
from swarmscope_dev.nats_server import free_port
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
        for public in ("/healthz", "/readyz", "/openapi.json"):
            assert (await http.get(public)).status_code not in (401, 403), public
        assert (await http.get("/metrics")).status_code == 401  # with keys, /metrics needs one
        assert (await http.get("/metrics", headers=auth)).status_code == 200

        # Streams: a token for the session, from the authenticated endpoint, in the query.
        sid = new_session()
        assert (await http.post("/api/v1/auth/token", json={"session_id": sid})).status_code == 401
        missing = await http.post("/api/v1/auth/token", headers=auth, json={})
        assert missing.status_code == 400
        assert "session_id" in missing.json()["error"]["message"]
        response = await http.post("/api/v1/auth/token", headers=auth, json={"session_id": sid})
        assert response.status_code == 200
        token = response.json()["token"]
        assert response.json()["expires_in"] > 0
        # A token cannot mint another, and an API key is never accepted in a URL.
        assert (
            await http.post(
                "/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"}, json={"session_id": sid}
            )
        ).status_code == 403
        assert (await http.get(f"/api/v1/sessions/{sid}/stream", params={"token": key})).status_code == 401
        assert (
            await http.get(f"/api/v1/sessions/{sid}/stream", params={"token": token + "x"})
        ).status_code == 401
        assert (await http.get(f"/api/v1/sessions/{sid}/stream")).status_code == 401
        # A token is not a way around the header on other endpoints, nor a key in it.
        assert (await http.get("/api/v1/sessions", params={"token": token})).status_code == 401
        assert (
            await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 403

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
    assert await gateway.metric("swarmscope_gateway_auth_failures_total", reason="missing") >= 3
    assert await gateway.metric("swarmscope_gateway_auth_failures_total", reason="invalid") >= 3
    assert await gateway.metric("swarmscope_gateway_auth_failures_total", reason="token") >= 2


async def test_a_stream_token_is_not_a_key(gateway_factory) -> None:
    """Issue 12 finding 4: a token from POST /auth/token worked as a Bearer key on every endpoint,
    POST /ingest, POST /import and GET /dlq included, and opened the stream of any session."""
    key = unique_key()
    gateway: RunningGateway = await gateway_factory(api_keys=key, gateway_rate_limit_per_second=0)
    auth = {"Authorization": f"Bearer {key}"}
    sid, other = new_session(), new_session()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        token = (await http.post("/api/v1/auth/token", headers=auth, json={"session_id": sid})).json()[
            "token"
        ]
        as_bearer = {"Authorization": f"Bearer {token}"}
        event = make_event(session_id=sid)
        refused = [
            await http.post("/api/v1/ingest", json=event, headers=as_bearer),
            await http.post("/api/v1/import", content=orjson.dumps(event) + b"\n", headers=as_bearer),
            await http.get("/api/v1/dlq", headers=as_bearer),
            await http.get(f"/api/v1/sessions/{sid}", headers=as_bearer),
            await http.get(f"/api/v1/sessions/{sid}/events", headers=as_bearer),
            await http.get(f"/api/v1/sessions/{sid}/state", params={"seq": 1}, headers=as_bearer),
            await http.get(f"/api/v1/sessions/{other}/stream", headers=as_bearer),
            await http.get(f"/api/v1/sessions/{other}/stream", params={"token": token}),
            await http.get(f"/api/v1/sessions/{other}/export", params={"token": token}),
            await http.get("/api/v1/stream", params={"token": token}),  # every session's events
        ]
        for response in refused:
            assert response.status_code == 403, (response.request.url, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        # Nothing was published with it.
        assert (await http.get(f"/api/v1/sessions/{sid}", headers=auth)).status_code == 404

        # What it is for: this session's stream (and only that session over the WebSocket).
        async with http.stream("GET", "/api/v1/stream", params={"token": token, "session": sid}) as stream:
            assert stream.status_code == 200
            await ingest(http, session_events(sid, 2), headers=auth)
            got, _ = await SseReader(stream).events(2)
        assert {e["session_id"] for e in got} == {sid}
        async with connect(f"{gateway.ws_url}?token={token}") as ws:
            await ws.send(orjson.dumps({"type": "subscribe_session", "session_id": other}).decode())
            error = orjson.loads(await ws.recv())
            assert (error["type"], error["code"], error["session_id"]) == ("error", "forbidden", other)
            await ws.send(orjson.dumps({"type": "time_travel", "session_id": other, "seq": 1}).decode())
            assert orjson.loads(await ws.recv())["code"] == "forbidden"
            await ws.send(
                orjson.dumps({"type": "subscribe_session", "session_id": sid, "after_seq": 0}).decode()
            )
            message = orjson.loads(await ws.recv())
            assert message["type"] in ("batch_events", "trace_event")
            assert message["session_id"] == sid


async def test_each_scope_opens_what_it_names(gateway_factory) -> None:
    """Issue 12 Build 3: agents (ingest) write and read nothing, viewers (read) read and write
    nothing, dead letters and import are for admin; bare keys keep full access."""
    tag = uuid.uuid4().hex[:8]
    agent, viewer, admin, bare = f"agent-{tag}", f"viewer-{tag}", f"admin-{tag}", f"bare-{tag}"
    gateway: RunningGateway = await gateway_factory(
        api_keys=f"{agent}:ingest,{viewer}:read,{admin}:admin,{bare}", gateway_rate_limit_per_second=0
    )
    sid = new_session()

    def as_(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        await ingest(http, session_events(sid, 3), headers=as_(agent))
        await wait_stored(http, sid, 3, headers=as_(viewer))
        line = orjson.dumps(make_event(session_id=sid)) + b"\n"
        status = {
            "agent reads": (await http.get(f"/api/v1/sessions/{sid}", headers=as_(agent))).status_code,
            "agent streams": (
                await http.post("/api/v1/auth/token", headers=as_(agent), json={"session_id": sid})
            ).status_code,
            "agent imports": (
                await http.post("/api/v1/import", content=line, headers=as_(agent))
            ).status_code,
            "viewer publishes": (
                await http.post("/api/v1/ingest", json=make_event(session_id=sid), headers=as_(viewer))
            ).status_code,
            "viewer imports": (
                await http.post("/api/v1/import", content=line, headers=as_(viewer))
            ).status_code,
            "viewer reads dead letters": (await http.get("/api/v1/dlq", headers=as_(viewer))).status_code,
            "viewer replays into a new session": (
                await http.post(f"/api/v1/sessions/{sid}/replay", json={}, headers=as_(viewer))
            ).status_code,
            "viewer scrapes metrics": (await http.get("/metrics", headers=as_(viewer))).status_code,
        }
        assert status == dict.fromkeys(status, 403), status
        for key in (viewer, admin, bare):
            assert (await http.get(f"/api/v1/sessions/{sid}/events", headers=as_(key))).status_code == 200
            assert (
                await http.post(
                    f"/api/v1/sessions/{sid}/watch", json={"seq": 1, "expressions": ["1"]}, headers=as_(key)
                )
            ).status_code == 200
        for key in (admin, bare):
            assert (await http.get("/api/v1/dlq", headers=as_(key))).status_code == 200
            assert (await http.post("/api/v1/import", content=line, headers=as_(key))).status_code == 202
        assert (
            await http.post("/api/v1/ingest", json=make_event(session_id=sid), headers=as_(admin))
        ).status_code == 202
        forbidden = await http.get(f"/api/v1/sessions/{sid}", headers=as_(agent))
        assert forbidden.json()["error"] == {
            "code": "forbidden",
            "message": "this API key lacks the scope 'read' (it has: ingest)",
        }
    assert await gateway.metric("swarmscope_gateway_auth_failures_total", reason="scope") == len(status) + 1


async def test_api_keys_never_reach_the_logs(gateway_factory, caplog: pytest.LogCaptureFixture) -> None:
    key, wrong = unique_key(), unique_key()
    caplog.set_level(logging.DEBUG)
    gateway: RunningGateway = await gateway_factory(api_keys=f"{key}:read")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {key}"})
        await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {wrong}"})
        await http.post("/api/v1/ingest", json=make_event(), headers={"Authorization": f"Bearer {key}"})
        await http.get("/api/v1/dlq", params={"token": key})
    # The gateway's records (the test's own HTTP client logs the URLs it requests).
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in server)
    assert "gateway starting" in logged
    assert key not in logged
    assert wrong not in logged


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


async def test_metrics_on_a_port_of_their_own(gateway_factory) -> None:
    key = unique_key()
    gateway: RunningGateway = await gateway_factory(api_keys=f"{key}:read", gateway_metrics_port=free_port())
    port = gateway.settings.gateway_metrics_port
    async with httpx.AsyncClient(timeout=30) as http:
        # Not on the API port at all (not even with a key), and no key on the metrics port.
        on_api = await http.get(f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {key}"})
        assert on_api.status_code == 404
        scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert "swarmscope_gateway_request_seconds" in scraped.text
        # Only /metrics there: the API is not reachable through the scraper's port.
        assert (await http.get(f"http://127.0.0.1:{port}/api/v1/sessions")).status_code == 404
        await http.get(f"{gateway.url}/api/v1/sessions")
    assert await gateway.metric("swarmscope_gateway_auth_failures_total", reason="missing") == 1
