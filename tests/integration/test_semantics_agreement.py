"""One meaning per event (issue 19 item 1): the store and replay agree at every event.

The same sessions — the Claude-Flow demo story (swarmscope_dev.story: the retried ending and the
failed one), a synthetic load session and the fixture that exercises every row of
swarmscope_schema.semantics — go through the store (a real database, each event its own batch, and
again in batches) and through the replay reducer. After every event the
sessions list (store summaries), the agent summaries and the replay state must say the same thing:
the session status, every agent's status and current task; and the replay state's task statuses
must be the table's (semantics.status_steps, the reference the frontend is checked against too).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from swarmscope_dev.replay import stored, synthetic_session
from swarmscope_dev.story import story_session
from swarmscope_replay.reducer import State, initial_state, reduce_event
from swarmscope_schema.contract_files import SEMANTICS_FIXTURE
from swarmscope_schema.requests import SessionRef, SessionsQuery
from swarmscope_schema.semantics import status_steps
from swarmscope_schema.subjects import event_subject
from swarmscope_service.consumer import Delivery
from swarmscope_store.backend import StoreBackend
from swarmscope_store.database import open_backend
from swarmscope_store.queries import StoreQueries
from swarmscope_store.records import EventRecord, decode_event
from swarmscope_store.writer import write_events

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "docs" / "contract"
BUDGET = 8 * 1024 * 1024

Statuses = dict[str, Any]


def fixture_session() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((CONTRACT_DIR / SEMANTICS_FIXTURE).read_text())["events"]
    return events


SESSIONS = {
    "semantics-cases": fixture_session,
    "story": lambda: story_session("story"),
    "story-failing": lambda: story_session("story-failing", failing=True),
    "syn": lambda: synthetic_session("syn", 240, seed=19),
}


def record(event: dict[str, Any]) -> EventRecord:
    """The record the store makes of a stored event (as TRACES delivers it, at its seq)."""
    body = {k: v for k, v in event.items() if k != "seq"}
    delivery = Delivery(
        subject=event_subject(body["session_id"], body.get("agent_id"), body["type"]),
        data=orjson.dumps(body),
        headers={},
        stream_seq=int(event["seq"]),
        num_delivered=1,
    )
    return decode_event(delivery, 168.0)


def replay_view(state: State) -> Statuses:
    return {
        "session": state["session"].get("status"),
        "agents": {
            agent_id: {"status": a["status"], "current_task": a["current_task"]}
            for agent_id, a in sorted(state["agents"].items())
        },
    }


async def store_view(queries: StoreQueries, session_id: str) -> Statuses:
    listed = await queries.sessions(SessionsQuery(limit=500))
    [summary] = [s for s in listed["items"] if s["id"] == session_id]
    agents = await queries.agents(SessionRef(session_id=session_id))
    return {
        "session": summary["status"],
        "agents": {
            a["agent_id"]: {"status": a["status"], "current_task": a["current_task"]}
            for a in sorted(agents, key=lambda a: a["agent_id"])
        },
    }


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend (a fresh Postgres database per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[StoreBackend]:
    backend = await open_backend(store_url, pool_size=2)
    try:
        await backend.migrate()
        yield backend
    finally:
        await backend.close()


async def run_and_compare(store: StoreBackend, events: Sequence[dict[str, Any]], batch: int) -> int:
    """Stores the events `batch` at a time; after every batch compares store, replay and table.
    Returns how many points were compared."""
    queries = StoreQueries(store, lambda: BUDGET)
    session_id = str(events[0]["session_id"])
    reference = status_steps(events)
    state = initial_state(session_id)
    compared = 0
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        for event in chunk:
            state = reduce_event(state, event)
        await write_events(store, [record(e) for e in chunk])
        where = f"after seq {chunk[-1]['seq']} ({chunk[-1]['type']})"
        expected = reference[start + len(chunk) - 1]
        replayed = replay_view(state)
        assert replayed == {"session": expected["session"], "agents": expected["agents"]}, f"replay {where}"
        assert await store_view(queries, session_id) == replayed, f"store vs replay {where}"
        tasks = {task_id: t["status"] for task_id, t in sorted(state["tasks"].items())}
        assert tasks == expected["tasks"], f"replay tasks {where}"
        compared += 1
    return compared


@pytest.mark.parametrize("name", list(SESSIONS))
async def test_store_and_replay_agree_at_every_event(store: StoreBackend, name: str) -> None:
    events = stored(SESSIONS[name]())
    assert await run_and_compare(store, events, batch=1) == len(events)


async def test_store_and_replay_agree_when_the_store_writes_in_batches(store: StoreBackend) -> None:
    # The store plans a batch at once (statuses merged by seq inside it and across batches).
    # Stream seqs are global, so the second session's start after the first's.
    for name, start in (("semantics-cases", 1), ("story", 1000)):
        events = stored(SESSIONS[name](), start=start)
        assert await run_and_compare(store, events, batch=7) == -(-len(events) // 7)


def test_the_fixture_exercises_every_effect_of_the_table() -> None:
    # A row of the table no story exercises would be unchecked by the agreement above.
    from swarmscope_schema.semantics import AGENT_EFFECTS, SESSION_EFFECTS, TASK_EFFECTS

    types = {e["type"] for e in fixture_session()}
    assert set(AGENT_EFFECTS) | set(TASK_EFFECTS) | set(SESSION_EFFECTS) <= types
    steps = status_steps(stored(fixture_session()))
    # The old disagreement: after w2's agent_terminate (busy with task 2) it has no current task.
    terminate = next(i for i, e in enumerate(fixture_session()) if e["type"] == "agent_terminate")
    assert steps[terminate - 1]["agents"]["w2"] == {"status": "busy", "current_task": "2"}
    assert steps[terminate]["agents"]["w2"] == {"status": "terminated", "current_task": None}
