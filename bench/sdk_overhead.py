"""What tracing costs an agent (issue 6 §7; TARGETS: ≤ 3 µs median per event on the caller's path,
≤ 1 % on a 1 ms agent step with 2 events), beside OpenTelemetry's span cost, in the same run.

    uv run python bench/sdk_overhead.py

Starts its own nats-server (the wheel) and provisions the streams, so the publisher thread really
publishes while the caller is measured. Figures:
- emit: one `tracer.emit(...)` timed alone (timer overhead subtracted), median and p95, with the
  buffer kept below capacity (the shedding path is not what an agent normally pays).
- span: `with tracer.span(...)` (start + complete, duration/CPU/memory measured) vs an OpenTelemetry
  SDK span (`start_as_current_span`, BatchSpanProcessor with a no-op exporter).
- step overhead: a simulated agent step of 1 ms (waiting on I/O, as agents wait for LLMs and tools)
  emitting 2 events; the time spent inside the emit calls, timed in place, over the time of the
  steps. Comparing two loops of sleeps instead drowns a 0.4 % signal in scheduler jitter here.
- whole-process CPU per event: caller path, encoding, publishing and acknowledgements together
  (process CPU time over a 100k burst). For an agent that is CPU-bound in Python, where the
  publisher thread competes for the GIL, 2 events per 1 ms step cost about twice this.
- publisher throughput: events per second from `emit` to acknowledged by JetStream, beside the
  ceiling of bare nats-py speaking the same pipelined protocol (and `js.publish_async` for
  reference), in this process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nats
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from swarmscope import Tracer
from swarmscope_dev.nats_server import start_nats_server
from swarmscope_service.nats_setup import provision

EMIT_ROUNDS = 40
EMITS_PER_ROUND = 2_000
STEPS_PER_ROUND = 1_000
STEP_ROUNDS = 3


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[object]) -> SpanExportResult:  # type: ignore[override]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(100_000):
        t0 = clock()
        t1 = clock()
        samples.append(t1 - t0)
    return statistics.median(samples)


def time_each(fn: Callable[[], object], count: int, overhead: float) -> list[float]:
    """Per-call durations in µs, timer overhead subtracted."""
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        t0 = clock()
        fn()
        t1 = clock()
        out.append((t1 - t0 - overhead) / 1000.0)
    return out


async def provision_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()


async def raw_publish_rates(url: str, count: int) -> tuple[float, float]:
    """Events per second of bare nats-py, same payload and headers, no SDK: (pipelined core publish
    with a reply inbox and one wildcard ack subscription, the protocol the SDK speaks; and
    `js.publish_async` in windows of 500, the client's own pipelining)."""
    nc = await nats.connect(url)
    try:
        payload = json.dumps(
            {
                "id": "x" * 25,
                "timestamp": 1.0,
                "session_id": "bench-raw",
                "type": "custom.x",
                "data": {"i": 1},
            }
        ).encode()
        subject = "traces.raw.bench-raw.agent.custom_x"
        inbox = nc.new_inbox()
        waiting: set[str] = set()
        done = asyncio.Event()

        async def on_ack(msg: object) -> None:
            waiting.discard(msg.subject[len(inbox) + 1 :])  # type: ignore[attr-defined]
            if not waiting:
                done.set()

        sub = await nc.subscribe(inbox + ".*", cb=on_ack)
        started = time.perf_counter()
        for start in range(0, count, 500):
            done.clear()
            for i in range(start, min(count, start + 500)):
                token = f"{i:x}"
                waiting.add(token)
                await nc.publish(
                    subject, payload, reply=f"{inbox}.{token}", headers={"Nats-Msg-Id": f"core-{i}"}
                )
            await asyncio.wait_for(done.wait(), 30)
        core_rate = count / (time.perf_counter() - started)
        await sub.unsubscribe()

        js = nc.jetstream(publish_async_max_pending=20_000)
        started = time.perf_counter()
        for start in range(0, count, 500):
            futures = [
                await js.publish_async(subject, payload, headers={"Nats-Msg-Id": f"async-{i}"})
                for i in range(start, min(count, start + 500))
            ]
            await asyncio.wait_for(asyncio.gather(*futures), 30)
        return core_rate, count / (time.perf_counter() - started)
    finally:
        await nc.close()


def step_share(tracer: Tracer, overhead: float) -> tuple[float, float, float, float]:
    """An agent doing steps of 1 ms (waiting on I/O) with 2 events each, every emit timed in place.

    Returns (median step µs, median and p95 in-step emit µs, caller-path share of a step in %). The
    share uses medians: on a shared 2-core machine a mean is dominated by the OS descheduling this
    process in the middle of an emit, which an agent pays whether it traces or not.
    """
    agent = tracer.agent("cod-1")
    clock = time.perf_counter_ns
    emits: list[float] = []
    steps: list[float] = []
    for _ in range(STEP_ROUNDS):
        for i in range(STEPS_PER_ROUND):
            t0 = clock()
            agent.emit("tool_call", {"tool": "Bash", "args": {"i": i}}, phase="start")
            t1 = clock()
            time.sleep(0.001)
            t2 = clock()
            agent.emit("tool_call", {"tool": "Bash", "args": {"i": i}, "exit_code": 0})
            t3 = clock()
            emits += [(t1 - t0 - overhead) / 1000.0, (t3 - t2 - overhead) / 1000.0]
            steps.append((t3 - t0) / 1000.0)
        tracer.flush(30)
    step = statistics.median(steps)
    emit = statistics.median(emits)
    return step, emit, percentile(emits, 0.95), 2 * emit / (step - 2 * emit) * 100.0


def main() -> None:
    figures: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="sdk-bench-") as tmp:
        server = start_nats_server(Path(tmp) / "nats")
        try:
            asyncio.run(provision_streams(server.url))
            overhead = timer_overhead_ns()
            print(f"timer overhead {overhead:.0f} ns (subtracted)")

            tracer = Tracer("bench-sdk", server.url, agent_id="cod-1", max_buffer=50_000)
            data = {"tool": "Bash", "args": {"command": "pytest -q"}, "exit_code": 0}
            emit_samples: list[float] = []
            gc.collect()
            for _ in range(EMIT_ROUNDS):
                emit_samples += time_each(lambda: tracer.emit("tool_call", data), EMITS_PER_ROUND, overhead)
                tracer.flush(30)
            emit_median = statistics.median(emit_samples)
            emit_p95 = percentile(emit_samples, 0.95)
            print(f"emit: median {emit_median:.2f} µs, p95 {emit_p95:.2f} µs ({len(emit_samples)} events)")

            span_samples: list[float] = []

            def one_span() -> None:
                with tracer.span("tool_call", data):
                    pass

            for _ in range(EMIT_ROUNDS // 4):
                span_samples += time_each(one_span, EMITS_PER_ROUND // 2, overhead)
                tracer.flush(30)
            span_median = statistics.median(span_samples)

            provider = TracerProvider()
            # A queue that holds a whole round, flushed between rounds (as the SDK's buffer is):
            # with the default 2048 some spans would take OpenTelemetry's cheaper drop path.
            provider.add_span_processor(
                BatchSpanProcessor(NoopExporter(), max_queue_size=EMITS_PER_ROUND * 4)
            )
            otel = provider.get_tracer("bench")

            def otel_span() -> None:
                with otel.start_as_current_span("tool_call", attributes={"tool": "Bash", "exit_code": 0}):
                    pass

            otel_samples: list[float] = []
            for _ in range(EMIT_ROUNDS // 4):
                otel_samples += time_each(otel_span, EMITS_PER_ROUND // 2, overhead)
                provider.force_flush()
            provider.shutdown()
            otel_median = statistics.median(otel_samples)
            print(f"span start+end: swarmscope {span_median:.2f} µs, OpenTelemetry SDK {otel_median:.2f} µs")

            step_us, step_emit, step_emit_p95, step_share_pct = step_share(tracer, overhead)
            print(
                f"1 ms agent step (I/O wait) + 2 events: median step {step_us:.0f} µs, emit in the step "
                f"median {step_emit:.2f} µs (p95 {step_emit_p95:.2f}), caller-path overhead {step_share_pct:.3f} %"
            )
            tracer.close()

            burst = 100_000
            fast = Tracer("bench-throughput", server.url, agent_id="cod-1", max_buffer=burst + 10)
            started = time.perf_counter()
            cpu0 = time.process_time()
            for i in range(burst):
                fast.emit("tool_call", {"tool": "Bash", "args": {"i": i}, "exit_code": 0})
            assert fast.flush(120)
            throughput = burst / (time.perf_counter() - started)
            cpu_per_event = (time.process_time() - cpu0) / burst * 1e6
            cpu_share = 2 * cpu_per_event / 1000.0 * 100.0
            print(
                f"whole process CPU per event (caller + encode + publish + acks): {cpu_per_event:.1f} µs; "
                f"on a CPU-bound 1 ms step with 2 events that is {cpu_share:.2f} %"
            )
            lost = fast.stats()["lost"]
            fast.close()
            ceiling, publish_async_rate = asyncio.run(raw_publish_rates(server.url, burst))
            print(
                f"publisher: {throughput:,.0f} events/s emitted and acknowledged ({lost} lost); bare nats-py, "
                f"same protocol: {ceiling:,.0f} events/s; bare js.publish_async: {publish_async_rate:,.0f} events/s"
            )
        finally:
            server.stop()

    figures = [
        {
            "figure": "emit, caller path, median",
            "value": round(emit_median, 3),
            "unit": "µs/event",
            "target": "<= 3",
            "ceiling": None,
        },
        {
            "figure": "emit, caller path, p95",
            "value": round(emit_p95, 3),
            "unit": "µs/event",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": "span start+end, median",
            "value": round(span_median, 3),
            "unit": "µs/span",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": "OpenTelemetry SDK span start+end, median",
            "value": round(otel_median, 3),
            "unit": "µs/span",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": "1 ms agent step with 2 events: caller-path overhead",
            "value": round(step_share_pct, 3),
            "unit": "%",
            "target": "<= 1",
            "ceiling": None,
        },
        {
            "figure": "whole-process CPU per event (caller + publisher)",
            "value": round(cpu_per_event, 2),
            "unit": "µs/event",
            "target": None,
            "ceiling": None,
        },
        {
            "figure": "publisher throughput (emit → acked)",
            "value": round(throughput),
            "unit": "events/s",
            "target": None,
            "ceiling": round(ceiling),
        },
        {
            "figure": "bare nats-py js.publish_async, windows of 500",
            "value": round(publish_async_rate),
            "unit": "events/s",
            "target": None,
            "ceiling": None,
        },
    ]
    print("BENCH_RESULT " + json.dumps({"bench": "sdk_overhead", "figures": figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()
