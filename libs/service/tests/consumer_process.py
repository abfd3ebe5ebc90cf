"""A minimal service process for the SIGTERM test: consumes the ingest durable with the real
runtime (serve + run_until_signal) and appends each payload to a file as its durable effect."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from swarmscope_dev.nats_server import free_port
from swarmscope_schema.subjects import DURABLE_INGEST, STREAM_RAW
from swarmscope_service.consumer import BatchConsumer, ConsumerMetrics, Decision, Delivery
from swarmscope_service.health import HttpServer, health_app
from swarmscope_service.lifecycle import run_until_signal
from swarmscope_service.runtime import ServiceParts, connect_and_provision, serve
from swarmscope_service.settings import ServiceSettings


async def main(stop: asyncio.Event) -> None:
    out = Path(sys.argv[1])
    settings = ServiceSettings()
    nc, js = await connect_and_provision(settings, "consumer-test")

    async def write(batch: Sequence[Delivery]) -> list[Decision]:
        await asyncio.sleep(0.05)  # a slow effect, so SIGTERM lands mid-batch
        with out.open("ab") as handle:
            handle.write(b"".join(d.data + b"\n" for d in batch))
            handle.flush()
            os.fsync(handle.fileno())
        return [Decision.ack()] * len(batch)

    registry = CollectorRegistry()
    consumer = BatchConsumer(
        js=js,
        stream=STREAM_RAW,
        durable=DURABLE_INGEST,
        handler=write,
        metrics=ConsumerMetrics.create(registry),
        batch_size=50,
        fetch_wait=0.1,
    )
    http = HttpServer(health_app(registry, {}), "127.0.0.1", free_port())
    await serve(ServiceParts(nc=nc, http=http, consumers=[consumer]), stop)


if __name__ == "__main__":
    run_until_signal(main)
