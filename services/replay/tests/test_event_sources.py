"""The EventSource contract, run against the in-memory fake and the real store (over NATS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest

from swarmscope_dev.replay import (
    MemoryEventSource,
    publish_to_traces,
    stored,
    synthetic_session,
    wait_for_durable,
)
from swarmscope_dev.stack import LocalStack
from swarmscope_dev.story import find, story_session
from swarmscope_replay.event_source import EventSource, events_between, iter_pages
from swarmscope_replay.store_source import StoreEventSource
from swarmscope_schema.subjects import DURABLE_STORE
from swarmscope_service.request_reply import RequestClient

KEYS = ("id", "seq", "session_id", "agent_id", "type", "phase", "span_id", "data", "timestamp")


def view(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: e.get(k) for k in KEYS} for e in events]


@dataclass
class Loaded:
    source: EventSource
    a: list[dict[str, Any]]
    b: list[dict[str, Any]]


@pytest.fixture(params=["memory", "store"])
def stack_or_none(request: pytest.FixtureRequest) -> LocalStack | None:
    return request.getfixturevalue("store_stack") if request.param == "store" else None


@pytest.fixture
async def loaded(stack_or_none: LocalStack | None, session_prefix: str) -> AsyncIterator[Loaded]:
    a = stored(story_session(f"{session_prefix}-a"))
    b = stored(synthetic_session(f"{session_prefix}-b", 160, seed=2))  # longer than a: both whole
    merged = [e for pair in zip(a, b[: len(a)], strict=False) for e in pair] + b[len(a) :]
    sid_a = a[0]["session_id"]
    if stack_or_none is None:
        events = [{**e, "seq": i + 1} for i, e in enumerate(merged)]
        yield Loaded(
            MemoryEventSource(events),
            [e for e in events if e["session_id"] == sid_a],
            [e for e in events if e["session_id"] != sid_a],
        )
        return
    nc = await nats.connect(str(stack_or_none.nats_url))
    try:
        js = nc.jetstream()
        events = await publish_to_traces(js, merged)
        await wait_for_durable(js, DURABLE_STORE, max(e["seq"] for e in events))
        yield Loaded(
            StoreEventSource(RequestClient(nc)),
            [e for e in events if e["session_id"] == sid_a],
            [e for e in events if e["session_id"] != sid_a],
        )
    finally:
        await nc.close()


async def test_event_seqs_says_where_each_id_is_held(loaded: Loaded) -> None:
    source, a, b = loaded.source, loaded.a, loaded.b
    sid_a, sid_b = a[0]["session_id"], b[0]["session_id"]
    held = await source.event_seqs(
        {sid_a: [a[0]["id"], a[5]["id"], "no-such-id"], sid_b: [b[1]["id"]], "no-such-session": ["x"]}
    )
    assert held == {
        sid_a: {a[0]["id"]: a[0]["seq"], a[5]["id"]: a[5]["seq"]},
        sid_b: {b[1]["id"]: b[1]["seq"]},
    }


async def test_events_in_seq_order_with_bounds_limits_and_order(loaded: Loaded) -> None:
    source, a = loaded.source, loaded.a
    sid = a[0]["session_id"]
    assert view(await source.events(sid)) == view(a)
    assert view(await source.events(sid, limit=5)) == view(a[:5])
    lo, hi = a[3]["seq"], a[20]["seq"]
    assert view(await source.events(sid, after_seq=lo, until_seq=hi)) == view(a[4:21])
    assert view(await source.events(sid, until_seq=hi, order="desc", limit=3)) == view(a[18:21][::-1])
    assert await source.events(sid, after_seq=hi, until_seq=lo) == []
    assert await source.events(sid, after_seq=a[-1]["seq"]) == []
    assert await source.events("no-such-session") == []


async def test_filters_by_span_and_timestamp(loaded: Loaded) -> None:
    source, a = loaded.source, loaded.a
    sid = a[0]["session_id"]
    span = [e for e in a if e["span_id"] == "sp_T1_a1"]
    assert [e["type"] for e in span] == ["task_start", "task_progress", "task_complete"]  # T1's span
    assert view(await source.events(sid, span_id="sp_T1_a1")) == view(span)
    cut = a[10]["timestamp"]
    latest = await source.events(sid, to_ts=cut, order="desc", limit=1)
    assert view(latest) == view([a[10]])


async def test_paging_returns_every_event_once(loaded: Loaded) -> None:
    source, b = loaded.source, loaded.b
    sid = b[0]["session_id"]
    pages = [page async for page in iter_pages(source, sid, page_size=17)]
    assert all(len(p) == 17 for p in pages[:-1])
    assert view([e for p in pages for e in p]) == view(b)
    assert view(await events_between(source, sid, b[9]["seq"], b[99]["seq"])) == view(b[10:100])


async def test_event_by_id_bounds_and_coverage(loaded: Loaded) -> None:
    source, a = loaded.source, loaded.a
    sid = a[0]["session_id"]
    failed_run = find(a, "tool_call", phase="error")  # T3's first test run
    found = await source.event(sid, failed_run["id"])
    assert found is not None
    assert view([found]) == view([failed_run])
    assert await source.event(sid, "nope") is None
    assert await source.event("no-such-session", failed_run["id"]) is None
    assert await source.session_bounds(sid) == (len(a), a[-1]["seq"])
    assert await source.session_bounds("no-such-session") is None
    last = max(loaded.a[-1]["seq"], loaded.b[-1]["seq"])
    assert await source.covers(last)
    assert not await source.covers(last + 10_000)
