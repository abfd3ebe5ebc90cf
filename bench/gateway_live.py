"""Live latency through the gateway: publish → SSE / WebSocket client, and the gateway's memory.

Starts nats-server (wheel) and the gateway as its own process, then runs the clients in another
process (never in the gateway's). A publisher paces realistic canonical events onto TRACES at
2,000 events/s, each stamped with its publish time; every client computes, per event, the time from
that stamp to the moment its batch was parsed. Three phases, one run:

1. ceiling: one raw JetStream ordered consumer in the client process (no gateway): the floor any
   live path on this machine pays (publish → JetStream → a Python client);
2. 50 SSE clients on one live session (`/api/v1/sessions/{id}/stream`);
3. 50 WebSocket clients on the same session (permessage-deflate negotiated, as browsers do);
   gateway RSS is sampled throughout, and read after 10,000 live events with the 50 clients on.

    uv run python bench/gateway_live.py [--rate 2000] [--seconds 10] [--clients 50]

Targets (TARGETS.md): p99 ≤ 50 ms at 2,000 events/s with 50 clients; RSS ≤ 100 MB. Prints readable
lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

BENCH = Path(__file__).stem
WARMUP_S = 2.0


# ----------------------------------------------------------------------------- client process --


# Clients read as little as they must: the timestamps, by a regex over the raw batch, so the client
# process measures the gateway rather than its own JSON parsing.
_STAMP = re.compile(rb'"timestamp":([0-9.eE+-]+)')


async def _sse_client(
    url: str, latencies: list[tuple[float, float]], counts: list[int], ready: asyncio.Event
) -> None:
    # A bare HTTP/1.1 reader: uvicorn writes each SSE message as one chunk, so the chunk framing
    # never splits a message and needs no decoding to find the timestamps.
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        ready.set()
        pending = b""
        while chunk := await reader.read(262144):
            pending += chunk
            *messages, pending = pending.split(b"\n\n")
            now = time.time() * 1000
            for message in messages:
                if b"event: batch_events" not in message:
                    continue
                stamps = [float(m) for m in _STAMP.findall(message)]
                counts[0] += len(stamps)
                latencies.extend((stamp, now - stamp) for stamp in stamps)
    finally:
        writer.close()


async def _ws_client(
    url: str, session: str, latencies: list[tuple[float, float]], counts: list[int], ready: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        url, max_size=None, compression=os.environ.get("BENCH_WS_COMPRESSION", "deflate") or None
    ) as ws:
        await ws.send(orjson.dumps({"type": "subscribe_session", "session_id": session}).decode())
        ready.set()
        async for raw in ws:
            now = time.time() * 1000
            data = raw.encode() if isinstance(raw, str) else raw
            if not data.startswith((b'{"type":"batch_events"', b'{"type":"trace_event"')):
                continue
            stamps = [float(m) for m in _STAMP.findall(data)]
            counts[0] += len(stamps)
            latencies.extend((stamp, now - stamp) for stamp in stamps)


async def _raw_client(
    nats_url: str, latencies: list[tuple[float, float]], counts: list[int], ready: asyncio.Event
) -> None:
    import nats
    from nats.js.api import DeliverPolicy

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def on_message(msg: Any) -> None:
            now = time.time() * 1000
            counts[0] += 1
            stamp = orjson.loads(msg.data)["timestamp"]
            latencies.append((stamp, now - stamp))

        sub = await js.subscribe(
            "traces.events.>", cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            await sub.unsubscribe()
    finally:
        await nc.close()


async def client_worker(mode: str, target: str, session: str, clients: int) -> None:
    """Runs `clients` clients until stdin closes, then prints their latencies (after warm-up)."""
    per_client: list[list[tuple[float, float]]] = [[] for _ in range(clients)]
    counts = [[0] for _ in range(clients)]
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = []
    for i in range(clients):
        if mode == "sse":
            coro = _sse_client(target, per_client[i], counts[i], readies[i])
        elif mode == "ws":
            coro = _ws_client(target, session, per_client[i], counts[i], readies[i])
        else:
            coro = _raw_client(target, per_client[i], counts[i], readies[i])
        tasks.append(asyncio.create_task(coro))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    await asyncio.sleep(0.5)
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # The first seconds warm caches and connections; keep events published after them.
    first = min((pairs[0][0] for pairs in per_client if pairs), default=0.0)
    cutoff = first + WARMUP_S * 1000
    kept = [[lat for stamp, lat in pairs if stamp >= cutoff] for pairs in per_client]
    print(orjson.dumps({"latencies": kept, "counts": [c[0] for c in counts]}).decode(), flush=True)


# ---------------------------------------------------------------------------------- the bench --


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def gateway_live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return bool(orjson.loads(response.read())["checks"]["live"])
    except urllib.error.HTTPError as exc:  # 503: store/replay are not part of this bench
        return bool(orjson.loads(exc.read())["checks"]["live"])
    except Exception:
        return False


async def publish_paced(
    nats_url: str, session: str, rate: int, seconds: float, stats: dict[str, int]
) -> None:
    """Publishes canonical events (as ingest would) at `rate`/s, each stamped when published."""
    import nats

    from swarmscope_schema.subjects import event_subject
    from swarmscope_schema.testing import make_event

    nc = await nats.connect(nats_url)
    try:
        tick = 0.01
        per_tick = rate * tick
        template = make_event("tool_call", session_id=session, agent_id="cod-1", span_id="sp-1")
        template["metadata"] = {"parent_id": "sp-0", "tags": ["bench"], "priority": "normal"}
        template["performance"] = {"duration": 12.5, "input_tokens": 100, "output_tokens": 20}
        subject = event_subject(session, "cod-1", "tool_call")
        start = time.monotonic()
        owed = 0.0
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            owed = elapsed * rate - sent
            for _ in range(int(owed)):
                event = dict(template)
                event["id"] = uuid.uuid4().hex
                now = time.time() * 1000
                event["timestamp"] = now
                event["received_at"] = now
                await nc.publish(subject, orjson.dumps(event))
                sent += 1
            await nc.flush()
            await asyncio.sleep(max(0.0, start + (sent + per_tick) / rate - time.monotonic()))
        stats["sent"] = stats.get("sent", 0) + sent
    finally:
        await nc.close()


def gateway_written_latency(url: str) -> str:
    """The gateway's own view: producer timestamp → batch written to the socket (per batch)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    out = []
    for transport in ("sse", "ws"):
        buckets = []
        for line in text.splitlines():
            prefix = 'swarmscope_gateway_delivered_latency_seconds_bucket{le="'
            if line.startswith(prefix) and f'transport="{transport}"' in line:
                le = line.split('le="')[1].split('"')[0]
                buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
        if not buckets or buckets[-1][1] == 0:
            continue
        total = buckets[-1][1]
        marks = []
        for q in (0.5, 0.99):
            le = next(b for b, c in sorted(buckets) if c >= q * total)
            marks.append(f"p{int(q * 100)} <= {le * 1000:g} ms")
        out.append(f"{transport}: " + ", ".join(marks))
    return "gateway-side, timestamp → written (histogram buckets): " + "; ".join(out)


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)


