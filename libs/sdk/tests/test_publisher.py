"""The publisher against a real NATS: restarts lose nothing, a full buffer sheds by priority and says
so, oversized events are reported, close and pressure behave."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import pytest

from swarmscope import DROPS_EVENT_TYPE, Tracer
from swarmscope.testing import published_events
from swarmscope_dev.nats_server import NatsServer, start_nats_server
from swarmscope_schema.events import TraceEvent
from swarmscope_service.nats_setup import provision


def restart(server: NatsServer) -> NatsServer:
    return start_nats_server(server.data_dir, server.port)


def test_nothing_is_lost_across_a_nats_restart(private_nats: NatsServer, session_id: str) -> None:
    tracer = Tracer(session_id, private_nats.url, agent_id="cod-1", publish_timeout=1.0)
    for i in range(200):
        tracer.emit("custom.before", {"i": i})
    assert tracer.flush(15)
    # A burst still in flight when the server dies: some acknowledged, some not.
    for i in range(3000):
        tracer.emit("custom.burst", {"i": i})
    private_nats.kill()
    for i in range(300):
        tracer.emit("custom.during", {"i": i})
    assert tracer.stats()["buffered"] > 0
    server = restart(private_nats)
    try:
        assert tracer.flush(60)
        stats = tracer.stats()
        tracer.close()
        events = published_events(server.url, session_id)
    finally:
        server.stop()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 3500  # every event once: retries reuse ids, dedupe drops repeats
    counts = Counter(e["type"] for e in events)
    assert counts == {"custom.before": 200, "custom.burst": 3000, "custom.during": 300}
    assert stats["lost"] == 0
    assert stats["published"] >= 3500
    seqs = [e["agent_seq"] for e in events]
    assert sorted(seqs) == list(range(1, 3501))


def test_a_full_buffer_sheds_low_first_and_reports_every_drop(
    private_nats: NatsServer, session_id: str
) -> None:
    private_nats.stop()  # NATS is away: everything stays in the buffer of 10
    tracer = Tracer(session_id, private_nats.url, max_buffer=10, drop_report_interval=0)
    for priority, count in (("low", 10), ("normal", 5), ("high", 3), ("critical", 12), ("low", 1)):
        for i in range(count):
            tracer.emit("custom.load", {"priority": priority, "i": i}, priority=priority)
    assert tracer.stats()["dropped"] == {"buffer_full": {"low": 11, "normal": 5, "high": 3, "critical": 1}}
    assert tracer.stats()["lost"] == 20
    server = restart(private_nats)
    try:
        assert tracer.flush(60)
        tracer.close()
        events = published_events(server.url, session_id)
    finally:
        server.stop()
    kept = [e for e in events if e["type"] == "custom.load"]
    # Critical events took the room of every lower one, then the reserve above the capacity.
    assert [(e["data"]["priority"], e["data"]["i"]) for e in kept] == [("critical", i) for i in range(11)]
    (report,) = [e for e in events if e["type"] == DROPS_EVENT_TYPE]
    TraceEvent.model_validate(report)
    assert report["metadata"]["priority"] == "critical"
    assert report["data"]["dropped"] == {"buffer_full": {"critical": 1, "high": 3, "low": 11, "normal": 5}}
    assert report["data"]["lost"] == 20
    assert report["data"]["buffer_capacity"] == 10


def test_shedding_keeps_the_oldest_of_the_lowest_priority(private_nats: NatsServer, session_id: str) -> None:
    private_nats.stop()
    tracer = Tracer(session_id, private_nats.url, max_buffer=10, drop_report_interval=0)
    for i in range(10):
        tracer.emit("custom.low", {"i": i}, priority="low")
    for i in range(4):
        tracer.emit("custom.normal", {"i": i})
    server = restart(private_nats)
    try:
        assert tracer.flush(60)
        tracer.close()
        events = published_events(server.url, session_id)
    finally:
        server.stop()
    order = [(e["type"], e["data"].get("i")) for e in events if e["type"] != DROPS_EVENT_TYPE]
    assert order == [("custom.low", i) for i in range(6)] + [("custom.normal", i) for i in range(4)]


def test_close_with_nats_away_counts_and_logs_what_was_not_sent(
    private_nats: NatsServer, session_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    private_nats.stop()
    tracer = Tracer(session_id, private_nats.url)
    for i in range(5):
        tracer.emit("custom.x", {"i": i})
    with caplog.at_level(logging.ERROR, logger="swarmscope"):
        assert tracer.close(timeout=0.5) is False
    assert tracer.stats()["dropped"] == {"unsent_at_close": {"normal": 5}}
    assert "5 events could not be published" in caplog.text
    tracer.emit("custom.late", {})
    assert tracer.stats()["dropped"]["closed"] == {"normal": 1}
    assert tracer.close() is True  # idempotent


def test_oversized_events_are_reported_or_truncated_when_asked(js_url: str, session_id: str) -> None:
    huge = "z" * (2 * 1024 * 1024)
    strict = Tracer(session_id, js_url, agent_id="cod-1")
    with strict.span("agent_method", {"method": "dump"}):
        dropped_id = strict.emit("llm_call", {"model": "m", "response": huge})
    assert strict.flush(10)
    assert strict.stats()["dropped"] == {"too_large": {"normal": 1}}
    strict.close()
    lenient = Tracer(session_id, js_url, agent_id="cod-2", max_value_bytes=64 * 1024)
    kept_id = lenient.emit("llm_call", {"model": "m", "response": huge})
    assert lenient.flush(10)
    lenient.close()
    events = {e["id"]: e for e in published_events(js_url, session_id)}
    assert dropped_id not in events
    error = next(e for e in events.values() if e["type"] == "error")
    assert error["data"]["error_type"] == "EventTooLarge"
    assert error["data"]["dropped_event"]["id"] == dropped_id
    assert error["agent_id"] == "cod-1"
    method = next(e for e in events.values() if e["type"] == "agent_method" and e["phase"] == "start")
    assert error["metadata"]["parent_id"] == method["span_id"]
    assert events[kept_id]["metadata"]["truncated"] is True
    assert len(events[kept_id]["data"]["response"]) < 70 * 1024


def test_pressure_mode_traces_essential_events_only(js_url: str, session_id: str, wait_for: Any) -> None:
    tracer = Tracer(session_id, js_url, agent_id="cod-1", memory_threshold_bytes=1)
    wait_for(lambda: tracer.stats()["pressure"])
    assert tracer.emit("agent_method", {"method": "chatty"}) is None
    assert tracer.emit("memory_read", {"key": "k"}) is None
    assert tracer.emit("task_start", {"task_id": "T1"}, phase="start") is not None
    assert tracer.emit("custom.important", {}, priority="high") is not None
    assert tracer.emit("tool_call", {"tool": "Bash", "error": "x"}, phase="error") is not None
    assert tracer.flush(10)
    assert tracer.stats()["dropped"] == {"pressure": {"normal": 2}}
    tracer.close()
    events = published_events(js_url, session_id)
    alert = events[0]
    assert alert["type"] == "performance_alert"
    assert alert["data"]["metric"] == "sdk.rss_bytes"
    assert alert["data"]["mode"] == "essential_only"
    assert [e["type"] for e in events[1:4]] == ["task_start", "custom.important", "tool_call"]
    report = events[-1]
    assert report["type"] == DROPS_EVENT_TYPE
    assert report["data"]["filtered"] == 2
    assert report["data"]["lost"] == 0


def test_a_full_batch_is_sent_without_waiting_for_the_flush_interval(
    js_url: str, session_id: str, wait_for: Any
) -> None:
    tracer = Tracer(session_id, js_url, max_batch=50, flush_interval=60.0)
    wait_for(lambda: tracer.stats()["connected"])
    for i in range(50):
        tracer.emit("custom.x", {"i": i})
    # Far sooner than the 60 s linger: the 50th event woke the publisher.
    wait_for(lambda: tracer.stats()["published"] == 50, timeout=20)
    tracer.close()
    assert len(published_events(js_url, session_id)) == 50


def test_events_wait_for_streams_that_do_not_exist_yet(
    tmp_path: Path, session_id: str, wait_for: Any
) -> None:
    server = start_nats_server(tmp_path / "bare")  # no TRACES_RAW: the services have not started
    try:
        tracer = Tracer(session_id, server.url, publish_timeout=1.0)
        tracer.emit("custom.early", {})
        wait_for(lambda: "stream" in (tracer.stats()["last_error"] or ""))
        assert tracer.stats()["lost"] == 0
        asyncio.run(provision_streams(server.url))
        assert tracer.flush(30)
        tracer.close()
        assert [e["type"] for e in published_events(server.url, session_id)] == ["custom.early"]
    finally:
        server.stop()


async def provision_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()
