"""Test helpers: an in-memory EventSource (held to the same contract test as the store-backed one)
and generators of long and big sessions for property tests and benchmarks, shared by the tests and
the benchmark. The swarm story itself (the demo's, one for every test) is swarmscope_dev.story."""

from __future__ import annotations

import asyncio
import bisect
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

from swarmscope_replay.cache import ChunkCache, LruStateCache, SnapshotCache, StateCache
from swarmscope_replay.event_source import MAX_PAGE, StoredEventDict
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.ownership import Ownership
from swarmscope_replay.repeats import RepeatFilter
from swarmscope_replay.snapshot_reader import SnapshotReader
from swarmscope_replay.snapshots import Snapshot, SnapshotStore
from swarmscope_replay.states import StateResolver
from swarmscope_replay.tracker import SessionTracker
from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_EVENTS, canonical_msg_id, event_subject
from swarmscope_service.consumer import Delivery
from swarmscope_service.publishing import Outgoing, publish_all


class MemoryEventSource:
    """Stored events kept in memory, per session, in seq order.

    `requests` counts calls of `events`, so tests can check that a state costs one request.
    """

    def __init__(self, events: Iterable[Mapping[str, Any]] = ()) -> None:
        self._sessions: dict[str, list[StoredEventDict]] = {}
        self._seqs: dict[str, list[int]] = {}
        self._ids: dict[str, set[Any]] = {}
        self.covered_seq: int | None = None
        self.requests = 0
        self.add(events)

    def add(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Adds stored events (each with a `seq`). As the store does, a session keeps one event per
        id: the copy added first."""
        for raw in events:
            event = dict(raw)
            seq = int(event["seq"])
            session = str(event["session_id"])
            seqs = self._seqs.setdefault(session, [])
            items = self._sessions.setdefault(session, [])
            ids = self._ids.setdefault(session, set())
            index = bisect.bisect_left(seqs, seq)
            if (index < len(seqs) and seqs[index] == seq) or event.get("id") in ids:
                continue
            ids.add(event.get("id"))
            seqs.insert(index, seq)
            items.insert(index, event)

    @property
    def last_seq(self) -> int:
        return max((seqs[-1] for seqs in self._seqs.values() if seqs), default=0)

    async def events(
        self,
        session_id: str,
        *,
        after_seq: int = 0,
        until_seq: int | None = None,
        limit: int = MAX_PAGE,
        order: Literal["asc", "desc"] = "asc",
        span_id: str | None = None,
        to_ts: float | None = None,
    ) -> list[StoredEventDict]:
        self.requests += 1
        seqs = self._seqs.get(session_id, [])
        items = self._sessions.get(session_id, [])
        lo = bisect.bisect_right(seqs, after_seq)
        hi = len(seqs) if until_seq is None else bisect.bisect_right(seqs, until_seq)
        selected = items[lo:hi]
        if span_id is not None:
            selected = [e for e in selected if (e.get("span_id") or e.get("id")) == span_id]
        if to_ts is not None:
            selected = [e for e in selected if float(e.get("timestamp", 0)) <= to_ts]
        if order == "desc":
            selected = selected[::-1]
        return [dict(e) for e in selected[:limit]]

    async def event(self, session_id: str, event_id: str) -> StoredEventDict | None:
        for event in self._sessions.get(session_id, []):
            if event.get("id") == event_id:
                return dict(event)
        return None

    async def session_bounds(self, session_id: str) -> tuple[int, int] | None:
        seqs = self._seqs.get(session_id)
        if not seqs:
            return None
        return len(seqs), seqs[-1]

    async def covers(self, seq: int) -> bool:
        covered = self.last_seq if self.covered_seq is None else self.covered_seq
        return seq <= covered

    async def event_seqs(self, ids: dict[str, list[str]]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for session_id, wanted in ids.items():
            want = set(wanted)
            held = {
                str(e.get("id")): int(e["seq"])
                for e in self._sessions.get(session_id, [])
                if str(e.get("id")) in want
            }
            if held:
                out[session_id] = held
        return out


class MemoryPosition:
    """A LogPosition over a MemoryEventSource: the log holds exactly the source's events; `floor`
    plays the durable's ack floor (Engine.consume advances it as a consumer's acks would)."""

    def __init__(self, source: MemoryEventSource) -> None:
        self._source = source
        self.floor = 0

    async def acked_floor(self) -> int:
        return self.floor

    async def read_from(self, seq: int) -> Delivery | None:
        found: StoredEventDict | None = None
        for session, seqs in self._source._seqs.items():
            index = bisect.bisect_left(seqs, seq)
            if index < len(seqs) and (found is None or seqs[index] < found["seq"]):
                found = self._source._sessions[session][index]
        return deliveries([found])[0] if found is not None else None


def canonical(event: Mapping[str, Any], received_at: float | None = None) -> dict[str, Any]:
    """What ingest publishes for a wire event: validated, normalized (aliases, camelCase), stamped."""
    out = canonical_event_dict(TraceEvent.model_validate(dict(event)))
    # Ingest stamps its own clock; the store computes retention from it, so a recorded run with old
    # producer timestamps is kept as long as any other.
    out["received_at"] = received_at if received_at is not None else time.time() * 1000
    return out


def stored(events: Iterable[Mapping[str, Any]], *, start: int = 1, step: int = 1) -> list[dict[str, Any]]:
    """Canonical events with the seqs TRACES would give them (every `step`-th, as when sessions
    interleave)."""
    return [{**canonical(e), "seq": start + i * step} for i, e in enumerate(events)]


class _Run:
    """Builds the wire events of one session with a clock and span bookkeeping."""

    def __init__(self, session_id: str, start_ms: float = 1_752_300_000_000.0) -> None:
        self.session_id = session_id
        self.clock = start_ms
        self.events: list[dict[str, Any]] = []
        self._n = 0

    def add(
        self,
        event_type: str,
        agent: str | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        phase: str | None = None,
        span: str | None = None,
        parent: str | None = None,
        dt: float = 100.0,
        performance: Mapping[str, Any] | None = None,
    ) -> str:
        self._n += 1
        self.clock += dt
        eid = event_id or f"e{self._n:04d}"
        event: dict[str, Any] = {
            "id": eid,
            "timestamp": self.clock,
            "session_id": self.session_id,
            "type": event_type,
            "data": dict(data or {}),
        }
        if agent is not None:
            event["agent_id"] = agent
        if phase is not None:
            event["phase"] = phase
        if span is not None:
            event["span_id"] = span
        if parent is not None:
            event["metadata"] = {"parent_id": parent}
        if performance is not None:
            event["performance"] = dict(performance)
        self.events.append(event)
        return eid


def synthetic_session(session_id: str, count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """`count` wire events of a long busy run: agents working tasks in spans, with LLM and tool
    calls, messages and memory (for property tests and benchmarks)."""
    rng = random.Random(seed)
    r = _Run(session_id)
    agents = [
        f"{kind}-{i}"
        for i, kind in enumerate(("coder", "tester", "researcher", "reviewer", "analyst", "coder"))
    ]
    r.add("session_start", None, {"objective": "synthetic load"}, span="sp_root", phase="start")
    for agent in agents:
        r.add("agent_spawn", agent, {"agent_type": agent.split("-")[0]}, parent="sp_root")
    task_no = 0
    running: dict[str, tuple[str, str]] = {}
    message_no = 0
    while len(r.events) < count - 1:
        agent = rng.choice(agents)
        if agent not in running:
            task_no += 1
            task = f"T{task_no}"
            span = f"sp_{task}"
            r.add(
                "task_create",
                "coder-0",
                {"task_id": task, "dependencies": [f"T{task_no - 1}"] if task_no > 1 else []},
                parent="sp_root",
                dt=rng.uniform(1, 20),
            )
            r.add(
                "task_assignment",
                "coder-0",
                {"task_id": task, "agent_id": agent},
                parent="sp_root",
                dt=rng.uniform(1, 20),
            )
            r.add(
                "task_start",
                agent,
                {"task_id": task},
                phase="start",
                span=span,
                parent="sp_root",
                dt=rng.uniform(1, 20),
            )
            running[agent] = (task, span)
            continue
        task, span = running[agent]
        roll = rng.random()
        dt = rng.uniform(1, 50)
        if roll < 0.3:
            call = f"{span}_llm{len(r.events)}"
            r.add(
                "llm_call",
                agent,
                {"model": rng.choice(("claude-sonnet", "claude-opus"))},
                phase="start",
                span=call,
                parent=span,
                dt=dt,
            )
            r.add(
                "llm_call",
                agent,
                {
                    "model": "claude-sonnet",
                    "input_tokens": rng.randint(100, 5000),
                    "output_tokens": rng.randint(10, 2000),
                    "cost_usd": round(rng.uniform(0, 0.05), 5),
                },
                phase="complete",
                span=call,
                parent=span,
                dt=dt,
            )
        elif roll < 0.55:
            r.add(
                "tool_call",
                agent,
                {"tool": rng.choice(("Bash", "Edit", "Read", "Grep")), "exit_code": rng.choice((0, 0, 0, 1))},
                span=f"{span}_tool{len(r.events)}",
                parent=span,
                dt=dt,
            )
        elif roll < 0.65:
            message_no += 1
            to = rng.choice(agents)
            r.add(
                "communication",
                agent,
                {
                    "message": {
                        "id": f"m{message_no}",
                        "from": agent,
                        "to": [to],
                        "type": "notification",
                        "content": f"note {message_no} " + "x" * rng.randint(10, 120),
                    },
                    "direction": "sent",
                },
                parent=span,
                dt=dt,
            )
        elif roll < 0.75:
            r.add(
                "memory_write",
                agent,
                {
                    "namespace": "swarm",
                    "key": f"k{rng.randint(1, 200)}",
                    "value": {"n": rng.randint(0, 10**6)},
                },
                parent=span,
                dt=dt,
            )
        elif roll < 0.8:
            r.add(
                "memory_read",
                agent,
                {"namespace": "swarm", "key": f"k{rng.randint(1, 200)}"},
                parent=span,
                dt=dt,
            )
        elif roll < 0.83:
            r.add("error", agent, {"message": "flaky", "error_type": "Timeout"}, parent=span, dt=dt)
        elif roll < 0.85:
            r.add("custom.metric", agent, {"v": rng.random()}, parent=span, dt=dt)
        elif roll < 0.88:
            r.add(
                "task_progress",
                agent,
                {"task_id": task, "progress": round(rng.random(), 3)},
                span=span,
                phase="progress",
                parent="sp_root",
                dt=dt,
            )
        elif rng.random() < 0.15:  # a task takes some 60 events of work
            if rng.random() < 0.1:
                r.add(
                    "task_fail",
                    agent,
                    {"task_id": task, "error": "boom", "will_retry": False},
                    phase="error",
                    span=span,
                    parent="sp_root",
                    dt=dt,
                )
            else:
                r.add(
                    "task_complete",
                    agent,
                    {"task_id": task, "result": {"ok": True}},
                    phase="complete",
                    span=span,
                    parent="sp_root",
                    dt=dt,
                )
            del running[agent]
    del r.events[count - 1 :]
    r.add("session_end", None, {"status": "completed"}, span="sp_root")
    return r.events


async def snapshot_state(store: SnapshotStore, snapshot: Snapshot) -> dict[str, Any]:
    """The state a stored snapshot holds, read back from the store alone (no cache)."""
    reader = SnapshotReader(store, ChunkCache(0, ReplayMetrics.create(CollectorRegistry())))
    return (await reader.read(snapshot)).state


BIG_MESSAGE_CHARS = 64 * 1024


def big_session(
    session_id: str,
    *,
    events: int = 100_000,
    tasks: int = 10_000,
    messages: int = 50_000,
    memory_keys: int = 5_000,
    big_message_every: int = 250,
    seed: int = 15,
) -> list[dict[str, Any]]:
    """About `events` wire events of one long swarm run: `tasks` tasks (create, assign, start,
    complete or fail), `messages` messages (every `big_message_every`-th one 64 KiB), `memory_keys`
    memory keys (written, rewritten, some deleted), decisions, coordination and errors between.
    Issue 15's big session: for the big-session tests, the benchmark and the UI end-to-end test."""
    rng = random.Random(seed)
    r = _Run(session_id)
    agents = [f"agent-{i:02d}" for i in range(20)]
    r.add("session_start", None, {"objective": "a long swarm"}, span="sp_root", phase="start")
    for agent in agents:
        r.add(
            "agent_spawn",
            agent,
            {"agent_type": rng.choice(("coder", "tester", "researcher"))},
            parent="sp_root",
        )
    fixed = 2 + len(agents) + 4 * tasks + messages + memory_keys
    extra = max(events - fixed, 0)
    rewrites, decisions = extra // 2, extra - extra // 2
    # Every step is one of these, shuffled: the task lifecycles stay in order, the rest fall between.
    steps = (
        ["task"] * (4 * tasks)
        + ["message"] * messages
        + ["memory"] * (memory_keys + rewrites)
        + ["other"] * decisions
    )
    rng.shuffle(steps)
    open_tasks: list[tuple[int, str, int]] = []  # (task number, agent, next stage)
    task_no = message_no = key_no = 0

    def task_step() -> None:
        nonlocal task_no
        if open_tasks and (task_no >= tasks or rng.random() < 0.74):
            index = rng.randrange(len(open_tasks))
            number, agent, stage = open_tasks[index]
            task = f"T{number}"
            if stage == 1:
                r.add(
                    "task_assignment",
                    "agent-00",
                    {"task_id": task, "agent_id": agent},
                    parent="sp_root",
                    dt=2,
                )
            elif stage == 2:
                r.add(
                    "task_start",
                    agent,
                    {"task_id": task},
                    phase="start",
                    span=f"sp_{task}",
                    parent="sp_root",
                    dt=2,
                )
            else:
                failed = rng.random() < 0.05
                r.add(
                    "task_fail" if failed else "task_complete",
                    agent,
                    {"task_id": task, "error": "boom"}
                    if failed
                    else {"task_id": task, "result": {"lines": rng.randint(1, 500)}},
                    phase="error" if failed else "complete",
                    span=f"sp_{task}",
                    parent="sp_root",
                    dt=2,
                )
                open_tasks.pop(index)
                return
            open_tasks[index] = (number, agent, stage + 1)
            return
        task_no += 1
        agent = rng.choice(agents)
        r.add(
            "task_create",
            "agent-00",
            {
                "task_id": f"T{task_no}",
                "description": f"task {task_no}",
                "dependencies": [f"T{task_no - 1}"] if task_no > 1 else [],
            },
            parent="sp_root",
            dt=2,
        )
        open_tasks.append((task_no, agent, 1))

    for step in steps:
        if step == "task":
            task_step()
        elif step == "message":
            message_no += 1
            sender, receiver = rng.sample(agents, 2)
            big = message_no % big_message_every == 0
            content = (
                ("m" * BIG_MESSAGE_CHARS) if big else f"message {message_no}: " + "x" * rng.randint(20, 120)
            )
            r.add(
                "communication",
                sender,
                {
                    "message": {
                        "id": f"m{message_no}",
                        "from": sender,
                        "to": [receiver],
                        "type": "notification",
                        "content": content,
                    },
                    "direction": "sent",
                },
                parent="sp_root",
                dt=1,
            )
        elif step == "memory":
            if key_no < memory_keys and (
                key_no == 0 or rng.random() < memory_keys / (memory_keys + rewrites)
            ):
                key_no += 1
                key = key_no
            else:
                key = rng.randint(1, max(key_no, 1))
            r.add(
                "memory_write",
                rng.choice(agents),
                {
                    "namespace": f"ns{key % 10}",
                    "key": f"k{key}",
                    "value": {"n": rng.randint(0, 10**6), "note": "v" * rng.randint(0, 200)},
                },
                parent="sp_root",
                dt=1,
            )
        else:
            roll = rng.random()
            agent = rng.choice(agents)
            if roll < 0.6:
                r.add(
                    "decision",
                    agent,
                    {
                        "kind": rng.choice(("route", "plan", "retry")),
                        "chosen": rng.randint(0, 3),
                        "options": [0, 1, 2, 3],
                    },
                    parent="sp_root",
                    dt=1,
                )
            elif roll < 0.8:
                r.add(
                    "coordination",
                    agent,
                    {"kind": "consensus", "details": {"round": rng.randint(1, 9)}},
                    parent="sp_root",
                    dt=1,
                )
            elif roll < 0.9 and key_no:
                gone = rng.randint(1, key_no)
                r.add(
                    "memory_delete",
                    agent,
                    {"namespace": f"ns{gone % 10}", "key": f"k{gone}"},
                    parent="sp_root",
                    dt=1,
                )
            else:
                r.add(
                    "error",
                    agent,
                    {"message": "flaky", "error_type": "Timeout", "scope": "agent", "recoverable": True},
                    parent="sp_root",
                    dt=1,
                )
    while open_tasks:  # every task ends
        task_step()
    r.add("session_end", None, {"status": "completed"}, span="sp_root")
    return r.events


