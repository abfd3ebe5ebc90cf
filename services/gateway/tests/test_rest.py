"""Every REST endpoint of CONTRACT §4 against the real ingest, store and replay: answers, paging,
filters, and errors as `{error: {code, message}}` with the code's status."""

from __future__ import annotations

import gzip
import time
from typing import Any

import httpx
import nats
import orjson
import pytest

from swarmscope_dev.gateway import (
    RunningGateway,
    ingest,
    new_session,
    session_events,
    stored_events,
    wait_stored,
)
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.subjects import MSG_ID_HEADER, raw_msg_id, raw_subject
from swarmscope_schema.testing import make_event


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text


def swarm(session_id: str) -> list[dict[str, Any]]:
    """A small swarm with agents, a task, a tool call span and an error."""
    t0 = time.time() * 1000

    def ev(event_type: str, agent: str | None, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        ev.n += 1  # type: ignore[attr-defined]
        return make_event(
            event_type, session_id=session_id, agent_id=agent, data=data, timestamp=t0 + ev.n, **extra
        )  # type: ignore[attr-defined]

    ev.n = 0  # type: ignore[attr-defined]
    return [
        ev("session_start", None, {"objective": "build a rate limiter", "name": "demo"}),
        ev("agent_spawn", "coord-1", {"agent_type": "coordinator"}),
        ev("agent_spawn", "cod-1", {"agent_type": "coder", "parent_agent_id": "coord-1"}),
        ev("task_create", "coord-1", {"task_id": "T1", "description": "write it"}),
        ev("task_assignment", "coord-1", {"task_id": "T1", "agent_id": "cod-1"}),
        ev("task_start", "cod-1", {"task_id": "T1"}, span_id="sp_T1", phase="start"),
        ev(
            "tool_call",
            "cod-1",
            {"tool": "Bash", "args": {"cmd": "pytest"}},
            span_id="sp_tc1",
            phase="start",
            metadata={"parent_id": "sp_T1"},
        ),
        ev(
            "tool_call",
            "cod-1",
            {"tool": "Bash", "exit_code": 1},
            span_id="sp_tc1",
            phase="complete",
            metadata={"parent_id": "sp_T1"},
        ),
        ev(
            "llm_call",
            "cod-1",
            {"model": "claude", "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.01},
        ),
        ev("error", "cod-1", {"message": "tests failed", "error_type": "AssertionError"}),
        ev("task_complete", "cod-1", {"task_id": "T1", "result": "ok"}, span_id="sp_T1", phase="complete"),
        ev("session_end", None, {"status": "completed"}),
    ]


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> tuple[str, list[dict[str, Any]]]:
    sid = new_session()
    events = swarm(sid)
    await ingest(client, events)
    await wait_stored(client, sid, len(events))
    return sid, await stored_events(client, sid)


async def test_sessions_list_get_and_paging(client: httpx.AsyncClient, seeded: tuple[str, list]) -> None:
    sid, stored = seeded
    other = new_session()
    await ingest(client, session_events(other, 3))
    await wait_stored(client, other, 3)
    page = (await client.get("/api/v1/sessions", params={"q": sid})).json()
    assert [s["id"] for s in page["items"]] == [sid]
    summary = page["items"][0]
    for key in (
        "name",
        "status",
        "start_time",
        "end_time",
        "event_count",
        "agent_count",
        "error_count",
        "tokens",
        "cost",
    ):
        assert key in summary
    assert summary["event_count"] == len(stored)
    assert summary["status"] == "completed"
    one = (await client.get("/api/v1/sessions", params={"limit": 1})).json()
    assert len(one["items"]) == 1
    assert one["next_cursor"]
    two = (await client.get("/api/v1/sessions", params={"limit": 1, "cursor": one["next_cursor"]})).json()
    assert two["items"][0]["id"] != one["items"][0]["id"]
    assert (await client.get(f"/api/v1/sessions/{sid}")).json()["id"] == sid
    assert_error(await client.get(f"/api/v1/sessions/{new_session()}"), 404, "not_found")
    for bad in ({"limit": 0}, {"limit": 100000}, {"limit": "many"}, {"nope": 1}, {"cursor": "garbage"}):
        assert_error(await client.get("/api/v1/sessions", params=bad), 400, "bad_request")


async def test_sessions_search_by_attribute(client: httpx.AsyncClient, seeded: tuple[str, list]) -> None:
    sid, _ = seeded  # a coder and a coordinator, Bash, model "claude", an AssertionError, cost 0.01

    async def ids(**params: Any) -> list[str]:
        page = (await client.get("/api/v1/sessions", params={"limit": 500, **params})).json()
        return [s["id"] for s in page["items"]]

    assert sid in await ids(agent_type="coder", tool="Bash", model="claude", error_type="AssertionError")
    assert sid in await ids(tool="Read,Bash", min_cost=0.005, max_cost=0.02)
    assert sid not in await ids(tool="Bash", min_cost=1)
    assert sid not in await ids(agent_type="tester")
    assert all(s != "_system" for s in await ids(system="exclude"))
    facets = (await client.get("/api/v1/facets")).json()
    assert any(f["value"] == "Bash" and f["sessions"] >= 1 for f in facets["tool"])
    assert set(facets) == {"agent_type", "tool", "model", "error_type"}
    for bad in ({"system": "maybe"}, {"min_cost": -1}, {"from_ts": "yesterday"}):
        assert_error(await client.get("/api/v1/sessions", params=bad), 400, "bad_request")
    assert_error(await client.get("/api/v1/facets", params={"limit": 0}), 400, "bad_request")


async def test_events_paging_filters_and_one_event(
    client: httpx.AsyncClient, seeded: tuple[str, list]
) -> None:
    sid, stored = seeded
    got: list[dict] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"/api/v1/sessions/{sid}/events", params=params)).json()
        got += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["seq"] for e in got] == sorted(e["seq"] for e in stored)
    after = (
        await client.get(f"/api/v1/sessions/{sid}/events", params={"after_seq": stored[5]["seq"]})
    ).json()
    assert [e["seq"] for e in after["items"]] == [e["seq"] for e in stored[6:]]
    by_agent = (await client.get(f"/api/v1/sessions/{sid}/events", params={"agent": "coord-1"})).json()[
        "items"
    ]
    assert by_agent
    assert {e["agent_id"] for e in by_agent} == {"coord-1"}
    by_type = (
        await client.get(f"/api/v1/sessions/{sid}/events", params={"type": "tool_call", "phase": "start"})
    ).json()
    assert [e["span_id"] for e in by_type["items"]] == ["sp_tc1"]
    desc = (await client.get(f"/api/v1/sessions/{sid}/events", params={"order": "desc", "limit": 3})).json()
    assert [e["seq"] for e in desc["items"]] == [e["seq"] for e in stored[::-1][:3]]
    found = (await client.get(f"/api/v1/sessions/{sid}/events", params={"q": "rate limiter"})).json()["items"]
    assert [e["type"] for e in found] == ["session_start"]
    window = (
        await client.get(
            f"/api/v1/sessions/{sid}/events",
            params={"from_ts": stored[2]["timestamp"], "to_ts": stored[4]["timestamp"]},
        )
    ).json()["items"]
    assert [e["seq"] for e in window] == [e["seq"] for e in stored[2:5]]
    event = stored[3]
    assert (await client.get(f"/api/v1/sessions/{sid}/events/{event['id']}")).json() == event
    assert_error(await client.get(f"/api/v1/sessions/{sid}/events/nope"), 404, "not_found")
    for bad in ({"after_seq": -1}, {"phase": "middle"}, {"order": "sideways"}, {"limit": 0}):
        assert_error(await client.get(f"/api/v1/sessions/{sid}/events", params=bad), 400, "bad_request")
    assert_error(await client.get("/api/v1/sessions/bad$id/events"), 400, "bad_request")


