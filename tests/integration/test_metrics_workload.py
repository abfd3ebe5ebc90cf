"""After a known workload through the whole system, the services' counters equal what happened.

One stack (nats-server + ingest + store + replay + gateway as processes), one SSE client, a known
mix of valid and malformed events; then each service's /metrics is parsed and compared with the
workload: accepted, dead-lettered by reason, committed, delivered; latency histograms observed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from swarmscope_dev.stack import LocalStack
from swarmscope_schema.codec import dumps
from swarmscope_schema.subjects import MSG_ID_HEADER, raw_subject
from swarmscope_schema.testing import make_event

VALID = 120
BAD_JSON = 7
BAD_SCHEMA = 5
SESSION = "metrics-workload"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        data_dir=tmp_path_factory.mktemp("metrics-stack"), env={"SWARMSCOPE_MONITOR_ENABLED": "false"}
    ) as running:
        yield running


def scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def collect_sse(url: str, expected: int, received: list[int]) -> None:
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{url}/api/v1/sessions/{SESSION}/stream", params={"after_seq": 0}) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                body = json.loads(line[5:])
                received.extend(e["seq"] for e in body["events"])
                if len(received) >= expected:
                    return


async def test_counters_match_a_known_workload(stack: LocalStack) -> None:
    received: list[int] = []
    client = asyncio.create_task(collect_sse(stack.gateway_url, VALID, received))
    nc = await nats.connect(str(stack.nats_url))
    try:
        js = nc.jetstream()
        acks = []
        for i in range(VALID):
            event = make_event("tool_call", session_id=SESSION, agent_id="cod-1", event_id=f"ok-{i}")
            subject = raw_subject(SESSION, "cod-1", "tool_call")
            acks.append(await js.publish_async(subject, dumps(event), headers={MSG_ID_HEADER: f"ok-{i}"}))
        for i in range(BAD_JSON):
            acks.append(
                await js.publish_async(
                    raw_subject(SESSION, "cod-1", "tool_call"), b"{not json" + str(i).encode()
                )
            )
        # One SDK drop report (another session, so the SSE client's count is unaffected), with a
        # reason outside the known set that must not become a label of its own.
        drops = make_event(
            "custom.sdk_drops",
            session_id=f"{SESSION}-sdk",
            agent_id="cod-1",
            event_id="drops-1",
            data={"new": {"buffer_full": {"low": 3, "normal": 1}, "<img src=x>": {"low": 2}}},
        )
        acks.append(
            await js.publish_async(raw_subject(f"{SESSION}-sdk", "cod-1", "custom.sdk_drops"), dumps(drops))
        )
        for i in range(BAD_SCHEMA):
            event = make_event(
                "task_start", session_id=SESSION, agent_id="cod-1", event_id=f"bad-{i}", data={}
            )
            acks.append(await js.publish_async(raw_subject(SESSION, "cod-1", "task_start"), dumps(event)))
        await asyncio.gather(*acks)
        await asyncio.wait_for(client, 60)
    finally:
        client.cancel()
        await nc.close()

    assert sorted(received) == sorted(set(received))  # nothing delivered twice
    assert len(received) == VALID

    async def settled() -> tuple[Samples, Samples, Samples]:
        while True:
            ingest, store, gateway = (scrape(stack.url(n)) for n in ("ingest", "store", "gateway"))
            dead = total(ingest, "swarmscope_consumer_dead_letters_total", durable="ingest")
            if (
                dead >= BAD_JSON + BAD_SCHEMA
                and total(store, "swarmscope_store_rows_committed_total", table="events") >= VALID + 1
            ):
                return ingest, store, gateway
            await asyncio.sleep(0.2)

    ingest, store, gateway = await asyncio.wait_for(settled(), 60)
    assert total(ingest, "swarmscope_ingest_events_accepted_total") == VALID + 1
    dropped = "swarmscope_sdk_dropped_events_total"
    assert total(ingest, dropped, reason="buffer_full", priority="low") == 3
    assert total(ingest, dropped, reason="buffer_full", priority="normal") == 1
    assert total(ingest, dropped, reason="other", priority="low") == 2
    assert total(ingest, dropped) == 6
    assert (
        total(ingest, "swarmscope_consumer_dead_letters_total", durable="ingest", reason="invalid_json")
        == BAD_JSON
    )
    assert (
        total(ingest, "swarmscope_consumer_dead_letters_total", durable="ingest", reason="schema_violation")
        == BAD_SCHEMA
    )
    assert total(ingest, "swarmscope_ingest_latency_seconds_count") >= 1
    assert total(store, "swarmscope_store_rows_committed_total", table="events") == VALID + 1
    assert total(store, "swarmscope_store_stored_latency_seconds_count") == VALID + 1
    assert total(gateway, "swarmscope_gateway_events_delivered_total", transport="sse") == VALID
    assert total(gateway, "swarmscope_gateway_delivered_latency_seconds_count", transport="sse") >= 1


def test_every_service_exposes_valid_metrics_and_health(stack: LocalStack, tmp_path: Path) -> None:
    for name in ("ingest", "store", "replay", "gateway"):
        url = stack.url(name)
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        samples = scrape(url)  # parses as Prometheus exposition format or raises
        assert any(n.startswith("swarmscope_") for n, _ in samples), name
        # Never a session or event id as a label value.
        assert not any(SESSION in v for _, labels in samples for _, v in labels), name
