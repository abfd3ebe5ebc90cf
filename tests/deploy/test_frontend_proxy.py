"""The frontend image's nginx configuration, run for real in front of a real gateway: the UI files,
the SPA fallback, its headers, and the API with its SSE and WebSocket streams through the proxy.

nginx is the Debian package's binary (support.debian_tool); the template is rendered exactly as the
image's entrypoint renders it (envsubst of the SWARMSCOPE_ and NGINX_LOCAL_RESOLVERS variables), with
only the listen port changed to a free one.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest
from swarmscope_deploy_support import ROOT, debian_tool
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from swarmscope_dev.nats_server import free_port, port_open
from swarmscope_dev.stack import LocalStack


@dataclass
class Proxy:
    url: str
    stack: LocalStack


def _render(template: str, gateway_url: str, port: int) -> str:
    rendered = template.replace("${SWARMSCOPE_GATEWAY_URL}", gateway_url).replace(
        "${NGINX_LOCAL_RESOLVERS}", "127.0.0.1"
    )
    assert "${" not in rendered, "a template variable the image does not substitute"
    return rendered.replace("listen 8080;", f"listen 127.0.0.1:{port};")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, local_stack: LocalStack) -> Iterator[Proxy]:
    nginx = debian_tool("nginx", "/usr/sbin/nginx")
    if nginx is None:
        pytest.skip("nginx unavailable (Debian package nginx)")
    base = tmp_path_factory.mktemp("frontend-proxy")
    html = base / "html"
    (html / "assets").mkdir(parents=True)
    (html / "index.html").write_text("<!doctype html><title>swarmscope</title><div id=root></div>")
    (html / "assets" / "app-1234.js").write_text("console.log('ui')")
    stack = local_stack
    port = free_port()
    template = (ROOT / "frontend" / "nginx.conf").read_text()
    conf = _render(template, stack.gateway_url, port).replace("root /usr/share/nginx/html;", f"root {html};")
    (base / "default.conf").write_text(conf)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (base / "nginx.conf").write_text(
        f"{user}daemon off;\npid {base}/nginx.pid;\nerror_log {base}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; client_body_temp_path {base}/cb; proxy_temp_path {base}/pt;"
        f" fastcgi_temp_path {base}/ft; uwsgi_temp_path {base}/ut; scgi_temp_path {base}/st;"
        f" include {base}/default.conf; }}\n"
    )
    process = subprocess.Popen(
        [str(nginx), "-p", str(base), "-c", str(base / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, (base / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
        yield Proxy(url=f"http://127.0.0.1:{port}", stack=stack)
    finally:
        process.terminate()
        process.wait(10)


def _event(session: str, index: int) -> dict[str, object]:
    return {
        "id": f"e{index}",
        "timestamp": time.time() * 1000,
        "session_id": session,
        "agent_id": "coder-1",
        "type": "task_progress",
        "data": {"task_id": "T1", "progress": index},
    }


def test_serves_the_ui_with_its_headers_and_falls_back_to_index(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert "<div id=root>" in index.text
        assert index.headers["cache-control"] == "no-cache"
        csp = index.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-eval" not in csp
        assert index.headers["x-content-type-options"] == "nosniff"
        route = client.get("/sessions/some-session/debug")
        assert route.status_code == 200
        assert route.text == index.text
        asset = client.get("/assets/app-1234.js")
        assert "immutable" in asset.headers["cache-control"]
        assert client.get("/assets/missing.js").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}


def test_the_api_is_proxied_to_the_gateway(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=20) as client:
        direct = httpx.get(proxy.stack.gateway_url + "/openapi.json", timeout=20).json()
        assert client.get("/openapi.json").json() == direct
        sessions = client.get("/api/v1/sessions")
        assert sessions.status_code == 200
        assert "items" in sessions.json()
        missing = client.get("/api/v1/sessions/no-such-session")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"]


def test_sse_streams_through_the_proxy_unbuffered(proxy: Proxy) -> None:
    session = f"proxy-sse-{uuid.uuid4().hex[:8]}"
    received: list[dict[str, object]] = []
    with (
        httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(60, read=90)) as client,
        client.stream("GET", f"/api/v1/sessions/{session}/stream") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        posted = client.post("/api/v1/ingest", json=[_event(session, i) for i in range(5)])
        assert posted.status_code < 300, posted.text
        # The events arrive while the response is still open: nginx passes each batch on.
        for line in stream.iter_lines():
            if line.startswith("data:"):
                payload = json.loads(line[5:])
                received.extend(payload["events"])
                if len(received) >= 5:
                    break
    assert sorted(e["id"] for e in received) == [f"e{i}" for i in range(5)]


async def test_websocket_upgrades_through_the_proxy_and_passes_the_origin_check(proxy: Proxy) -> None:
    session = f"proxy-ws-{uuid.uuid4().hex[:8]}"
    ws_url = re.sub(r"^http", "ws", proxy.url) + "/api/v1/ws"
    # The page's own origin: the gateway must see the Host the browser used, port included.
    async with connect(ws_url, origin=proxy.url, max_size=None) as ws:  # type: ignore[arg-type]
        await ws.send(
            orjson.dumps({"type": "subscribe_session", "session_id": session, "after_seq": 0}).decode()
        )
        async with httpx.AsyncClient(base_url=proxy.url, timeout=20) as client:
            posted = await client.post("/api/v1/ingest", json=[_event(session, i) for i in range(3)])
            assert posted.status_code < 300, posted.text
        got: list[dict[str, object]] = []
        while len(got) < 3:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 90))
            if message["type"] == "batch_events":
                got.extend(message["events"])
            elif message["type"] == "trace_event":
                got.append(message["event"])
        assert sorted(e["id"] for e in got) == ["e0", "e1", "e2"]
    # A page of another site is refused at the handshake (the gateway's 403 passes through nginx).
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