async def run_phase(
    mode: str,
    target: str,
    session: str,
    clients: int,
    nats_url: str,
    rate: int,
    seconds: float,
    gateway_pid: int | None,
) -> dict[str, Any]:
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "worker",
        mode,
        target,
        session,
        str(clients),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert worker.stdout is not None
    assert worker.stdin is not None
    line = await asyncio.wait_for(worker.stdout.readline(), 90)
    if line.strip() != b"READY":
        raise RuntimeError(f"client worker failed: {line!r}")
    stats: dict[str, int] = {}
    rss: list[float] = []
    cpu_before = {
        name: cpu_seconds(pid) for name, pid in (("gateway", gateway_pid), ("clients", worker.pid)) if pid
    }
    wall_before = time.monotonic()

    async def sample() -> None:
        while gateway_pid is not None:
            rss.append(rss_mb(gateway_pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    await publish_paced(nats_url, session, rate, seconds, stats)
    await asyncio.sleep(1.0)  # let the last batches arrive
    rss_after = rss_mb(gateway_pid) if gateway_pid is not None else 0.0
    wall = time.monotonic() - wall_before
    cpu = {
        name: (cpu_seconds(pid) - cpu_before[name]) / wall
        for name, pid in (("gateway", gateway_pid), ("clients", worker.pid))
        if pid
    }
    sampler.cancel()
    worker.stdin.close()
    out, _ = await asyncio.wait_for(worker.communicate(), 120)
    result = orjson.loads(out.strip().splitlines()[-1])
    latencies = [lat for per_client in result["latencies"] for lat in per_client]
    return {
        "sent": stats["sent"],
        "counts": result["counts"],
        "latencies": latencies,
        "rss_after": rss_after,
        "rss_peak": max(rss) if rss else 0.0,
        "cpu": cpu,
    }


def describe(name: str, phase: dict[str, Any], clients: int) -> tuple[float, float]:
    lat = phase["latencies"]
    p50, p95, p99 = percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99)
    complete = sum(1 for c in phase["counts"] if c >= phase["sent"])
    print(
        f"{name:<26} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  max {max(lat):7.1f} ms  "
        f"mean {statistics.fmean(lat):6.1f} ms  ({len(lat):,} samples; {complete}/{clients} clients got all "
        f"{phase['sent']:,} events); CPU: " + ", ".join(f"{k} {v:.0%}" for k, v in phase["cpu"].items())
    )
    return p50, p99


@contextlib.contextmanager
def running_gateway(nats_url: str, tmp: Path, name: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A fresh gateway process (so each phase's memory is its own)."""
    from swarmscope_dev.nats_server import free_port

    port = free_port()
    env = {
        **os.environ,
        "SWARMSCOPE_NATS_URL": nats_url,
        "SWARMSCOPE_GATEWAY_PORT": str(port),
        "SWARMSCOPE_LOG_FORMAT": "text",
        "SWARMSCOPE_LOG_LEVEL": "WARNING",
        "SWARMSCOPE_GATEWAY_FRONTEND_DIST": str(tmp / "no-ui"),
    }
    log_path = tmp / f"gateway-{name}.log"
    with log_path.open("wb") as log:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "swarmscope_gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not gateway_live(url):
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-3000:])
            time.sleep(0.1)
        yield gateway, url
    finally:
        gateway.terminate()
        try:
            gateway.wait(20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


async def provision_streams(nats_url: str) -> None:
    import nats

    from swarmscope_service.nats_setup import provision

    nc = await nats.connect(nats_url)
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()


def resyncs(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return ", ".join(
        line.split("{")[1].replace("}", " =")
        for line in lines
        if line.startswith("swarmscope_gateway_resyncs_total{")
    )


async def transport_phase(
    mode: str, nats_url: str, tmp: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], float]:
    with running_gateway(nats_url, tmp, mode) as (gateway, url):
        start_rss = rss_mb(gateway.pid)
        session = f"bench-{mode}"
        target = (
            f"{url}/api/v1/sessions/{session}/stream"
            if mode == "sse"
            else url.replace("http", "ws") + "/api/v1/ws"
        )
        phase = await run_phase(
            mode, target, session, args.clients, nats_url, args.rate, args.seconds, gateway.pid
        )
        print(
            f"  gateway {mode}: RSS {start_rss:.1f} MB at start, {phase['rss_after']:.1f} MB after {phase['sent']:,} live events "
            f"with {args.clients} clients (peak {phase['rss_peak']:.1f} MB); resyncs: {resyncs(url)}"
        )
        print(f"  {gateway_written_latency(url)}")
        return phase, start_rss


async def main(args: argparse.Namespace) -> None:
    from swarmscope_dev.nats_server import start_nats_server

    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        nats_server = start_nats_server(tmp / "nats")
        try:
            await provision_streams(nats_server.url)
            print(
                f"{args.clients} clients per transport in a process of their own; {args.rate} events/s for {args.seconds} s each"
            )
            ceiling = await run_phase(
                "raw", nats_server.url, "bench-raw", 1, nats_server.url, args.rate, args.seconds, None
            )
            _, raw_p99 = describe("ceiling: raw JetStream", ceiling, 1)
            sse, _ = await transport_phase("sse", nats_server.url, tmp, args)
            sse_p50, sse_p99 = describe(f"SSE x{args.clients}", sse, args.clients)
            ws, _ = await transport_phase("ws", nats_server.url, tmp, args)
            ws_p50, ws_p99 = describe(f"WebSocket x{args.clients}", ws, args.clients)
        finally:
            nats_server.stop()
    live = int(min(sse["sent"], ws["sent"], args.rate * args.seconds))
    figures = [
        {
            "figure": f"SSE publish→client p50 ({args.clients} clients, {args.rate}/s)",
            "value": round(sse_p50, 1),
            "unit": "ms",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": f"SSE publish→client p99 ({args.clients} clients, {args.rate}/s)",
            "value": round(sse_p99, 1),
            "unit": "ms",
            "target": "<= 50",
            "ceiling": round(raw_p99, 1),
        },
        {
            "figure": f"WebSocket publish→client p50 ({args.clients} clients, {args.rate}/s)",
            "value": round(ws_p50, 1),
            "unit": "ms",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": f"WebSocket publish→client p99 ({args.clients} clients, {args.rate}/s)",
            "value": round(ws_p99, 1),
            "unit": "ms",
            "target": "<= 50",
            "ceiling": round(raw_p99, 1),
        },
        {
            "figure": f"gateway RSS, {live // 1000}k live events, {args.clients} SSE clients",
            "value": round(sse["rss_after"], 1),
            "unit": "MB",
            "target": "<= 100",
            "ceiling": None,
        },
        {
            "figure": f"gateway RSS, {live // 1000}k live events, {args.clients} WebSocket clients",
            "value": round(ws["rss_after"], 1),
            "unit": "MB",
            "target": "<= 100",
            "ceiling": None,
        },
    ]
    print("BENCH_RESULT " + orjson.dumps({"bench": BENCH, "figures": figures}).decode())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        asyncio.run(client_worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--rate", type=int, default=2000)
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--clients", type=int, default=50)
        asyncio.run(main(parser.parse_args()))
