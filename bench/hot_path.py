"""The Python work per event of ingest and the store, in-process (no NATS, no database).

What a profile of the pipeline shows as their own hot spots, measured alone so a change of a few
µs stands out of the noise of a loaded machine: the process CPU (`time.process_time`) per event,
best of `--repeats`, over the events of bench/pipeline_e2e.py.

- ingest prepare: one batch message (v1.1) per session per 2000-event window, through
  `prepare_batch` (parse, validate by the compiled fast path, canonicalize, redact, encode);
- ingest validate: `check_schema` alone on parsed events (the fast path, pydantic where it refuses);
- store decode + plan: `decode_event` of each canonical event and `plan_projections` per batch of
  2000 (what the store's Python does between fetch and SQL), with the garbage collector as the
  services run it (`tune_garbage_collection`) and as Python leaves it (`--default-gc`).

    uv run python bench/hot_path.py [--events 20000] [--repeats 5] [--default-gc]

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_e2e import build_events, messages

from swarmscope_ingest.handler import prepare_batch
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.validation import check_schema
from swarmscope_service.consumer import Delivery
from swarmscope_service.runtime import tune_garbage_collection
from swarmscope_store.projections import PriorState, plan_projections
from swarmscope_store.records import decode_event

STORE_BATCH = 2000


def best_per_event(work: Callable[[], object], count: int, repeats: int) -> tuple[float, list[int]]:
    """The least CPU µs per event over `repeats` runs, and the collections per generation of it."""
    best, collections = float("inf"), [0, 0, 0]
    for _ in range(repeats):
        before = [g["collections"] for g in gc.get_stats()]
        started = time.process_time()
        work()
        seconds = time.process_time() - started
        if seconds < best:
            best = seconds
            collections = [g["collections"] - b for g, b in zip(gc.get_stats(), before, strict=True)]
    return best / count * 1e6, collections


def main(count: int, repeats: int, default_gc: bool) -> None:
    events = build_events(count, "hot")
    batches = [
        Delivery(subject, body, {}, seq, 1, 1_700_000_000_000_000_000)
        for seq, (subject, body, _msg_id) in enumerate((m for w in messages(events, True) for m in w), 1)
    ]
    parsed = [orjson.loads(e.payload) for e in events]
    redactor = Redactor()  # the default keys and value rules, as ingest runs them

    def ingest() -> list[object]:
        out: list[object] = []
        for delivery in batches:
            prepared = prepare_batch(delivery, redactor, 1.7e12)
            assert not isinstance(prepared, tuple) or not prepared[1], "a bench event was refused"
            out.extend(prepared[0] if isinstance(prepared, tuple) else ())
        return out

    canonical = ingest()
    assert len(canonical) == count
    traces = [
        Delivery(c.subject, c.payload, {}, seq, 1, 0)  # type: ignore[attr-defined]
        for seq, c in enumerate(canonical, 1)
    ]

    def validate() -> None:
        for raw in parsed:
            check_schema(dict(raw))

    def store() -> None:
        records = [decode_event(d, 168.0, 1.7e12) for d in traces]
        for start in range(0, len(records), STORE_BATCH):
            plan_projections(records[start : start + STORE_BATCH], PriorState())

    if not default_gc:
        tune_garbage_collection()
    figures = []
    for name, work in (
        ("ingest prepare", ingest),
        ("ingest validate", validate),
        ("store decode + plan", store),
    ):
        micros, collections = best_per_event(work, count, repeats)
        print(f"{name:22s} {micros:6.1f} µs/event  (collections per generation: {collections})")
        figures.append({"figure": f"{name}, CPU per event", "value": round(micros, 2), "unit": "µs/event"})
    gc_label = "Python's default" if default_gc else "as the services tune it"
    print(f"garbage collector {gc_label}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("BENCH_RESULT " + json.dumps({"bench": "hot_path", "figures": figures}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--default-gc", action="store_true", help="leave the collector as Python sets it")
    args = parser.parse_args()
    main(args.events, args.repeats, args.default_gc)