def deliveries(events: Iterable[dict[str, Any]], *, redelivered: bool = False) -> list[Delivery]:
    """Stored events as the `replay` durable receives them (body without seq; seq = stream seq)."""
    out = []
    for event in events:
        body = {k: v for k, v in event.items() if k != "seq"}
        out.append(
            Delivery(
                subject=event_subject(body["session_id"], body.get("agent_id"), body["type"]),
                data=orjson.dumps(body),
                headers={},
                stream_seq=int(event["seq"]),
                num_delivered=2 if redelivered else 1,
            )
        )
    return out


@dataclass
class Engine:
    """A tracker and a resolver over one store and one in-memory log, as the service wires them."""

    store: SnapshotStore
    source: MemoryEventSource
    position: MemoryPosition
    tracker: SessionTracker
    states: StateResolver
    metrics: ReplayMetrics

    async def consume(self, events: Sequence[dict[str, Any]], batch: int = 500) -> None:
        """The log grows by `events` (store first, as in production) and the tracker consumes them."""
        self.source.add(events)
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            decisions = await self.tracker.handle(deliveries(chunk))
            if any(d.verdict.value != "ack" for d in decisions):
                raise AssertionError(f"not every event was acked: {decisions}")
            self.position.floor = max(self.position.floor, max(int(e["seq"]) for e in chunk))


