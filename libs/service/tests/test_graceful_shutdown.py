"""SIGTERM mid-stream: the process finishes its batch, acks it and exits 0; nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats

from swarmscope_dev.nats_server import start_nats_server
from swarmscope_schema.subjects import DURABLE_INGEST, STREAM_RAW
from swarmscope_service.nats_setup import provision

TOTAL = 3000


async def test_sigterm_loses_nothing_and_leaves_nothing_unacked(tmp_path: Path) -> None:
    server = start_nats_server(tmp_path / "nats")
    nc = await nats.connect(server.url)
    process = None
    try:
        js = nc.jetstream()
        await provision(js)
        futures = [await js.publish_async("traces.raw.s.a.t", f"m{i}".encode()) for i in range(TOTAL)]
        await asyncio.gather(*futures)
        out = tmp_path / "effects.txt"
        env = {**os.environ, "SWARMSCOPE_NATS_URL": server.url, "SWARMSCOPE_LOG_FORMAT": "text"}
        script = Path(__file__).with_name("consumer_process.py")
        process = subprocess.Popen([sys.executable, str(script), str(out)], env=env)
        async with asyncio.timeout(60):
            while not out.exists() or out.read_bytes().count(b"\n") < 300:
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        assert code == 0
        lines = out.read_bytes().splitlines()
        assert len(lines) == len(set(lines))  # no effect applied twice
        info = await js.consumer_info(STREAM_RAW, DURABLE_INGEST)
        assert info.num_ack_pending == 0  # every applied effect was acked before exit
        assert len(lines) + info.num_pending == TOTAL  # and everything else is still there
        assert len(lines) < TOTAL  # it really stopped mid-stream
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        await nc.close()
        server.stop()
