"""Loads issue 15's big session (100k events: 10k tasks, 50k messages, 5k memory keys) into a
running swarmscope: `python scripts/big_session.py --session ID [--nats URL]`.

The events go straight into TRACES as ingest would publish them (the point is a big session to
look at, not the pipeline), then the script waits until the store and replay have all of them and
prints one JSON line: `{"session_id", "events", "first_seq", "last_seq"}`. Used by the UI's
end-to-end test of big sessions (under scripts/with_stack.py, which exports SWARMSCOPE_NATS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

import nats

from swarmscope_dev.replay import big_session, canonical, publish_to_traces, wait_for_durable
from swarmscope_schema.subjects import DURABLE_REPLAY, DURABLE_STORE


async def load(nats_url: str, session_id: str, events: int, timeout: float) -> dict[str, object]:
    wire = big_session(session_id, events=events)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        published = await publish_to_traces(js, [canonical(e) for e in wire])
        last = published[-1]["seq"]
        await wait_for_durable(js, DURABLE_STORE, last, timeout=timeout)
        await wait_for_durable(js, DURABLE_REPLAY, last, timeout=timeout)
    finally:
        await nc.close()
    return {
        "session_id": session_id,
        "events": len(published),
        "first_seq": published[0]["seq"],
        "last_seq": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--session", required=True)
    parser.add_argument("--nats", default=os.environ.get("SWARMSCOPE_NATS_URL", "nats://127.0.0.1:14222"))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(load(args.nats, args.session, args.events, args.timeout))), flush=True)


if __name__ == "__main__":
    main()
