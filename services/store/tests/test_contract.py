"""The store's contract, run against both backends (the `backend` fixture is parametrized):
inserts, idempotency, every query op with its filters and pagination, projection values,
relationships, retention and migrations."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from swarmscope_schema.api import Graph, PerformanceReport, SessionSummary
from swarmscope_schema.events import StoredEvent
from swarmscope_schema.requests import (
    DlqQuery,
    ErrorCode,
    EventRef,
    EventSeqsQuery,
    EventsQuery,
    FacetsQuery,
    GraphQuery,
    PerformanceQuery,
    SessionRef,
    SessionsQuery,
)
from swarmscope_schema.testing import make_event
from swarmscope_service.consumer import Delivery
from swarmscope_service.request_reply import ServiceError
from swarmscope_store.backend import StoreBackend
from swarmscope_store.graph import GraphBuilder
from swarmscope_store.queries import StoreQueries
from swarmscope_store.records import decode_dead_letter
from swarmscope_store.writer import purge_expired, write_dead_letters, write_events

T0 = 1_700_000_000_000.0
Write = Callable[..., Any]


def ev(
    n: int,
    event_type: str,
    agent: str | None,
    offset: float,
    data: dict[str, Any] | None = None,
    *,
    session: str = "s1",
    **fields: Any,
) -> dict[str, Any]:
    return make_event(
        event_type,
        session_id=session,
        agent_id=agent,
        event_id=f"e{n}",
        data=data,
        timestamp=T0 + offset,
        **fields,
    )


def swarm(session: str = "s1") -> list[dict[str, Any]]:
    """A small swarm whose every projection value is worked out by hand in the tests below."""
    s = {"session": session}
    return [
        ev(1, "session_start", None, 0, {"objective": "Build a Rate Limiter", "name": "demo"}, **s),
        ev(2, "agent_spawn", "coord", 10, {"agent_type": "coordinator", "name": "Coordinator"}, **s),
        ev(3, "agent_spawn", "cod-1", 20, {"agent_type": "coder", "parent_agent_id": "coord"}, **s),
        ev(4, "task_create", "coord", 30, {"task_id": "T1"}, **s),
        ev(5, "task_assignment", "coord", 40, {"task_id": "T1", "agent_id": "cod-1"}, **s),
        ev(6, "task_start", "cod-1", 100, {"task_id": "T1"}, phase="start", span_id="sp_T1", **s),
        ev(
            7,
            "tool_call",
            "cod-1",
            200,
            {"tool": "Bash"},
            phase="start",
            span_id="sp_tool1",
            metadata={"parent_id": "sp_T1"},
            **s,
        ),
        ev(
            8,
            "llm_call",
            "cod-1",
            250,
            {"model": "claude"},
            phase="start",
            span_id="sp_llm1",
            metadata={"parent_id": "sp_T1"},
            **s,
        ),
        ev(
            9,
            "tool_call",
            "cod-1",
            400,
            {"tool": "Bash", "exit_code": 0},
            phase="complete",
            span_id="sp_tool1",
            metadata={"parent_id": "sp_T1"},
            performance={"duration": 200},
            **s,
        ),
        ev(
            10,
            "llm_call",
            "cod-1",
            1300,
            {"model": "claude", "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.5},
            phase="complete",
            span_id="sp_llm1",
            metadata={"parent_id": "sp_T1"},
            **s,
        ),
        ev(
            11,
            "communication",
            "cod-1",
            1400,
            {
                "message": {"id": "m1", "from": "cod-1", "to": ["coord"], "type": "result"},
                "direction": "sent",
            },
            **s,
        ),
        ev(
            12,
            "communication",
            "coord",
            1500,
            {"message": {"id": "m2", "from": "coord", "to": ["cod-1"], "in_reply_to": "m1"}},
            metadata={"causation_id": "e11"},
            **s,
        ),
        ev(13, "error", "cod-1", 1600, {"message": "boom"}, metadata={"parent_id": "sp_T1"}, **s),
        ev(14, "task_complete", "cod-1", 2000, {"task_id": "T1"}, phase="complete", span_id="sp_T1", **s),
        ev(
            15,
            "tool_call",
            "coord",
            2100,
            {"tool": "Review"},
            span_id="sp_review",
            metadata={"parent_id": "sp_T1"},
            **s,
        ),
        ev(16, "session_end", None, 3000, {"status": "completed"}, **s),
    ]


async def snapshot(queries: StoreQueries, graphs: GraphBuilder, session: str = "s1") -> dict[str, Any]:
    """Every projection answer of a session."""
    return {
        "session": await queries.session(SessionRef(session_id=session)),
        "agents": await queries.agents(SessionRef(session_id=session)),
        "performance": await queries.performance(PerformanceQuery(session_id=session)),
        **{
            layout: await graphs.graph(GraphQuery(session_id=session, layout=layout))
            for layout in ("hierarchical", "force", "timeline")
        },
    }


def edges(graph: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    return {(e["source"], e["target"], e["type"]): e["count"] for e in graph["edges"]}


# -------------------------------------------------------------------------------------- migrations


async def test_migrations_are_idempotent(backend: StoreBackend) -> None:
    assert await backend.migrate() == []
    async with backend.reader() as tx:
        rows = await tx.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(int(r[0]), r[1]) for r in rows] == [
        (1, "0001_init.sql"),
        (2, "0002_session_facts.sql"),
        (3, "0003_session_source.sql"),
    ]


# ------------------------------------------------------------------------------- inserts, dedupe


async def test_stored_event_is_the_canonical_event_with_its_seq(write: Write, queries: StoreQueries) -> None:
    event = make_event(
        "tool_call", session_id="s1", event_id="x1", data={"tool": "Bash", "extra": {"k": [1, None]}}
    )
    result = await write([event], [42])
    assert [r.seq for r in result.inserted] == [42]
    stored = orjson.loads(orjson.dumps(await queries.event(EventRef(session_id="s1", event_id="x1"))))
    assert stored["seq"] == 42
    assert stored["data"] == {"tool": "Bash", "extra": {"k": [1, None]}}
    assert stored["received_at"] > 0
    StoredEvent.model_validate(stored)


async def test_a_redelivered_batch_changes_nothing(
    backend: StoreBackend, log: Any, queries: StoreQueries, graphs: GraphBuilder
) -> None:
    records = log.records(swarm())
    first = await write_events(backend, records)
    assert len(first.inserted) == 16
    before = await snapshot(queries, graphs)
    again = await write_events(backend, records)
    assert again.inserted == []
    assert again.duplicates == 16
    assert await snapshot(queries, graphs) == before


async def test_a_duplicate_id_is_stored_once_and_counted_once(write: Write, queries: StoreQueries) -> None:
    a = make_event("tool_call", session_id="s1", event_id="dup", data={"tool": "first"})
    b = make_event("tool_call", session_id="s1", event_id="dup", data={"tool": "second"})
    other_session = make_event("tool_call", session_id="s2", event_id="dup", data={"tool": "other"})
    result = await write([b, a, other_session], [7, 5, 9])  # same batch: the lowest seq wins
    assert sorted(r.seq for r in result.inserted) == [5, 9]
    later = await write([make_event("tool_call", session_id="s1", event_id="dup")], [11])
    assert later.inserted == []
    stored = orjson.loads(orjson.dumps(await queries.event(EventRef(session_id="s1", event_id="dup"))))
    assert (stored["seq"], stored["data"]["tool"]) == (5, "first")
    summary = await queries.session(SessionRef(session_id="s1"))
    assert summary["event_count"] == 1
    assert (await queries.session(SessionRef(session_id="s2")))["event_count"] == 1


async def test_event_seqs_says_where_each_id_is_stored(write: Write, queries: StoreQueries) -> None:
    # What replay asks before it folds a batch: a repeat after the window is held at its first seq.
    await write(
        [
            make_event("tool_call", session_id="s1", event_id="a"),
            make_event("tool_call", session_id="s1", event_id="b"),
            make_event("tool_call", session_id="s2", event_id="a"),
        ],
        [3, 4, 5],
    )
    await write([make_event("tool_call", session_id="s1", event_id="a")], [9])  # a repeat: not stored
    answer = await queries.event_seqs(
        EventSeqsQuery(events={"s1": ["a", "b", "never"], "s2": ["a"], "s3": ["a"], "s4": []})
    )
    assert answer == {"seqs": {"s1": {"a": 3, "b": 4}, "s2": {"a": 5}}}


async def test_text_a_database_cannot_hold_is_made_storable(write: Write, queries: StoreQueries) -> None:
    event = make_event(
        "agent_spawn",
        session_id="s1",
        event_id="nul",
        agent_id="a1",
        data={"agent_type": "co\x00der", "name": "N\x00"},
        span_id="sp\x00an",
    )
    result = await write([event])
    assert len(result.inserted) == 1
    agents = await queries.agents(SessionRef(session_id="s1"))
    assert agents[0]["agent_type"] == "coder"
    stored = orjson.loads(orjson.dumps(await queries.event(EventRef(session_id="s1", event_id="nul"))))
    assert stored["data"]["agent_type"] == "co\x00der"  # the event itself is kept byte for byte


# --------------------------------------------------------------------------------- projections


async def test_session_summary_values(write: Write, queries: StoreQueries) -> None:
    await write(swarm()[:10])
    mid = SessionSummary.model_validate(await queries.session(SessionRef(session_id="s1")))
    assert mid.status == "active"
    assert mid.end_time is None
    await write(swarm()[10:])
    summary = SessionSummary.model_validate(await queries.session(SessionRef(session_id="s1")))
    assert summary.model_dump() == {
        "id": "s1",
        "name": "demo",
        "status": "completed",
        "objective": "Build a Rate Limiter",
        "start_time": T0,
        "end_time": T0 + 3000,
        "last_event_time": T0 + 3000,
        "last_seq": 16,
        "event_count": 16,
        "agent_count": 2,
        "error_count": 1,
        "tokens": 120,
        "cost": 0.5,
        "source": "nats",
    }


async def test_session_source_is_the_first_events(write: Write, queries: StoreQueries) -> None:
    otlp = {"metadata": {"source": "otlp"}}
    await write([ev(1, "session_start", None, 0, {"name": "a"}, session="src-a", **otlp)])
    # Later events of another source do not change it, in the same batch or a later one.
    await write(
        [
            ev(
                2, "agent_spawn", "x", 10, {"agent_type": "w"}, session="src-a", metadata={"source": "import"}
            ),
            ev(3, "session_start", None, 0, {}, session="src-b"),
            ev(4, "agent_spawn", "x", 10, {"agent_type": "w"}, session="src-b", **otlp),
            ev(5, "session_start", None, 0, {}, session="src-c", metadata={"source": "  "}),
        ]
    )
    sources = {
        sid: (await queries.session(SessionRef(session_id=sid)))["source"]
        for sid in ("src-a", "src-b", "src-c")
    }
    assert sources == {"src-a": "otlp", "src-b": "nats", "src-c": "nats"}
    listed = await queries.sessions(SessionsQuery(limit=10))
    assert {s["id"]: s["source"] for s in listed["items"] if s["id"].startswith("src-")} == sources


async def test_agent_summary_values(write: Write, queries: StoreQueries) -> None:
    await write(swarm()[:6])
    mid = {a["agent_id"]: a for a in await queries.agents(SessionRef(session_id="s1"))}
    assert (mid["cod-1"]["status"], mid["cod-1"]["current_task"]) == ("busy", "T1")
    await write(swarm()[6:])
    agents = {a["agent_id"]: a for a in await queries.agents(SessionRef(session_id="s1"))}
    assert list(agents) == ["coord", "cod-1"]
    coder = agents["cod-1"]
    assert coder == {
        "agent_id": "cod-1",
        "agent_type": "coder",
        "name": None,
        "parent_agent_id": "coord",
        "status": "idle",
        "current_task": None,
        "first_seq": 3,
        "last_seq": 14,
        "first_time": T0 + 20,
        "last_time": T0 + 2000,
        "event_count": 9,
        "error_count": 1,
        "tool_calls": 1,
        "llm_calls": 1,
        "messages_sent": 1,
        "messages_received": 1,
        "tokens": 120,
        "cost": 0.5,
        "duration_ms": 200.0,
    }
    coord = agents["coord"]
    assert (coord["agent_type"], coord["name"], coord["status"]) == ("coordinator", "Coordinator", "idle")
    assert (
        coord["event_count"],
        coord["tool_calls"],
        coord["messages_sent"],
        coord["messages_received"],
    ) == (
        5,
        1,
        1,
        1,
    )


async def test_explicit_agent_status_wins_and_terminate(write: Write, queries: StoreQueries) -> None:
    await write(
        [
            ev(1, "agent_spawn", "a", 0, {"agent_type": "tester", "status": "busy"}),
            ev(2, "agent_status", "a", 1, {"status": "error"}),
            ev(3, "task_start", "a", 2, {"task_id": "T9", "agent_status": "blocked"}),
        ]
    )
    [agent] = await queries.agents(SessionRef(session_id="s1"))
    assert (agent["status"], agent["current_task"]) == ("blocked", "T9")
    await write([ev(4, "agent_terminate", "a", 3, {"reason": "done"})])
    [agent] = await queries.agents(SessionRef(session_id="s1"))
    assert agent["status"] == "terminated"


async def test_relationships(write: Write, graphs: GraphBuilder) -> None:
    await write(swarm())
    tree = await graphs.graph(GraphQuery(session_id="s1", layout="hierarchical"))
    Graph.model_validate(tree)
    assert edges(tree) == {
        # sequence: per (agent, parent) lane, in order of first appearance
        ("e1", "e16", "sequence"): 1,
        ("e2", "e4", "sequence"): 1,
        ("e4", "e5", "sequence"): 1,
        ("e5", "e12", "sequence"): 1,
        ("e3", "sp_T1", "sequence"): 1,
        ("sp_T1", "e11", "sequence"): 1,
        ("sp_tool1", "sp_llm1", "sequence"): 1,
        ("sp_llm1", "e13", "sequence"): 1,
        # parallel: the llm call opened while its sibling tool call was still open
        ("sp_tool1", "sp_llm1", "parallel"): 1,
        # spawn: agent_spawn of the parent agent → agent_spawn of the child; a child span of
        # another agent
        ("e2", "e3", "spawn"): 1,
        ("sp_T1", "sp_review", "spawn"): 1,
        # callback: causation_id and in_reply_to both point e12 back at e11
        ("e12", "e11", "callback"): 2,
    }
    nodes = {n["id"]: n for n in tree["nodes"]}
    assert len(nodes) == 13
    t1 = nodes["sp_T1"]
    assert (t1["type"], t1["status"], t1["depth"], t1["event_count"]) == ("task_start", "complete", 0, 2)
    assert (t1["start_time"], t1["end_time"], t1["duration_ms"]) == (T0 + 100, T0 + 2000, 1900.0)
    assert t1["label"] == "start T1"
    assert (nodes["sp_tool1"]["depth"], nodes["sp_tool1"]["duration_ms"]) == (1, 200.0)
    assert nodes["sp_llm1"]["label"] == "llm claude"
    assert nodes["e13"]["status"] == "error"

    force = await graphs.graph(GraphQuery(session_id="s1", layout="force"))
    assert [n["id"] for n in force["nodes"]] == ["coord", "cod-1"]
    assert edges(force) == {
        ("coord", "cod-1", "spawn"): 1,
        ("cod-1", "coord", "message"): 1,
        ("coord", "cod-1", "message"): 1,
    }

    timeline = await graphs.graph(GraphQuery(session_id="s1", layout="timeline"))
    kinds = [n["kind"] for n in timeline["nodes"]]
    assert kinds[:2] == ["agent", "agent"]
    starts = [n["start_time"] for n in timeline["nodes"] if n["kind"] == "span"]
    assert starts == sorted(starts)


async def test_projections_do_not_depend_on_batching(
    backend: StoreBackend, log: Any, queries: StoreQueries, graphs: GraphBuilder
) -> None:
    events = swarm("one") + [{**e, "session_id": "many"} for e in swarm("many")]
    records = log.records(events)
    one = [r for r in records if r.session_id == "one"]
    many = [r for r in records if r.session_id == "many"]
    await write_events(backend, one)
    rng = random.Random(3)
    i = 0
    while i < len(many):
        size = rng.randint(1, 4)
        await write_events(backend, many[i : i + size])
        i += size
    a = await snapshot(queries, graphs, "one")
    b = await snapshot(queries, graphs, "many")

    def normalized(snap: dict[str, Any]) -> bytes:
        text = orjson.dumps(snap, option=orjson.OPT_SORT_KEYS).decode()
        text = text.replace('"one"', '"S"').replace('"many"', '"S"')
        return text.encode()

    # seqs differ by a constant between the two sessions; compare everything but the seqs
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if k not in {"seq", "first_seq", "last_seq", "start_seq", "end_seq"}
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    assert orjson.loads(normalized(strip(a))) == orjson.loads(normalized(strip(b)))


async def test_performance_report(write: Write, queries: StoreQueries) -> None:
    await write(swarm())
    report = PerformanceReport.model_validate(await queries.performance(PerformanceQuery(session_id="s1")))
    assert report.window_ms == 1000
    assert [(w.start_time, w.events, w.errors) for w in report.windows] == [
        (T0, 9, 0),
        (T0 + 1000, 4, 1),
        (T0 + 2000, 2, 0),
        (T0 + 3000, 1, 0),
    ]
    assert report.windows[0].event_rate == 9.0
    assert report.windows[0].avg_duration_ms == 200.0
    assert (report.windows[1].tokens, report.windows[1].cost) == (120, 0.5)
    assert [
        (b.key, b.events, b.tokens, b.input_tokens, b.output_tokens, b.cost) for b in report.per_model
    ] == [("claude", 2, 120, 100, 20, 0.5)]
    assert report.per_agent[0].key == "cod-1"
    assert {b.key for b in report.per_type} >= {"tool_call", "llm_call", "task_start"}
    assert [(s.span_id, s.duration_ms, s.event_id, s.seq) for s in report.slowest[:3]] == [
        ("sp_T1", 1900.0, "e14", 14),
        ("sp_llm1", 1050.0, "e10", 10),
        ("sp_tool1", 200.0, "e9", 9),
    ]
    wide = await queries.performance(PerformanceQuery(session_id="s1", window_ms=2500))
    assert wide["window_ms"] == 3000
    # windows are aligned to multiples of the window on the epoch
    assert [(w["start_time"], w["events"]) for w in wide["windows"]] == [(T0 - 2000, 9), (T0 + 1000, 7)]


# ------------------------------------------------------------------------------------- queries


def page_events(session: str, n: int) -> list[dict[str, Any]]:
    types = ["tool_call", "llm_call", "decision"]
    return [
        make_event(
            types[i % 3],
            session_id=session,
            agent_id="alpha" if i % 2 == 0 else "beta",
            event_id=f"{session}-{i}",
            timestamp=T0 + i * 100,
            phase="start" if i % 5 == 0 else "complete",
            span_id=f"span-{i // 4}",
        )
        for i in range(n)
    ]


async def test_events_pagination_ascending_and_descending(write: Write, queries: StoreQueries) -> None:
    await write(page_events("p", 25))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = orjson.loads(
            orjson.dumps(await queries.events(EventsQuery(session_id="p", limit=10, cursor=cursor)))
        )
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 26))
    # next_cursor also works as after_seq (CONTRACT §4)
    page = orjson.loads(orjson.dumps(await queries.events(EventsQuery(session_id="p", after_seq=20))))
    assert [e["seq"] for e in page["items"]] == [21, 22, 23, 24, 25]
    assert page["next_cursor"] is None
    down: list[int] = []
    cursor = None
    while True:
        page = orjson.loads(
            orjson.dumps(
                await queries.events(EventsQuery(session_id="p", limit=7, order="desc", cursor=cursor))
            )
        )
        down += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert down == list(range(25, 0, -1))
    bounded = orjson.loads(
        orjson.dumps(await queries.events(EventsQuery(session_id="p", after_seq=5, until_seq=9, limit=5000)))
    )
    assert [e["seq"] for e in bounded["items"]] == [6, 7, 8, 9]
    exact = orjson.loads(orjson.dumps(await queries.events(EventsQuery(session_id="p", limit=25))))
    assert len(exact["items"]) == 25
    assert exact["next_cursor"] is None


async def test_events_filters(write: Write, queries: StoreQueries) -> None:
    events = page_events("f", 30)
    events[7]["data"] = {"tool": "Grep", "args": {"pattern": "Needle In Data"}}
    events[7]["type"] = "tool_call"
    await write(events)

    async def seqs(**filters: Any) -> list[int]:
        page = orjson.loads(orjson.dumps(await queries.events(EventsQuery(session_id="f", **filters))))
        return [e["seq"] for e in page["items"]]

    assert await seqs(agent="beta") == list(range(2, 31, 2))
    assert await seqs(agent="alpha,beta") == list(range(1, 31))
    assert await seqs(type="decision") == [i + 1 for i in range(30) if i % 3 == 2]
    assert await seqs(type="decision,llm_call") == [i + 1 for i in range(30) if i % 3 != 0 and i != 7]
    assert await seqs(phase="start") == [1, 6, 11, 16, 21, 26]
    assert await seqs(span_id="span-2") == [9, 10, 11, 12]
    assert await seqs(q="needle in") == [8]
    assert await seqs(q="no such text") == []
    assert await seqs(from_ts=T0 + 500, to_ts=T0 + 800) == [6, 7, 8, 9]
    assert await seqs(agent="alpha", type="tool_call", order="desc", limit=2) == [25, 19]
    assert await seqs(q="100%_") == []  # LIKE wildcards are plain text here


async def test_text_search_survives_nul_escapes(write: Write, queries: StoreQueries) -> None:
    await write(
        [
            make_event(
                "tool_call", session_id="n", event_id="a", data={"tool": "x", "out": "nul\u0000 Needle"}
            ),
            make_event("tool_call", session_id="n", event_id="b", data={"tool": "x", "out": "needle too"}),
            make_event("tool_call", session_id="n", event_id="c", data={"tool": "x", "out": "hay"}),
        ]
    )
    page = orjson.loads(orjson.dumps(await queries.events(EventsQuery(session_id="n", q="NEEDLE"))))
    assert [e["id"] for e in page["items"]] == ["a", "b"]


async def test_events_page_is_capped_by_the_reply_budget(backend: StoreBackend, write: Write) -> None:
    big = [
        make_event("tool_call", session_id="b", event_id=f"b{i}", data={"tool": "x", "blob": "z" * 40_000})
        for i in range(10)
    ]
    await write(big)
    small = StoreQueries(backend, lambda: 100_000 + 16 * 1024)
    page = orjson.loads(orjson.dumps(await small.events(EventsQuery(session_id="b", limit=10))))
    assert 1 <= len(page["items"]) < 10
    assert len(orjson.dumps(page)) < 100_000 + 41_000
    assert page["next_cursor"] == str(page["items"][-1]["seq"])
    tiny = StoreQueries(backend, lambda: 1)  # even below one event, a page moves forward
    page = orjson.loads(orjson.dumps(await tiny.events(EventsQuery(session_id="b", limit=10))))
    assert len(page["items"]) >= 1
    assert page["next_cursor"] is not None


async def test_answers_that_are_not_pages_are_whole_whatever_their_size(
    backend: StoreBackend, write: Write, graphs: GraphBuilder
) -> None:
    # A budget far below these answers: they are never cut (big ones travel in chunks, v1.1).
    spawns = [
        make_event(
            "agent_spawn",
            session_id="w",
            agent_id=f"agent-{i:03}",
            event_id=f"w{i}",
            data={"agent_type": "coder", "name": "n" * 300},
        )
        for i in range(300)
    ]
    await write(spawns)
    tight = StoreQueries(backend, lambda: 1)
    agents = orjson.loads(orjson.dumps(await tight.agents(SessionRef(session_id="w"))))
    assert len(orjson.dumps(agents)) > 64 * 1024
    assert sorted(a["agent_id"] for a in agents) == [f"agent-{i:03}" for i in range(300)]
    graph = await graphs.graph(GraphQuery(session_id="w", layout="force"))
    assert len(graph["nodes"]) == 300
    assert graph["truncated"] is False


async def test_unknown_session_and_event_are_not_found(
    write: Write, queries: StoreQueries, graphs: GraphBuilder
) -> None:
    await write([make_event("tool_call", session_id="s1", event_id="known")])
    for call in (
        queries.session(SessionRef(session_id="nope")),
        queries.events(EventsQuery(session_id="nope")),
        queries.agents(SessionRef(session_id="nope")),
        queries.performance(PerformanceQuery(session_id="nope")),
        graphs.graph(GraphQuery(session_id="nope")),
        queries.event(EventRef(session_id="s1", event_id="missing")),
        queries.event(EventRef(session_id="nope", event_id="known")),
    ):
        with pytest.raises(ServiceError) as info:
            await call
        assert info.value.code is ErrorCode.NOT_FOUND
    # a known session with nothing matching is an empty page, not an error
    empty = await queries.events(EventsQuery(session_id="s1", type="llm_call"))
    assert empty == {"items": [], "next_cursor": None}


async def test_sessions_filters_and_pagination(write: Write, queries: StoreQueries) -> None:
    for i in range(7):
        sid = f"sess-{i}"
        batch = [
            make_event(
                "session_start",
                session_id=sid,
                agent_id=None,
                event_id="start",
                data={"name": f"Run {i}", "objective": "Find the BUG" if i % 2 else "ship it"},
            )
        ]
        if i < 3:
            batch.append(
                make_event(
                    "session_end",
                    session_id=sid,
                    agent_id=None,
                    event_id="end",
                    data={"status": "failed" if i == 0 else "completed"},
                )
            )
        await write(batch)
    ids: list[str] = []
    cursor = None
    while True:
        page = await queries.sessions(SessionsQuery(limit=3, cursor=cursor))
        ids += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == [f"sess-{i}" for i in range(6, -1, -1)]  # newest first
    assert [s["id"] for s in (await queries.sessions(SessionsQuery(status="completed")))["items"]] == [
        "sess-2",
        "sess-1",
    ]
    assert [s["id"] for s in (await queries.sessions(SessionsQuery(status="active")))["items"]] == [
        "sess-6",
        "sess-5",
        "sess-4",
        "sess-3",
    ]
    found = (await queries.sessions(SessionsQuery(q="find the bug")))["items"]
    assert [s["id"] for s in found] == ["sess-5", "sess-3", "sess-1"]
    assert [s["id"] for s in (await queries.sessions(SessionsQuery(q="RUN 4")))["items"]] == ["sess-4"]
    assert [s["id"] for s in (await queries.sessions(SessionsQuery(q="SESS-0")))["items"]] == ["sess-0"]
    with pytest.raises(ServiceError) as info:
        await queries.sessions(SessionsQuery(cursor="x'; DROP TABLE sessions; --"))
    assert info.value.code is ErrorCode.BAD_REQUEST


def searchable(
    sid: str, t0: float, *, agents: list[str], tools: list[str], model: str, error_type: str | None
) -> list[dict[str, Any]]:
    """A session from t0 on (1 s apart) stating agent types, tools, a model, maybe an error type."""
    out: list[dict[str, Any]] = []

    def add(event_type: str, agent: str | None, data: dict[str, Any]) -> None:
        out.append(
            make_event(
                event_type,
                session_id=sid,
                agent_id=agent,
                event_id=f"e{len(out)}",
                data=data,
                timestamp=t0 + 1000 * len(out),
            )
        )

    add("session_start", None, {"name": sid})
    for i, agent_type in enumerate(agents):
        add("agent_spawn", f"a{i}", {"agent_type": agent_type})
    for tool in tools:
        add("tool_call", "a0", {"tool": tool})
    add(
        "llm_call",
        "a0",
        {"model": model, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.25 * len(tools)},
    )
    if error_type:
        add("error", "a0", {"message": "refused", "error_type": error_type})
    return out


async def test_sessions_search_by_attribute_cost_time_and_scope(write: Write, queries: StoreQueries) -> None:
    hour = 3_600_000
    await write(
        searchable(
            "alpha",
            T0,
            agents=["coder", "tester"],
            tools=["Bash"],
            model="opus",
            error_type="ConnectionError",
        )
    )
    await write(
        searchable(
            "beta", T0 + hour, agents=["coder"], tools=["Read", "Edit"], model="haiku", error_type=None
        )
    )
    # Facts stated again in a later batch are kept once.
    await write(
        [
            make_event(
                "tool_call",
                session_id="beta",
                agent_id="a0",
                event_id="again",
                data={"tool": "Read"},
                timestamp=T0 + hour + 9000,
            )
        ]
    )
    await write(
        searchable(
            "gamma",
            T0 + 2 * hour,
            agents=["researcher"],
            tools=["WebSearch", "Read", "Bash"],
            model="opus",
            error_type="TimeoutError",
        )
    )
    await write(
        [
            make_event(
                "performance_alert",
                session_id="_system",
                agent_id="store",
                data={"metric": "lag", "value": 2, "threshold": 1},
                timestamp=T0,
            )
        ]
    )

    async def ids(**fields: Any) -> list[str]:
        return [s["id"] for s in (await queries.sessions(SessionsQuery(**fields)))["items"]]

    assert await ids(agent_type="coder") == ["beta", "alpha"]
    assert await ids(tool="Bash") == ["gamma", "alpha"]
    assert await ids(tool="Read,Bash") == ["gamma", "beta", "alpha"]
    assert await ids(model="opus", tool="Read") == ["gamma"]
    assert await ids(error_type="ConnectionError") == ["alpha"]
    assert await ids(error_type="ConnectionError,TimeoutError", agent_type="researcher") == ["gamma"]
    assert await ids(tool="Nope") == []
    assert await ids(min_cost=0.5) == ["gamma", "beta"]
    assert await ids(min_cost=0.5, max_cost=0.5) == ["beta"]
    assert await ids(system="exclude") == ["gamma", "beta", "alpha"]
    assert await ids(system="only") == ["_system"]
    assert "_system" in await ids()
    # A time range keeps the sessions whose events overlap it: beta ran from T0+1h for 9 s.
    assert await ids(from_ts=T0 + hour + 8000, to_ts=T0 + hour + 8000) == ["beta"]
    assert await ids(from_ts=T0 + hour - 1, to_ts=T0 + 2 * hour) == ["gamma", "beta"]
    assert await ids(to_ts=T0 + 500, system="exclude") == ["alpha"]
    assert await ids(from_ts=T0 + 3 * hour) == []
    # Search and paging compose: pages of one follow each other.
    first = await queries.sessions(SessionsQuery(tool="Read,Bash", limit=2))
    rest = await queries.sessions(SessionsQuery(tool="Read,Bash", limit=2, cursor=first["next_cursor"]))
    assert [s["id"] for s in first["items"] + rest["items"]] == ["gamma", "beta", "alpha"]
    facets = await queries.facets(FacetsQuery())
    assert facets["tool"][:2] == [{"value": "Bash", "sessions": 2}, {"value": "Read", "sessions": 2}]
    assert {f["value"] for f in facets["tool"]} == {"Bash", "Read", "Edit", "WebSearch"}
    assert facets["agent_type"][0] == {"value": "coder", "sessions": 2}
    assert {f["value"] for f in facets["model"]} == {"opus", "haiku"}
    assert {f["value"] for f in facets["error_type"]} == {"ConnectionError", "TimeoutError"}
    assert len((await queries.facets(FacetsQuery(limit=1)))["tool"]) == 1


async def test_session_facts_migration_backfills_sessions_stored_before_it(
    backend: StoreBackend, write: Write, queries: StoreQueries
) -> None:
    await write(searchable("old", T0, agents=["coder"], tools=["Bash"], model="opus", error_type="OSError"))
    # As if the database predated migration 0002: its tool spans were labelled "tool_call: <tool>"
    # (the label before semantics.event_label, which is what the migration reads).
    async with backend.transaction() as tx:
        await tx.execute(
            "UPDATE spans SET label = 'tool_call: ' || substr(label, 6) WHERE type = 'tool_call' AND label LIKE 'tool %'"
        )
        await tx.execute("DROP TABLE session_facts")
        await tx.execute("DROP INDEX sessions_start_time")
        await tx.execute("DROP INDEX sessions_cost")
        await tx.execute("DELETE FROM schema_migrations WHERE version = 2")
    assert await backend.migrate() == ["0002_session_facts.sql"]
    for field, value in (
        ("agent_type", "coder"),
        ("tool", "Bash"),
        ("model", "opus"),
        ("error_type", "OSError"),
    ):
        found = await queries.sessions(SessionsQuery(**{field: value}))
        assert [s["id"] for s in found["items"]] == ["old"], field


async def test_session_facts_go_with_their_session(
    backend: StoreBackend, log: Any, queries: StoreQueries
) -> None:
    records = log.records(
        [
            make_event(
                "tool_call",
                session_id="brief",
                event_id="t",
                data={"tool": "Bash"},
                metadata={"retention": 1},
            )
        ]
    )
    for r in records:
        r.expires_at = int(T0 + 3_600_000)
    await write_events(backend, records)
    assert [s["id"] for s in (await queries.sessions(SessionsQuery(tool="Bash")))["items"]] == ["brief"]
    await purge_expired(backend, int(T0 + 2 * 3_600_000), 0)
    async with backend.reader() as tx:
        assert await tx.fetch("SELECT 1 FROM session_facts WHERE session_id = 'brief'") == []


async def test_graph_max_nodes_truncates(write: Write, graphs: GraphBuilder) -> None:
    await write(swarm())
    graph = await graphs.graph(GraphQuery(session_id="s1", max_nodes=5))
    assert graph["truncated"] is True
    assert len(graph["nodes"]) == 5
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])


# -------------------------------------------------------------------------------- dead letters


def dlq_delivery(seq: int, payload: bytes, **headers: str) -> Delivery:
    reason = headers.pop("reason", None)
    hdrs = dict(headers)
    if reason:
        hdrs["Swarmscope-Dlq-Reason"] = reason
    return Delivery(
        subject=f"traces.dlq.{reason or 'invalid_json'}",
        data=payload,
        headers=hdrs,
        stream_seq=seq,
        num_delivered=1,
        timestamp_ns=int(T0 * 1e6),
    )


async def test_dead_letters(backend: StoreBackend, queries: StoreQueries) -> None:
    letters = [
        decode_dead_letter(dlq_delivery(1, b"{not json", reason="invalid_json")),
        decode_dead_letter(
            dlq_delivery(
                2,
                b"\xff\xfe" + b"x" * 5000,
                reason="invalid_utf8",
                **{"Swarmscope-Dlq-Subject": "traces.raw.s.a.t", "Swarmscope-Dlq-Error": "bad byte at 0"},
            )
        ),
        decode_dead_letter(
            Delivery(subject="traces.dlq.too_large", data=b"big", headers={}, stream_seq=3, num_delivered=1)
        ),
    ]
    assert await write_dead_letters(backend, letters) == 3
    assert await write_dead_letters(backend, letters) == 0  # redelivered: nothing new
    page = await queries.dead_letters(DlqQuery())
    assert [d["seq"] for d in page["items"]] == [3, 2, 1]
    utf8 = page["items"][1]
    assert (utf8["reason"], utf8["subject"], utf8["error"], utf8["size"]) == (
        "invalid_utf8",
        "traces.raw.s.a.t",
        "bad byte at 0",
        5002,
    )
    assert utf8["received_at"] == T0
    assert utf8["payload_preview"].startswith("\ufffd\ufffd")
    assert len(utf8["payload_preview"]) == 2048
    assert page["items"][0]["reason"] == "too_large"  # from the subject when no header says
    first = await queries.dead_letters(DlqQuery(limit=2))
    assert first["next_cursor"] == "2"
    rest = await queries.dead_letters(DlqQuery(limit=2, before_seq=int(first["next_cursor"])))
    assert [d["seq"] for d in rest["items"]] == [1]
    assert rest["next_cursor"] is None
    only = await queries.dead_letters(DlqQuery(reason="invalid_json"))
    assert [d["seq"] for d in only["items"]] == [1]


# ----------------------------------------------------------------------------------- retention


async def test_retention_deletes_expired_events_and_their_projections(
    backend: StoreBackend, log: Any, queries: StoreQueries
) -> None:
    now = T0 + 10_000
    short = [
        make_event("tool_call", session_id="brief", event_id=f"x{i}", metadata={"retention": 1})
        for i in range(3)
    ]
    mixed = [
        make_event("tool_call", session_id="mixed", event_id="short", metadata={"retention": 1}),
        make_event("tool_call", session_id="mixed", event_id="long"),
    ]
    records = log.records(short + mixed)
    for r in records:  # stamp as received at `now`
        r.expires_at = int(now + (1 if r.event_id != "long" else 168) * 3_600_000)
    await write_events(backend, records)
    assert (await purge_expired(backend, int(now), 0)).events == 0
    later = int(now + 2 * 3_600_000)
    result = await purge_expired(backend, later, 0)
    assert result.events == 4
    assert result.sessions == 1
    with pytest.raises(ServiceError):
        await queries.session(SessionRef(session_id="brief"))
    page = orjson.loads(orjson.dumps(await queries.events(EventsQuery(session_id="mixed"))))
    assert [e["id"] for e in page["items"]] == ["long"]
    assert (await queries.session(SessionRef(session_id="mixed")))["event_count"] == 2  # history stays
    if backend.name == "postgres":
        assert result.partitions >= 1
    # a stored event expires by the producer's metadata.retention, else the configured default
    default = log.records([make_event("tool_call", session_id="d", event_id="d")])[0]
    custom = log.records([make_event("tool_call", session_id="d", event_id="c", metadata={"retention": 2})])[
        0
    ]
    assert default.expires_at - custom.expires_at == pytest.approx((168 - 2) * 3_600_000, abs=5_000)


async def test_concurrent_writers_lose_no_updates(
    backend: StoreBackend, log: Any, queries: StoreQueries
) -> None:
    """Replicas write batches at the same time (Postgres: advisory locks per session; SQLite: one
    writer): every count adds up and every span keeps all its events."""
    events = [e for s in ("c1", "c2", "c3") for e in swarm(s)]
    records = log.records(events)
    rng = random.Random(5)
    rng.shuffle(records)
    batches = [records[i : i + 4] for i in range(0, len(records), 4)]
    await asyncio.gather(*(write_events(backend, batch) for batch in batches))
    for session in ("c1", "c2", "c3"):
        summary = await queries.session(SessionRef(session_id=session))
        assert (
            summary["event_count"],
            summary["error_count"],
            summary["tokens"],
            summary["agent_count"],
        ) == (
            16,
            1,
            120,
            2,
        )
        assert summary["status"] == "completed"
        agents = {a["agent_id"]: a for a in await queries.agents(SessionRef(session_id=session))}
        assert (agents["cod-1"]["event_count"], agents["coord"]["event_count"]) == (9, 5)
        page = await queries.events(EventsQuery(session_id=session))
        assert len(page["items"]) == 16
        async with backend.reader() as tx:
            rows = await tx.fetch(
                "SELECT sum(event_count), count(*) FROM spans WHERE session_id = $1", session
            )
        assert (int(rows[0][0]), int(rows[0][1])) == (16, 13)
