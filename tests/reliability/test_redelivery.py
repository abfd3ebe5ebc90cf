"""Issue 12.4: after a kill -9 of the store, its last un-acked batch comes back within the short ack
wait (SWARMSCOPE_ACK_WAIT_SECONDS) — and a batch slower than the ack wait is not redelivered while
the store still works on it.

The store's batch is held deterministically: the test locks `event_keys` (the store's INSERT waits
on it, its fetched messages un-acked), so the kill always lands on a batch in hand. Assertions are
on the mechanism — the durable's configured ack wait, JetStream's redelivery counts, the
consumer's in-progress and redelivery metrics — and on the audit, never on elapsed time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families
from swarmscope_reliability_support import PublishLog, publish, valid_events

from swarmscope_schema.subjects import DURABLE_STORE, STREAM_EVENTS

ACK_WAIT = 2.0
EVENTS = 600


async def consumer_metric(url: str, name: str, durable: str) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("durable") == durable:
                return float(sample.value)
    return 0.0


async def test_the_batch_of_a_killed_store_is_redelivered_within_the_ack_wait(
    start_pipeline: Any, fresh_postgres_url: str
) -> None:
    pipeline = await start_pipeline(fresh_postgres_url, env={"SWARMSCOPE_ACK_WAIT_SECONDS": str(ACK_WAIT)})
    nc = await pipeline.connect()
    lock = await asyncpg.connect(fresh_postgres_url)
    try:
        js = nc.jetstream()
        assert (await js.consumer_info(STREAM_EVENTS, DURABLE_STORE)).config.ack_wait == ACK_WAIT
        # The store's writes wait on this lock: its batch stays in hand, un-acked.
        held = lock.transaction()
        await held.start()
        await lock.execute("LOCK TABLE event_keys IN EXCLUSIVE MODE")
        messages = valid_events(EVENTS)
        log = PublishLog()
        await publish(nc, messages, log)
        assert len(log.acked) == EVENTS
        async with asyncio.timeout(60):
            while (await js.consumer_info(STREAM_EVENTS, DURABLE_STORE)).num_ack_pending == 0:
                await asyncio.sleep(0.1)
        # Three ack waits with the batch in hand: in-progress acks keep it with this store.
        await asyncio.sleep(3 * ACK_WAIT)
        info = await js.consumer_info(STREAM_EVENTS, DURABLE_STORE)
        in_hand = info.num_ack_pending
        assert in_hand > 0
        assert info.num_redelivered == 0
        store_url = pipeline.url("store")
        assert (
            await consumer_metric(store_url, "swarmscope_consumer_in_progress_acks_total", DURABLE_STORE) > 0
        )

        await asyncio.to_thread(pipeline.kill, "store")
        await held.rollback()
        await asyncio.to_thread(pipeline.restart, "store")
        audit = await pipeline.audit(log)
        assert audit.stored_rows == EVENTS
        # The killed store's batch came back as redeliveries (JetStream delivery count 2): the
        # restarted store counted at least every message that was in hand at the kill.
        redelivered = await consumer_metric(
            pipeline.url("store"), "swarmscope_consumer_redelivered_total", DURABLE_STORE
        )
        assert redelivered >= in_hand
    finally:
        await lock.close()
        await nc.close()