async def test_agents_graph_and_performance(client: httpx.AsyncClient, seeded: tuple[str, list]) -> None:
    sid, _ = seeded
    agents = (await client.get(f"/api/v1/sessions/{sid}/agents")).json()
    assert agents["next_cursor"] is None
    by_id = {a["agent_id"]: a for a in agents["items"]}
    assert {"coord-1", "cod-1"} <= set(by_id)
    assert by_id["cod-1"]["agent_type"] == "coder"
    for layout in ("hierarchical", "force", "timeline"):
        graph = (await client.get(f"/api/v1/sessions/{sid}/graph", params={"layout": layout})).json()
        assert graph["layout"] == layout
        assert graph["nodes"]
        assert {e["type"] for e in graph["edges"]} <= {"sequence", "parallel", "spawn", "callback", "message"}
    assert_error(
        await client.get(f"/api/v1/sessions/{sid}/graph", params={"layout": "spiral"}), 400, "bad_request"
    )
    performance = (await client.get(f"/api/v1/sessions/{sid}/performance")).json()
    for key in ("windows", "per_agent", "per_type", "per_model", "slowest"):
        assert key in performance
    assert_error(await client.get(f"/api/v1/sessions/{new_session()}/performance"), 404, "not_found")


async def test_dead_letters(client: httpx.AsyncClient, backend_stack: LocalStack) -> None:
    sid = new_session()
    # The gateway refuses such an event in its answer; a raw NATS producer's goes to the DLQ.
    bad = make_event("tool_call", session_id=sid)
    bad["type"] = "not_a_type"
    nc = await nats.connect(str(backend_stack.nats_url))
    try:
        await nc.jetstream().publish(
            raw_subject(sid, bad["agent_id"], bad["type"]),
            orjson.dumps(bad),
            headers={MSG_ID_HEADER: raw_msg_id(sid, bad["id"])},
        )
    finally:
        await nc.close()
    deadline = time.monotonic() + 30
    while True:
        page = (await client.get("/api/v1/dlq", params={"limit": 1000})).json()
        letters = [d for d in page["items"] if sid in d["payload_preview"]]
        if letters:
            break
        assert time.monotonic() < deadline, "the dead letter never showed"
        time.sleep(0.05)
    letter = letters[0]
    assert letter["reason"] == "schema_violation"
    for key in ("seq", "subject", "received_at", "payload_preview"):
        assert key in letter
    assert "next_cursor" in page
    only = (await client.get("/api/v1/dlq", params={"reason": "schema_violation", "limit": 1})).json()
    assert len(only["items"]) == 1
    if only["next_cursor"]:
        older = (await client.get("/api/v1/dlq", params={"cursor": only["next_cursor"], "limit": 1})).json()
        assert older["items"][0]["seq"] < only["items"][0]["seq"]
    assert_error(await client.get("/api/v1/dlq", params={"limit": 0}), 400, "bad_request")
    assert_error(await client.get("/api/v1/dlq", params={"cursor": "x"}), 400, "bad_request")