def make_engine(
    store: SnapshotStore,
    metrics: ReplayMetrics,
    *,
    source: MemoryEventSource | None = None,
    every: int = 500,
    capacity: int = 256,
    cache: StateCache | None = None,
    use_tracker_state: bool = True,
    position: MemoryPosition | None = None,
    store_wait: float = 0.2,
    ownership: Ownership | None = None,
) -> Engine:
    source = source if source is not None else MemoryEventSource()
    position = position if position is not None else MemoryPosition(source)
    snapshots = SnapshotCache(64 * 1024 * 1024, metrics)
    chunks = ChunkCache(64 * 1024 * 1024, metrics)
    tracker = SessionTracker(
        store,
        source,
        metrics,
        position,
        snapshot_every=every,
        capacity=capacity,
        store_wait=store_wait,
        snapshot_cache=snapshots,
        repeats=RepeatFilter(source, 120.0, wait=store_wait),
        chunk_cache=chunks,
        ownership=ownership,
    )
    states = StateResolver(
        store,
        source,
        cache if cache is not None else LruStateCache(64, metrics),
        snapshots,
        metrics,
        tracker if use_tracker_state else None,
        chunks,
    )
    return Engine(store, source, position, tracker, states, metrics)


async def publish_to_traces(
    js: JetStreamContext, events: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Publishes canonical events into TRACES as ingest does; returns them with their seq."""
    messages = [
        Outgoing(
            subject=event_subject(str(e["session_id"]), e.get("agent_id"), str(e["type"])),
            payload=orjson.dumps({k: v for k, v in e.items() if k != "seq"}),
            headers={MSG_ID_HEADER: canonical_msg_id(str(e["session_id"]), str(e["id"]))},
            stream=STREAM_EVENTS,
        )
        for e in events
    ]
    out: list[dict[str, Any]] = []
    for start in range(0, len(messages), 1000):
        acks = await publish_all(js, messages[start : start + 1000])
        out.extend(
            {**dict(e), "seq": ack.seq} for e, ack in zip(events[start : start + 1000], acks, strict=True)
        )
    return out


async def wait_for_durable(js: JetStreamContext, durable: str, seq: int, *, timeout: float = 60.0) -> None:
    """Waits until a durable on TRACES has acked everything up to `seq`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await js.consumer_info(STREAM_EVENTS, durable)
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        if floor >= seq:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"durable {durable} acked up to {floor}, not {seq}, within {timeout}s")
        await asyncio.sleep(0.05)
