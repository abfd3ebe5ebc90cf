"""The performance monitor: figures from a registry, thresholds, and alerts into TRACES_RAW (real NATS)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_schema.codec import loads
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_RAW, SYSTEM_SESSION_ID, raw_msg_id, raw_subject
from swarmscope_service.monitor import (
    GaugeReading,
    MonitorSettings,
    MonitorSources,
    PerformanceMonitor,
    Threshold,
    histogram_quantile,
    performance_monitor,
    thresholds_from_settings,
)
from swarmscope_service.nats_setup import provision


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await provision(js)
        yield js
    finally:
        await nc.close()


def _service() -> str:
    return f"montest-{uuid.uuid4().hex[:8]}"


def _monitor(
    js: JetStreamContext,
    registry: CollectorRegistry,
    service: str,
    clock: FakeClock,
    settings: MonitorSettings,
    sources: MonitorSources | None = None,
) -> PerformanceMonitor:
    return PerformanceMonitor(
        js=js,
        registry=registry,
        service=service,
        thresholds=thresholds_from_settings(settings, sources or MonitorSources(query_histogram=None)),
        interval=settings.interval_seconds,
        repeat_seconds=settings.repeat_seconds,
        clock=clock,
    )


# Thresholds no test crosses unless it means to.
QUIET = {
    "collection_overhead_max": 1000.0,
    "memory_rss_max_bytes": 1 << 50,
    "latency_p99_max_seconds": 1000.0,
    "storage_write_rate_min": 0.0,
    "query_p95_max_seconds": 1000.0,
}


def _settings(**overrides: float) -> MonitorSettings:
    return MonitorSettings(**{**QUIET, **overrides})  # type: ignore[arg-type]


async def _alerts_in_stream(
    js: JetStreamContext, service: str, expected: int
) -> list[tuple[TraceEvent, str]]:
    subject = raw_subject(SYSTEM_SESSION_ID, service, "performance_alert")
    sub = await js.subscribe(subject, ordered_consumer=True)
    try:
        found: list[tuple[TraceEvent, str]] = []
        while len(found) < expected:
            msg = await sub.next_msg(timeout=5)
            found.append((TraceEvent.model_validate(loads(msg.data)), (msg.headers or {})[MSG_ID_HEADER]))
        with contextlib.suppress(nats.errors.TimeoutError):
            extra = await sub.next_msg(timeout=0.2)
            found.append((TraceEvent.model_validate(loads(extra.data)), ""))
        return found
    finally:
        await sub.unsubscribe()


def _alerts_total(registry: CollectorRegistry, metric: str) -> float:
    return registry.get_sample_value("swarmscope_performance_alerts_total", {"metric": metric}) or 0.0


async def test_memory_over_threshold_publishes_a_valid_alert_event_into_traces_raw(
    js: JetStreamContext,
) -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    service = _service()
    monitor = _monitor(js, registry, service, clock, _settings(memory_rss_max_bytes=1024))
    monitor.baseline()
    clock.now += 5
    alerts = await monitor.check()
    assert [a.event.data["metric"] for a in alerts] == ["memory_rss"]
    assert alerts[0].published

    [(event, msg_id)] = await _alerts_in_stream(js, service, 1)
    assert event.session_id == SYSTEM_SESSION_ID == "_system"
    assert event.agent_id == service
    assert event.type == "performance_alert"
    assert msg_id == raw_msg_id(SYSTEM_SESSION_ID, event.id)  # agreement 1: keyed by session and id
    assert event.data["metric"] == "memory_rss"
    assert event.data["threshold"] == 1024
    assert event.data["value"] > 1024
    assert event.data["unit"] == "bytes"
    assert event.data["service"] == service
    assert event.metadata.priority == "high"
    assert _alerts_total(registry, "memory_rss") == 1
    assert registry.get_sample_value("swarmscope_performance_threshold", {"metric": "memory_rss"}) == 1024
    assert (registry.get_sample_value("swarmscope_performance_value", {"metric": "memory_rss"}) or 0) > 1024
    info = await js.stream_info(STREAM_RAW)
    assert info.state.messages >= 1


async def test_an_alert_repeats_only_after_repeat_seconds_and_rearms_after_recovery(
    js: JetStreamContext,
) -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    service = _service()
    depth = Gauge("swarmscope_test_queue_depth", "test", registry=registry)
    monitor = PerformanceMonitor(
        js=js,
        registry=registry,
        service=service,
        thresholds=[
            Threshold("queue_depth", 10, "above", "messages", GaugeReading("swarmscope_test_queue_depth"))
        ],
        repeat_seconds=60,
        clock=clock,
    )
    monitor.baseline()
    depth.set(50)
    clock.now += 5
    assert len(await monitor.check()) == 1
    clock.now += 5
    assert await monitor.check() == []  # still crossed, inside the repeat window
    clock.now += 60
    assert len(await monitor.check()) == 1  # still crossed, repeat window passed
    depth.set(1)
    clock.now += 5
    assert await monitor.check() == []  # recovered
    depth.set(99)
    clock.now += 5
    assert len(await monitor.check()) == 1  # a new crossing alerts at once
    assert _alerts_total(registry, "queue_depth") == 3
    assert len(await _alerts_in_stream(js, service, 3)) == 3


async def test_latency_p99_over_the_interval_per_stage(js: JetStreamContext) -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    service = _service()
    latency = Histogram(
        "swarmscope_test_pipeline_latency_seconds",
        "test",
        ["stage"],
        buckets=(0.01, 0.05, 0.1, 0.5, 1, 5),
        registry=registry,
    )
    for _ in range(1000):
        latency.labels("stored").observe(2.0)  # an old spike, before the monitor's baseline
    monitor = _monitor(
        js,
        registry,
        service,
        clock,
        _settings(latency_p99_max_seconds=0.1, min_observations=20),
        MonitorSources(latency_histogram="swarmscope_test_pipeline_latency_seconds", query_histogram=None),
    )
    monitor.baseline()
    for _ in range(200):
        latency.labels("stored").observe(0.02)
        latency.labels("delivered").observe(0.005)
    clock.now += 5
    assert await monitor.check() == []  # the spike before the interval does not count

    for _ in range(99):
        latency.labels("delivered").observe(0.005)
    for _ in range(5):
        latency.labels("delivered").observe(0.8)
    for _ in range(10):
        latency.labels("stored").observe(3.0)  # too few observations in this interval to judge
    clock.now += 5
    alerts = await monitor.check()
    assert len(alerts) == 1
    data = alerts[0].event.data
    assert data["metric"] == "latency_p99"
    assert data["labels"] == {"stage": "delivered"}
    assert 0.5 < data["value"] <= 1.0
    assert data["window_seconds"] == 5


async def test_storage_write_rate_below_minimum_only_while_a_backlog_waits(js: JetStreamContext) -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    service = _service()
    committed = Counter("swarmscope_test_events_committed_total", "test", registry=registry)
    pending = Gauge("swarmscope_consumer_pending_messages", "test", ["stream", "durable"], registry=registry)
    monitor = _monitor(
        js,
        registry,
        service,
        clock,
        _settings(storage_write_rate_min=1000),
        MonitorSources(
            write_counter="swarmscope_test_events_committed_total",
            backlog_durable="store",
            query_histogram=None,
        ),
    )
    monitor.baseline()
    pending.labels("TRACES", "store").set(10)
    committed.inc(50)  # 10 events/s, but nothing was waiting: a quiet swarm, not a slow store
    clock.now += 5
    assert await monitor.check() == []

    pending.labels("TRACES", "store").set(80_000)
    committed.inc(1000)  # 200 events/s with 80k waiting
    clock.now += 5
    [alert] = await monitor.check()
    assert alert.event.data["metric"] == "storage_write_rate"
    assert alert.event.data["direction"] == "below"
    assert alert.event.data["value"] == pytest.approx(200.0)

    committed.inc(50_000)  # 10k events/s: caught up to speed
    clock.now += 5
    assert await monitor.check() == []
    assert registry.get_sample_value(
        "swarmscope_performance_value", {"metric": "storage_write_rate"}
    ) == pytest.approx(10_000.0)


async def test_query_p95_and_collection_overhead(js: JetStreamContext) -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    service = _service()
    seconds = Histogram(
        "swarmscope_request_seconds",
        "test",
        ["op", "outcome"],
        buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
        registry=registry,
    )
    monitor = _monitor(
        js,
        registry,
        service,
        clock,
        _settings(query_p95_max_seconds=0.05, collection_overhead_max=0.01, min_observations=20),
        MonitorSources(),
    )
    monitor.baseline()
    for _ in range(90):
        seconds.labels("events", "ok").observe(0.004)
    for _ in range(10):
        seconds.labels("events", "ok").observe(0.2)
    # Spend real CPU time and let the fake clock say it happened within 0.1 s: well over 1 % of a core.
    spent = time.process_time()
    while time.process_time() - spent < 0.05:
        sum(i * i for i in range(1000))
    clock.now += 0.1
    alerts = await monitor.check()
    by_metric = {a.event.data["metric"]: a.event.data for a in alerts}
    assert set(by_metric) == {"query_p95", "collection_overhead"}
    assert by_metric["query_p95"]["value"] > 0.1
    assert by_metric["query_p95"]["labels"] == {"op": "events", "outcome": "ok"}
    assert by_metric["collection_overhead"]["value"] > 0.01
    assert by_metric["collection_overhead"]["unit"] == "cores"


async def test_run_checks_in_the_background_until_cancelled(js: JetStreamContext) -> None:
    registry = CollectorRegistry()
    service = _service()
    settings = _settings(memory_rss_max_bytes=1024, interval_seconds=0.05, repeat_seconds=3600)
    monitor = PerformanceMonitor.from_settings(js, registry, service, settings)
    task = asyncio.create_task(monitor.run())
    try:
        async with asyncio.timeout(10):
            while _alerts_total(registry, "memory_rss") < 1:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # several more rounds: still crossed, inside the repeat window
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert _alerts_total(registry, "memory_rss") == 1
    assert len(await _alerts_in_stream(js, service, 1)) == 1


async def test_nats_down_counts_the_alert_and_a_publish_error_and_never_raises(tmp_path: Path) -> None:
    server = start_nats_server(tmp_path / "nats")
    nc: NatsClient | None = None
    try:
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        js = nc.jetstream()
        await provision(js)
        registry = CollectorRegistry()
        clock = FakeClock()
        monitor = _monitor(js, registry, _service(), clock, _settings(memory_rss_max_bytes=1024))
        monitor.publish_timeout = 0.3
        monitor.baseline()
        server.kill()
        clock.now += 5
        [alert] = await monitor.check()
        assert not alert.published
        assert _alerts_total(registry, "memory_rss") == 1
        assert registry.get_sample_value("swarmscope_performance_alert_publish_errors_total") == 1
    finally:
        if nc is not None:
            # A client reconnecting to a dead server may take its time to close on a busy machine:
            # bound it, the server is gone either way.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)
        server.stop()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMSCOPE_MONITOR_MEMORY_RSS_MAX_BYTES", "1048576")
    monkeypatch.setenv("SWARMSCOPE_MONITOR_LATENCY_P99_MAX_SECONDS", "0.25")
    monkeypatch.setenv("SWARMSCOPE_MONITOR_ENABLED", "false")
    settings = MonitorSettings()
    assert settings.memory_rss_max_bytes == 1048576
    assert settings.latency_p99_max_seconds == 0.25
    assert settings.enabled is False
    assert settings.interval_seconds == 5.0
    monkeypatch.setenv("SWARMSCOPE_MONITOR_QUERY_P95_MAX_SECONDS", "-1")
    with pytest.raises(ValidationError, match="query_p95_max_seconds"):
        MonitorSettings()


def test_only_checks_with_sources_are_built() -> None:
    metrics = [
        t.metric for t in thresholds_from_settings(MonitorSettings(), MonitorSources(query_histogram=None))
    ]
    assert metrics == ["collection_overhead", "memory_rss"]
    full = MonitorSources(
        latency_histogram="h", write_counter="c_total", backlog_durable="store", query_histogram="q"
    )
    metrics = [t.metric for t in thresholds_from_settings(MonitorSettings(), full)]
    assert metrics == ["collection_overhead", "memory_rss", "latency_p99", "storage_write_rate", "query_p95"]
    # Without a backlog to judge it against, a write rate is never a fault.
    no_backlog = MonitorSources(write_counter="c_total")
    assert "storage_write_rate" not in [
        t.metric for t in thresholds_from_settings(MonitorSettings(), no_backlog)
    ]


def test_histogram_quantile_matches_prometheus() -> None:
    inf = math.inf
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.75)
    assert histogram_quantile(0.99, [(0.1, 1.0), (inf, 100.0)]) == 0.1  # rank in +Inf: highest bound
    assert math.isnan(histogram_quantile(0.99, [(0.1, 0.0), (inf, 0.0)]))


async def test_performance_monitor_reads_the_environment_and_can_be_disabled(
    js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARMSCOPE_MONITOR_ENABLED", "false")
    assert performance_monitor(js, CollectorRegistry(), "store") is None
    monkeypatch.setenv("SWARMSCOPE_MONITOR_ENABLED", "true")
    monkeypatch.setenv("SWARMSCOPE_MONITOR_INTERVAL_SECONDS", "2.5")
    sources = MonitorSources(
        latency_histogram="swarmscope_store_stored_latency_seconds",
        write_counter="swarmscope_store_rows_committed_total",
        write_labels={"table": "events"},
        backlog_durable="store",
    )
    monitor = performance_monitor(js, CollectorRegistry(), "store", sources)
    assert monitor is not None
    assert monitor.interval == 2.5
    assert [t.metric for t in monitor.thresholds] == [
        "collection_overhead",
        "memory_rss",
        "latency_p99",
        "storage_write_rate",
        "query_p95",
    ]


async def test_write_rate_counts_only_the_labelled_series(js: JetStreamContext) -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    rows = Counter("swarmscope_test_rows_total", "test", ["table"], registry=registry)
    pending = Gauge("swarmscope_consumer_pending_messages", "test", ["stream", "durable"], registry=registry)
    monitor = _monitor(
        js,
        registry,
        _service(),
        clock,
        _settings(storage_write_rate_min=100),
        MonitorSources(
            write_counter="swarmscope_test_rows_total",
            write_labels={"table": "events"},
            backlog_durable="store",
            query_histogram=None,
        ),
    )
    monitor.baseline()
    pending.labels("TRACES", "store").set(10_000)
    rows.labels("events").inc(50)
    rows.labels("dead_letters").inc(5000)  # not events: must not hide a slow event write
    clock.now += 5
    [alert] = await monitor.check()
    assert alert.event.data["value"] == pytest.approx(10.0)
