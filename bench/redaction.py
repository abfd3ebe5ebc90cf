"""Redaction cost per event: clean events, events with secrets, 64 KiB strings, hostile text.

In-process CPU time (time.process_time), no NATS: redaction is pure computation, and ingest's whole
budget is ~50 µs of CPU per event, so a clean event may cost only ~1-3 µs more.

    uv run python bench/redaction.py [--rounds 30]

Figures (µs of CPU per event, median of rounds):
- `Redactor.redact_encoded` (prefilter over the encoded bytes, walk only on a hit) on the canonical
  form (what ingest redacts) of realistic events from the demo swarm, which hold no secret; beside
  it, wave 1's rule: the key walk of every event (no prefilter, no value rules), what ingest did;
- the same events, each with secrets in it (a bearer header in a command, a password key, a URL
  password), fresh copies each round;
- one event with a 64 KiB string: prose, random base64 (the worst shape for a DFA), prose with
  secrets, and hostile text built to keep the key rule busy;
- ingest's whole `prepare()` (parse, validate, normalize, redact, encode) with redaction on and off,
  and the SDK's `EventEncoder.encode` with and without it.

Prints readable lines, then one `BENCH_RESULT {...}` line (the last line).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from swarmscope.demo import generate_session
from swarmscope.encoding import EventEncoder
from swarmscope_ingest.handler import prepare
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.subjects import raw_subject
from swarmscope_service.consumer import Delivery

KIB64 = 64 * 1024


def per_event(fn: Callable[[Any], object], items: Sequence[Any], rounds: int) -> float:
    """Median over rounds of CPU µs per call of fn on each item."""
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            fn(item)
        samples.append((time.process_time() - started) / len(items) * 1e6)
    return statistics.median(samples)


def per_event_fresh(fn: Callable[[Any], object], build: Callable[[], list[Any]], rounds: int) -> float:
    """Like per_event, for functions that change their input: fresh items each round, untimed."""
    samples = []
    for _ in range(rounds):
        items = build()
        started = time.process_time()
        for item in items:
            fn(item)
        samples.append((time.process_time() - started) / len(items) * 1e6)
    return statistics.median(samples)


class Wave1Rule(Redactor):
    """What ingest did before v1.1: every event walked, by key only."""

    def __init__(self) -> None:
        super().__init__(values=False)

    def redact_encoded(self, event: dict[str, Any], encoded: bytes) -> tuple[bytes, int]:
        count = self.redact_event(event, text=False)
        return (orjson.dumps(event), count) if count else (encoded, 0)


def demo_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for seed in range(1, 6):
        events += generate_session(seed=seed, session_id=f"bench-redact-{seed}")
    return events


def with_secrets(event: dict[str, Any], i: int) -> dict[str, Any]:
    out = copy.deepcopy(event)
    data = out.setdefault("data", {})
    data["cmd"] = f"curl -H 'Authorization: Bearer t0k{i:06d}.abcdef' https://api.example.com/v1/items"
    data["password"] = f"hunter{i}"
    data["dsn"] = f"postgres://app:pw{i:06d}@db:5432/app"
    return out


def big_event(text: str) -> dict[str, Any]:
    return {
        "id": "big",
        "timestamp": 1.0,
        "session_id": "s",
        "type": "tool_call",
        "data": {"tool": "Bash", "result": text},
    }


def texts_64k() -> dict[str, str]:
    rng = random.Random(7)
    words = [
        "the",
        "agent",
        "reads",
        "the",
        "file",
        "then",
        "calls",
        "the",
        "tool",
        "and",
        "writes",
        "a",
        "summary",
        "of",
        "what",
        "changed",
    ]
    prose = " ".join(rng.choice(words) for _ in range(KIB64 // 4))[:KIB64]
    secret_lines = "".join(
        f"\nstep {i}: curl -H 'Authorization: Bearer t0k{i:04d}.x' -d password=pw{i:04d} " for i in range(10)
    )
    return {
        "prose": prose,
        "random base64": base64.urlsafe_b64encode(rng.randbytes(KIB64)).decode()[:KIB64],
        "prose with 10 secrets": prose[: KIB64 - len(secret_lines)] + secret_lines,
        'hostile: \'"token": "\' repeated': ('"token": "' * (KIB64 // 10 + 1))[:KIB64],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rounds = args.rounds
    load = os.getloadavg()[0]
    redactor = Redactor()
    wave1_rule = Wave1Rule()
    off = Redactor([], values=False)

    events = demo_events()
    deliveries = [
        Delivery(
            subject=raw_subject(e["session_id"], e.get("agent_id"), e["type"]),
            data=orjson.dumps(e),
            headers={},
            stream_seq=i + 1,
            num_delivered=1,
            timestamp_ns=1,
        )
        for i, e in enumerate(events)
    ]
    canonical = [prepare(d, off, 0.0).payload for d in deliveries]  # type: ignore[union-attr]
    encoded = [(orjson.loads(p), p) for p in canonical]
    hits = sum(redactor.may_hold_secrets(p) for p in canonical)
    clean = per_event(lambda ep: redactor.redact_encoded(ep[0], ep[1]), encoded, rounds)
    wave1 = per_event(lambda ep: wave1_rule.redact_encoded(ep[0], ep[1]), encoded, rounds)
    prefilter = per_event(redactor.may_hold_secrets, canonical, rounds)
    mean_bytes = statistics.mean(len(p) for p in canonical)

    secret_events = [with_secrets(e, i) for i, e in enumerate(events)]
    secret_payloads = [orjson.dumps(e) for e in secret_events]

    def fresh_secret_pairs() -> list[tuple[dict[str, Any], bytes]]:
        return [(orjson.loads(p), p) for p in secret_payloads]

    dirty = per_event_fresh(lambda ep: redactor.redact_encoded(ep[0], ep[1]), fresh_secret_pairs, rounds)
    redacted_total = sum(redactor.redact_encoded(e, p)[1] for e, p in fresh_secret_pairs())

    big: dict[str, float] = {}
    for name, text in texts_64k().items():
        payload = orjson.dumps(big_event(text))
        big[name] = per_event_fresh(
            lambda ep: redactor.redact_encoded(ep[0], ep[1]),
            lambda payload=payload: [(orjson.loads(payload), payload) for _ in range(5)],  # type: ignore[misc]
            max(3, rounds // 3),
        )

    ingest_on = per_event(lambda d: prepare(d, redactor, 0.0), deliveries, rounds)
    ingest_wave1 = per_event(lambda d: prepare(d, wave1_rule, 0.0), deliveries, rounds)
    ingest_off = per_event(lambda d: prepare(d, off, 0.0), deliveries, rounds)
    sdk_on_encoder, sdk_off_encoder = EventEncoder(), EventEncoder(redact_keys=[], redact_values=False)
    sdk_on = per_event(lambda e: sdk_on_encoder.encode(e, 0), events, rounds)
    sdk_off = per_event(lambda e: sdk_off_encoder.encode(e, 0), events, rounds)

    print(f"load average {load:.2f}; {len(events)} demo events, mean {mean_bytes:.0f} bytes canonical")
    print(
        f"clean events: {clean:.2f} µs/event (prefilter alone {prefilter:.2f}); {hits} of {len(events)} walked"
    )
    print(f"wave 1 (key walk of every event): {wave1:.2f} µs/event")
    print(f"events with secrets: {dirty:.2f} µs/event ({redacted_total} secrets replaced)")
    for name, value in big.items():
        print(f"one event with a 64 KiB string, {name}: {value:.1f} µs")
    print(
        f"ingest prepare(): {ingest_on:.2f} µs/event with redaction, {ingest_wave1:.2f} with wave 1's, "
        f"{ingest_off:.2f} without"
    )
    print(f"SDK encode(): {sdk_on:.2f} µs/event with redaction, {sdk_off:.2f} without")

    def fig(figure: str, value: float, unit: str, target: str | None = None) -> dict[str, object]:
        return {"figure": figure, "value": round(value, 2), "unit": unit, "target": target, "ceiling": None}

    figures = [
        fig("clean realistic event (prefilter, walk on a hit)", clean, "µs/event", "<= 3"),
        fig("wave 1: key walk of every event", wave1, "µs/event"),
        fig("event with secrets (3 replaced)", dirty, "µs/event"),
        *(fig(f"event with a 64 KiB string: {name}", value, "µs/event") for name, value in big.items()),
        fig("ingest prepare() with redaction", ingest_on, "µs/event"),
        fig("ingest prepare() with wave 1's rule", ingest_wave1, "µs/event"),
        fig("ingest prepare() without redaction", ingest_off, "µs/event"),
        fig("SDK encode() with redaction", sdk_on, "µs/event"),
        fig("SDK encode() without redaction", sdk_off, "µs/event"),
        fig("load average during the run", load, ""),
    ]
    print("BENCH_RESULT " + json.dumps({"bench": "redaction", "figures": figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()