async def test_ingest_single_array_and_rejects(client: httpx.AsyncClient) -> None:
    sid = new_session()
    camel = {
        "id": "cf-1",
        "timestamp": time.time() * 1000,
        "sessionId": sid,
        "agentId": "a1",
        "type": "agent:spawned",
        "data": {"agentType": "coder"},
    }
    response = await client.post("/api/v1/ingest", json=camel)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    events = session_events(sid, 3)
    response = await client.post(
        "/api/v1/ingest", json=[events[0], {"no": "id"}, "text", events[1], events[2]]
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert body["rejected"] == 2
    assert [r["index"] for r in body["rejects"]] == [1, 2]
    await wait_stored(client, sid, 4)
    stored = await stored_events(client, sid)
    assert stored[0]["type"] == "agent_spawn"
    assert stored[0]["session_id"] == sid
    assert_error(
        await client.post("/api/v1/ingest", json={"id": "x", "type": "tool_call"}), 400, "bad_request"
    )
    assert_error(await client.post("/api/v1/ingest", json=[]), 400, "bad_request")
    assert_error(await client.post("/api/v1/ingest", json=[1, 2]), 400, "bad_request")
    assert_error(await client.post("/api/v1/ingest", json="event"), 400, "bad_request")
    assert_error(await client.post("/api/v1/ingest", content=b"{nope"), 400, "bad_request")
    bad_id = make_event(session_id=sid, event_id="has space")
    assert_error(await client.post("/api/v1/ingest", json=bad_id), 400, "bad_request")


async def test_ingest_answers_what_ingest_would_dead_letter(client: httpx.AsyncClient) -> None:
    """Issue 12.4: a 300-character session id and an unknown type were answered 202 "accepted" and
    then dead-lettered; the answer now names them (index, dead-letter reason) and the good event
    beside them is stored."""
    sid = new_session()
    good = make_event("agent_spawn", session_id=sid)
    long_session = make_event("agent_spawn", session_id="s" * 300)
    unknown = make_event("agent_spawn", session_id=sid)
    unknown["type"] = "not_a_type"
    wrong_payload = make_event("agent_spawn", session_id=sid, data={"agent_type": 7})
    response = await client.post("/api/v1/ingest", json=[long_session, good, unknown, wrong_payload])
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 3)
    assert [(r["index"], r["code"]) for r in body["rejects"]] == [
        (0, "schema_violation"),
        (2, "schema_violation"),
        (3, "schema_violation"),
    ]
    assert "session_id" in body["rejects"][0]["message"]
    assert "type" in body["rejects"][1]["message"]
    assert "data.agent_type" in body["rejects"][2]["message"]
    await wait_stored(client, sid, 1)
    assert [e["id"] for e in await stored_events(client, sid)] == [good["id"]]
    # The rejected events were never published: the good one went in the same message as they
    # would have, and it is stored, so their dead letters would exist by now.
    letters = (await client.get("/api/v1/dlq", params={"limit": 1000})).json()["items"]
    assert not [d for d in letters if unknown["id"] in d["payload_preview"]]
    # Nothing accepted: 400, with every reject listed.
    refused = await client.post("/api/v1/ingest", json=[long_session, unknown])
    assert_error(refused, 400, "bad_request")
    assert [(r["index"], r["code"]) for r in refused.json()["error"]["rejects"]] == [
        (0, "schema_violation"),
        (1, "schema_violation"),
    ]
    single = await client.post("/api/v1/ingest", json=unknown)
    assert_error(single, 400, "bad_request")
    assert single.json()["error"]["reason"] == "schema_violation"


