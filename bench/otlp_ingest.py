"""OTLP ingest throughput: spans from the stock OpenTelemetry OTLP/HTTP exporter to committed in the
store, beside the same workload through the native edge (POST /api/v1/ingest), in one run.

Starts its own nats-server and a throwaway Postgres database, runs ingest, store, replay and the
gateway as subprocesses (LocalStack). The workload is GenAI-convention agent runs made by the real
OTel SDK (an invoke_agent span over chat and execute_tool spans). OTLP: `OTLPSpanExporter.export`
of 512-span batches (the BatchSpanProcessor's default), from EXPORTERS threads. Native: the very
events the OTLP mapping makes of an equal set of spans, POSTed as JSON arrays of the same batches.
Both are timed from the first request to the last event committed (event_keys rows), and the CPU
of every process is read from /proc (CPU µs per span is what to compare on a busy machine).

    uv run python bench/otlp_ingest.py [--spans 20000] [--trials 2] [--exporters 2]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
from _support import cpu_seconds, postgres_database
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from swarmscope_dev.stack import LocalStack
from swarmscope_schema.otel import OtelSpan, SpanEvent, map_spans, ordered_events

BATCH = 512  # BatchSpanProcessor's max_export_batch_size
SPANS_PER_RUN = 5
SESSIONS = 20


def record_runs(spans: int, tag: str) -> list[ReadableSpan]:
    """Agent runs made by the real SDK: invoke_agent over chat / execute_tool children."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"bench-{tag}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("swarmscope.bench")
    for run in range(spans // SPANS_PER_RUN):
        conversation = f"otlp-bench-{tag}-{run % SESSIONS}"
        agent = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": f"agent-{run % 6}",
            "gen_ai.conversation.id": conversation,
        }
        with tracer.start_as_current_span(f"invoke_agent agent-{run % 6}", attributes=agent):
            for step in range(SPANS_PER_RUN - 1):
                if step % 2 == 0:
                    attrs: dict[str, Any] = {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 100,
                        "gen_ai.usage.output_tokens": 20,
                    }
                    name = "chat gpt-4o"
                else:
                    attrs = {
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "search",
                        "gen_ai.tool.call.arguments": '{"q": "rate limits"}',
                        "gen_ai.tool.call.result": "3 results",
                    }
                    name = "execute_tool search"
                with tracer.start_as_current_span(name, attributes=attrs):
                    pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def as_otel(span: ReadableSpan) -> OtelSpan:
    """The receiver's view of an SDK span (what decoding its OTLP form yields)."""
    assert span.context is not None
    return OtelSpan(
        trace_id=format(span.context.trace_id, "032x"),
        span_id=format(span.context.span_id, "016x"),
        parent_span_id=format(span.parent.span_id, "016x") if span.parent else None,
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        attributes=dict(span.attributes or {}),
        events=tuple(SpanEvent(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events),
        resource=dict(span.resource.attributes),
        scope=span.instrumentation_scope.name if span.instrumentation_scope else None,
    )


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def postgres_backends(database: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(entry))
    return pids


class CpuMeter:
    def __init__(self, roles: dict[str, Callable[[], list[int]]]) -> None:
        self.roles = roles
        self.start: dict[str, dict[int, float]] = {}

    def begin(self) -> None:
        self.start = {role: {pid: cpu_seconds(pid) for pid in pids()} for role, pids in self.roles.items()}

    def end(self) -> dict[str, float]:
        return {
            role: sum(cpu_seconds(pid) - self.start.get(role, {}).get(pid, 0.0) for pid in pids())
            for role, pids in self.roles.items()
        }


async def wait_count(db: asyncpg.Connection, expected: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while True:
        current = int(await db.fetchval("SELECT count(*) FROM event_keys"))
        if current >= expected:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {current} of {expected} events committed within {timeout}s")
        await asyncio.sleep(0.05)


def export_otlp(endpoint: str, spans: list[ReadableSpan], exporters: int) -> None:
    clients = [OTLPSpanExporter(endpoint=endpoint, timeout=60) for _ in range(exporters)]
    work = batches(spans, BATCH)

    def send(index: int) -> None:
        for batch in work[index::exporters]:
            if clients[index].export(batch) is not SpanExportResult.SUCCESS:
                raise RuntimeError("an OTLP export failed")

    with ThreadPoolExecutor(exporters) as pool:
        list(pool.map(send, range(exporters)))


def post_native(url: str, bodies: list[bytes], exporters: int) -> None:
    def send(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for body in bodies[index::exporters]:
                response = http.post(
                    "/api/v1/ingest", content=body, headers={"Content-Type": "application/json"}
                )
                response.raise_for_status()

    with ThreadPoolExecutor(exporters) as pool:
        list(pool.map(send, range(exporters)))


def native_bodies(spans: list[ReadableSpan]) -> tuple[list[bytes], int]:
    """The events of the OTLP mapping, per 512-span batch, as /api/v1/ingest bodies."""
    bodies = []
    keys: set[tuple[str, str]] = set()
    for batch in batches(spans, BATCH):
        events = ordered_events(map_spans([as_otel(s) for s in batch]))
        for event in events:
            event["metadata"]["source"] = "http"
            keys.add((event["session_id"], event["id"]))
        bodies.append(orjson.dumps(events))
    return bodies, len(keys)


def events_of(spans: list[ReadableSpan]) -> int:
    """How many events the store keeps of these spans: an agent's spawn, sent by every request
    that sees the agent, is stored once per session."""
    return len(
        {
            (event["session_id"], event["id"])
            for batch in batches(spans, BATCH)
            for event in ordered_events(map_spans([as_otel(s) for s in batch]))
        }
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--exporters", type=int, default=2, help="concurrent exporter threads")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"otlp_ingest: {args.spans} spans per trial and path, {args.trials} trials, {args.exporters} exporters"
    )
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {cores} cores")
    results: dict[str, list[float]] = {"otlp": [], "native": []}
    cpu: dict[str, list[dict[str, float]]] = {"otlp": [], "native": []}
    with tempfile.TemporaryDirectory(prefix="swarmscope-bench-otlp-") as tmp:
        async with postgres_database() as database_url:
            env = {"SWARMSCOPE_LOG_LEVEL": "WARNING", "SWARMSCOPE_GATEWAY_RATE_LIMIT_PER_SECOND": "0"}
            stack = LocalStack(data_dir=Path(tmp), database_url=database_url, env=env)
            stack.start()
            database = urlsplit(database_url).path.lstrip("/")
            meter = CpuMeter(
                {
                    "gateway": lambda: [stack.processes["gateway"].process.pid],
                    "ingest": lambda: [stack.processes["ingest"].process.pid],
                    "store": lambda: [stack.processes["store"].process.pid],
                    "replay": lambda: [stack.processes["replay"].process.pid],
                    "nats-server": lambda: [stack.nats.process.pid] if stack.nats else [],
                    "postgres": lambda: postgres_backends(database),
                }
            )
            gateway = stack.processes["gateway"].url
            db = await asyncpg.connect(database_url)
            try:
                stored = 0
                warm = record_runs(1000, "warm")
                await asyncio.to_thread(export_otlp, f"{gateway}/v1/traces", warm, args.exporters)
                stored += events_of(warm)
                await wait_count(db, stored)
                for trial in range(args.trials):
                    for path in ("otlp", "native"):
                        spans = record_runs(args.spans, f"{path}-{trial}-{uuid.uuid4().hex[:6]}")
                        if path == "otlp":
                            expected = events_of(spans)
                            send: Callable[[], None] = lambda spans=spans: export_otlp(  # noqa: E731
                                f"{gateway}/v1/traces", spans, args.exporters
                            )
                        else:
                            bodies, expected = native_bodies(spans)
                            send = lambda bodies=bodies: post_native(gateway, bodies, args.exporters)  # noqa: E731
                        meter.begin()
                        started = time.monotonic()
                        await asyncio.to_thread(send)
                        sent = time.monotonic()
                        finished = await wait_count(db, stored + expected)
                        used = {role: s / len(spans) * 1e6 for role, s in meter.end().items()}
                        stored += expected
                        rate = len(spans) / (finished - started)
                        results[path].append(rate)
                        cpu[path].append(used)
                        print(
                            f"  {path:<6} trial {trial + 1}: {len(spans)} spans ({expected} events) committed in "
                            f"{finished - started:.2f}s (sent in {sent - started:.2f}s) → {rate:,.0f} spans/s; "
                            "CPU µs/span: " + ", ".join(f"{r} {v:.0f}" for r, v in used.items())
                        )
            finally:
                await db.close()
                stack.stop()
    print()
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {cores} cores")
    figures: list[dict[str, Any]] = []
    native = statistics.median(results["native"])
    for path, label in (
        ("otlp", "OTLP/HTTP protobuf exporter → committed"),
        ("native", "POST /api/v1/ingest → committed"),
    ):
        median = statistics.median(results[path])
        roles = cpu[path][0].keys()
        per_role = {r: statistics.median(s[r] for s in cpu[path]) for r in roles}
        total = sum(per_role.values())
        print(
            f"{label:<42} {median:>10,.0f} spans/s  CPU µs/span {total:.0f} ("
            + ", ".join(f"{r} {v:.0f}" for r, v in per_role.items())
            + f") → CPU-bound capacity {cores * 1e6 / total:,.0f} spans/s"
        )
        figures.append(
            {
                "figure": f"{label} (spans/s)",
                "value": round(median, 1),
                "unit": "spans/s",
                "ceiling": round(native, 1) if path == "otlp" else None,
            }
        )
        figures.append(
            {"figure": f"{label}: gateway CPU per span", "value": round(per_role["gateway"], 1), "unit": "µs"}
        )
        figures.append(
            {"figure": f"{label}: whole pipeline CPU per span", "value": round(total, 1), "unit": "µs"}
        )
    print("BENCH_RESULT " + orjson.dumps({"bench": "otlp_ingest", "figures": figures}).decode())


if __name__ == "__main__":
    asyncio.run(main())