async def test_export_and_import_round_trip(client: httpx.AsyncClient, seeded: tuple[str, list]) -> None:
    sid, stored = seeded
    response = await client.get(f"/api/v1/sessions/{sid}/export", params={"format": "jsonl"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert sid in response.headers["content-disposition"]
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert lines == stored
    assert_error(await client.get(f"/api/v1/sessions/{new_session()}/export"), 404, "not_found")
    assert_error(
        await client.get(f"/api/v1/sessions/{sid}/export", params={"format": "csv"}), 400, "bad_request"
    )

    copy = new_session()
    body = (
        response.content
        + b"\n\nnot json\n"
        + orjson.dumps({"id": "x", "session_id": "s"})
        + b"\n"
        + b'{"id": "huge", "session_id": "s", "type": "x", "pad": "'
        + b"a" * (1024 * 1024 + 70 * 1024)
        + b'"}\n'
    )
    result = await client.post("/api/v1/import", params={"session_id": copy}, content=body)
    assert result.status_code == 202, result.text
    report = result.json()
    assert report["accepted"] == len(stored)
    assert report["rejected"] == 3
    n = len(stored)  # then two blank lines, which are skipped
    assert [(r["line"], r["code"]) for r in report["rejects"]] == [
        (n + 3, "invalid_json"),
        (n + 4, "schema_violation"),
        (n + 5, "too_large"),
    ]
    assert report["sessions"] == [{"session_id": copy, "events": len(stored), "stored_before": 0}]
    await wait_stored(client, copy, len(stored))
    imported = await stored_events(client, copy)
    assert [e["id"] for e in imported] == [e["id"] for e in stored]
    # The log assigns seq again: the copy's events are new entries of the log.
    assert min(e["seq"] for e in imported) > max(e["seq"] for e in stored)
    # Imported again: every event is a duplicate (stored once), and the report says what was already stored.
    again = (
        await client.post("/api/v1/import", params={"session_id": copy}, content=response.content)
    ).json()
    assert again["accepted"] == len(stored)
    assert again["sessions"] == [{"session_id": copy, "events": len(stored), "stored_before": len(stored)}]

    gz = new_session()
    result = await client.post(
        "/api/v1/import",
        params={"session_id": gz},
        content=gzip.compress(response.content),
        headers={"Content-Encoding": "gzip"},
    )
    assert result.json()["accepted"] == len(stored)
    await wait_stored(client, gz, len(stored))
    assert_error(
        await client.post("/api/v1/import", content=b"x", headers={"Content-Encoding": "br"}),
        400,
        "bad_request",
    )
    assert_error(
        await client.post(
            "/api/v1/import", content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}
        ),
        400,
        "bad_request",
    )


async def test_time_travel_and_debugging(client: httpx.AsyncClient, seeded: tuple[str, list]) -> None:
    sid, stored = seeded
    by_type = {e["type"]: e for e in stored}
    state = (
        await client.get(f"/api/v1/sessions/{sid}/state", params={"seq": by_type["task_start"]["seq"]})
    ).json()
    assert state["session_id"] == sid
    assert state["seq"] == by_type["task_start"]["seq"]
    assert state["tasks"]["T1"]["status"] == "running"
    at_ts = (await client.get(f"/api/v1/sessions/{sid}/state", params={"ts": stored[-1]["timestamp"]})).json()
    assert at_ts["seq"] == stored[-1]["seq"]
    for bad in ({}, {"seq": 1, "ts": 5}, {"seq": -1}):
        assert_error(await client.get(f"/api/v1/sessions/{sid}/state", params=bad), 400, "bad_request")

    diff = (
        await client.get(
            f"/api/v1/sessions/{sid}/diff",
            params={"from_seq": by_type["task_start"]["seq"], "to_seq": by_type["task_complete"]["seq"]},
        )
    ).json()
    assert any(c["path"][:2] == ["tasks", "T1"] for c in diff["changes"])

    # (v1.1) the bounded view, the whole state, pages of a collection, a paged diff.
    last = stored[-1]["seq"]
    view = (await client.get(f"/api/v1/sessions/{sid}/state", params={"seq": last, "limit": 0})).json()
    assert view["tasks"] == {}
    assert view["view"]["collections"]["tasks"] == {"count": 1, "included": 0}
    full = await client.get(f"/api/v1/sessions/{sid}/state", params={"seq": last, "full": "1"})
    assert full.headers["content-type"].startswith("application/json")
    whole = full.json()
    assert "view" not in whole
    assert whole["tasks"]["T1"]["status"] == "completed"
    page = (await client.get(f"/api/v1/sessions/{sid}/state/tasks", params={"seq": last, "limit": 10})).json()
    assert page["items"] == [{"key": "T1", "value": whole["tasks"]["T1"]}]
    assert (page["count"], page["next_cursor"]) == (1, None)
    assert_error(
        await client.get(f"/api/v1/sessions/{sid}/state/nothing", params={"seq": last}), 400, "bad_request"
    )
    assert_error(
        await client.get(f"/api/v1/sessions/{sid}/state/memory", params={"seq": last, "status": "x"}),
        400,
        "bad_request",
    )
    first = (
        await client.get(f"/api/v1/sessions/{sid}/diff", params={"from_seq": 0, "to_seq": last, "limit": 2})
    ).json()
    assert (len(first["changes"]), first["truncated"], first["next_cursor"]) == (2, True, "2")
    rest = (
        await client.get(
            f"/api/v1/sessions/{sid}/diff",
            params={"from_seq": 0, "to_seq": last, "cursor": "2", "limit": 5000},
        )
    ).json()
    everything = (
        await client.get(f"/api/v1/sessions/{sid}/diff", params={"from_seq": 0, "to_seq": last})
    ).json()
    assert first["changes"] + rest["changes"] == everything["changes"]

    tool = next(e for e in stored if e["type"] == "tool_call")
    stack = (await client.get(f"/api/v1/sessions/{sid}/events/{tool['id']}/stack")).json()
    assert [f["span_id"] for f in stack["frames"]][:2] == ["sp_tc1", "sp_T1"]
    for direction in ("into", "over", "out", "back"):
        step = (
            await client.get(
                f"/api/v1/sessions/{sid}/events/{tool['id']}/step", params={"direction": direction}
            )
        ).json()
        assert step["direction"] == direction
        assert step["from_event_id"] == tool["id"]
    assert_error(
        await client.get(
            f"/api/v1/sessions/{sid}/events/{tool['id']}/step", params={"direction": "sideways"}
        ),
        400,
        "bad_request",
    )
    assert_error(await client.get(f"/api/v1/sessions/{sid}/events/nope/stack"), 404, "not_found")

    hit = (
        await client.post(
            f"/api/v1/sessions/{sid}/breakpoints/run",
            json={"from_seq": 0, "direction": "forward", "conditions": ['event.type == "error"']},
        )
    ).json()
    assert hit["hit"]
    assert hit["event"]["type"] == "error"
    assert_error(
        await client.post(f"/api/v1/sessions/{sid}/breakpoints/run", json={"conditions": ["event.type =="]}),
        422,
        "expression_error",
    )
    assert_error(
        await client.post(f"/api/v1/sessions/{sid}/breakpoints/run", json={"conditions": []}),
        400,
        "bad_request",
    )
    assert_error(
        await client.post(
            f"/api/v1/sessions/{sid}/breakpoints/run", json={"session_id": sid, "conditions": ["true"]}
        ),
        400,
        "bad_request",
    )
    assert_error(
        await client.post(f"/api/v1/sessions/{sid}/breakpoints/run", content=b"nope"), 400, "bad_request"
    )

    watch = (
        await client.post(
            f"/api/v1/sessions/{sid}/watch",
            json={"seq": stored[-1]["seq"], "expressions": ['state.tasks["T1"].status']},
        )
    ).json()
    assert watch["values"][0]["value"] == "completed"

    compiled = (
        await client.post(
            "/api/v1/expressions/compile",
            json={"expressions": ['event.type == "error"', "event.type ==== 3", 'evnt.type == "x"']},
        )
    ).json()
    assert [r["ok"] for r in compiled["results"]] == [True, False, False]
    assert compiled["results"][1]["column"] == 14
    assert "unknown variable 'evnt'" in compiled["results"][2]["error"]
    watch_check = (
        await client.post("/api/v1/expressions/compile", json={"expressions": ["event.seq"], "use": "watch"})
    ).json()
    assert watch_check["results"][0]["ok"] is False
    assert_error(
        await client.post("/api/v1/expressions/compile", json={"expressions": []}), 400, "bad_request"
    )
    assert_error(
        await client.post("/api/v1/expressions/compile", json={"expressions": ["true"], "use": "other"}),
        400,
        "bad_request",
    )

    other = new_session()
    await ingest(client, swarm(other))
    await wait_stored(client, other, len(stored))
    comparison = (await client.get("/api/v1/compare", params={"a": sid, "b": other})).json()
    assert comparison["a"]["session_id"] == sid
    assert comparison["b"]["session_id"] == other
    assert_error(await client.get("/api/v1/compare", params={"a": sid}), 400, "bad_request")

    replayed = await client.post(f"/api/v1/sessions/{sid}/replay", json={"speed": 1000})
    assert replayed.status_code == 202
    assert replayed.json()["session_id"] == sid


async def test_unknown_paths_methods_and_operations(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    assert_error(await client.get("/api/v1/nope"), 404, "not_found")
    assert_error(await client.post("/api/v1/sessions"), 405, "bad_request")
    assert_error(await client.get("/api/v1/ws"), 426, "bad_request")
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert set(ready.json()["checks"]) == {"nats", "store", "replay", "live"}
    await client.get(f"/api/v1/sessions/{new_session()}")
    metrics = (await client.get("/metrics")).text
    assert 'route="/api/v1/sessions/{session_id}"' in metrics
    assert "gw-" not in metrics  # never a session id in a label
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")


async def test_unusable_search_input_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, seeded: tuple[str, list]
) -> None:
    """Issue 12 finding 5: `?q=%00` answered 500. Any unusable q, type, agent, cursor or time
    parameter is a 400 naming it (the store refuses the same bodies on both backends:
    services/store/tests/test_service.py)."""
    sid, _ = seeded
    cases: list[tuple[str, str, str]] = [
        ("/api/v1/sessions", "q=%00", "q"),
        ("/api/v1/sessions", "q=a%00b", "q"),
        ("/api/v1/sessions", "status=%00", "status"),
        ("/api/v1/sessions", "tool=%00", "tool"),
        ("/api/v1/sessions", "cursor=%00", "cursor"),
        ("/api/v1/sessions", "cursor=-5", "cursor"),
        ("/api/v1/sessions", "from_ts=abc", "from_ts"),
        ("/api/v1/sessions", "from_ts=nan", "from_ts"),
        ("/api/v1/sessions", "to_ts=1e999", "to_ts"),
        ("/api/v1/sessions", "from_ts=10&to_ts=5", "to_ts"),
        (f"/api/v1/sessions/{sid}/events", "q=%00", "q"),
        (f"/api/v1/sessions/{sid}/events", "agent=%00", "agent"),
        (f"/api/v1/sessions/{sid}/events", "type=tool_call,%00", "type"),
        (f"/api/v1/sessions/{sid}/events", "type=" + "t," * 3000, "type"),
        (f"/api/v1/sessions/{sid}/events", "span_id=%00", "span_id"),
        (f"/api/v1/sessions/{sid}/events", "cursor=%00", "cursor"),
        (f"/api/v1/sessions/{sid}/events", "cursor=1.5", "cursor"),
        (f"/api/v1/sessions/{sid}/events", "from_ts=-inf", "from_ts"),
        (f"/api/v1/sessions/{sid}/events", "from_ts=2&to_ts=1", "to_ts"),
        (f"/api/v1/sessions/{sid}/events", "after_seq=%00", "after_seq"),
        (f"/api/v1/sessions/{sid}/export", "type=%00", "type"),
        (f"/api/v1/sessions/{sid}/stream", "agent=%00", "agent"),
        ("/api/v1/stream", "type=%00", "type"),
        ("/api/v1/dlq", "reason=%00", "reason"),
        ("/api/v1/dlq", "cursor=%00", "cursor"),
    ]
    for path, query, parameter in cases:
        response = await client.get(f"{path}?{query}")
        assert_error(response, 400, "bad_request")
        message = response.json()["error"]["message"]
        assert message.startswith(f"{parameter}:") or message.startswith(f"{parameter} "), (query, message)
    # Text that is merely odd is searched, not refused.
    for query in ("q=%25_%5C", "q=%FF%FE", "q=%E2%80%AE"):
        assert (await client.get(f"/api/v1/sessions/{sid}/events?{query}")).status_code == 200, query
        assert (await client.get(f"/api/v1/sessions?{query}")).status_code == 200, query
