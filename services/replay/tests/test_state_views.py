"""The answers of a state (v1.1): the bounded view, pages of every collection, the whole state in
pieces, and the paged diff; each checked against the plain fold it comes from."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from swarmscope_dev.replay import stored, synthetic_session
from swarmscope_replay.chunked import collection_value
from swarmscope_replay.diff import diff_page
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.state_views import bounded_view, collection_page, whole_state_pieces
from swarmscope_schema.api import StatePage, SystemState
from swarmscope_schema.requests import StatePageQuery
from swarmscope_schema.state import STATE_COLLECTIONS
from swarmscope_service.request_reply import ServiceError


@pytest.fixture(scope="module")
def states() -> tuple[dict[str, Any], dict[str, Any]]:
    events = stored(synthetic_session("views", 4000, seed=3))
    extra = [
        {**events[i], "id": f"d{i}", "type": "decision", "data": {"kind": "route" if i % 2 else "plan"}}
        for i in range(10, 3000, 13)
    ]
    log = sorted([*events, *extra], key=lambda e: (e["seq"], e["id"]))
    log = [{**e, "seq": i + 1} for i, e in enumerate(log)]
    middle = fold(initial_state("views"), log[: len(log) // 2])
    return middle, fold(middle, log[len(log) // 2 :])


def query(collection: str, **fields: Any) -> StatePageQuery:
    return StatePageQuery(session_id="views", seq=1, collection=collection, **fields)  # type: ignore[arg-type]


def all_pages(state: dict[str, Any], collection: str, **fields: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = collection_page(state, query(collection, cursor=cursor, **fields))
        StatePage.model_validate(orjson.loads(orjson.dumps(page)))
        items.extend(page["items"])
        pages += 1
        assert pages < 10_000
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def in_order(state: dict[str, Any], collection: str) -> list[tuple[Any, Any]]:
    value = collection_value(state, STATE_COLLECTIONS[collection]) or []
    if isinstance(value, dict):
        return sorted(value.items())
    return list(enumerate(value))


def test_a_small_state_is_its_whole_self_plus_view(states: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, state = states
    view = bounded_view(state, 1_000_000)
    assert {k: v for k, v in view.items() if k != "view"} == state
    SystemState.model_validate(view)
    assert all(c["count"] == c["included"] for c in view["view"]["collections"].values())


def test_the_bounded_view_carries_counts_and_the_newest_items(
    states: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, state = states
    limit = 25
    view = bounded_view(state, limit)
    SystemState.model_validate(view)
    described = view["view"]["collections"]
    assert set(described) >= {"tasks", "memory", "communications", "agents", "decisions", "open_spans"}
    for name, meta in described.items():
        collection = STATE_COLLECTIONS[name]
        full = collection_value(state, collection)
        carried = collection_value(view, collection)
        assert meta["count"] == len(full)
        assert meta["included"] == len(carried) == min(limit, len(full))
        if collection.kind == "list":
            assert carried == full[len(full) - len(carried) :]
            assert meta["offset"] == len(full) - len(carried)
        else:

            def recency(
                item: tuple[str, Any], fields: tuple[str, ...] = collection.recency
            ) -> tuple[int, str]:
                return max([item[1].get(f) or 0 for f in fields] or [0]), item[0]

            newest = sorted(full.items(), key=recency, reverse=True)[:limit]
            assert carried == dict(newest)
    # Everything else of the state is there as it is.
    assert view["counters"] == state["counters"]
    assert {k: v for k, v in view["session"].items() if k not in ("decisions", "errors")} == {
        k: v for k, v in state["session"].items() if k not in ("decisions", "errors")
    }
    assert len(orjson.dumps(view)) < len(orjson.dumps(state)) / 4


@pytest.mark.parametrize("collection", sorted(STATE_COLLECTIONS))
def test_pages_join_back_into_the_collection_both_ways(
    states: tuple[dict[str, Any], dict[str, Any]], collection: str
) -> None:
    for state in states:
        expected = in_order(state, collection)
        forward = all_pages(state, collection, limit=37)
        assert [(i["key"], i["value"]) for i in forward] == expected
        backward = all_pages(state, collection, limit=41, order="desc")
        assert [(i["key"], i["value"]) for i in backward] == expected[::-1]


def test_a_cursor_is_a_position_for_random_access(states: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, state = states
    expected = in_order(state, "communications")
    page = collection_page(state, query("communications", cursor="100", limit=20))
    assert [(i["key"], i["value"]) for i in page["items"]] == expected[100:120]
    assert page["next_cursor"] == "120"
    assert page["count"] == len(expected)
    tasks = in_order(state, "tasks")
    page = collection_page(state, query("tasks", cursor=str(len(tasks) - 3), limit=20))
    assert [i["key"] for i in page["items"]] == [k for k, _ in tasks[-3:]]
    assert page["next_cursor"] is None
    beyond = collection_page(state, query("tasks", cursor="999999"))
    assert (beyond["items"], beyond["next_cursor"]) == ([], None)
    with pytest.raises(ServiceError):
        collection_page(state, query("tasks", cursor="-1"))


def test_filters_keep_exactly_what_matches(states: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, state = states
    agent = "coder-0"
    cases: list[tuple[str, dict[str, Any], Any]] = [
        (
            "communications",
            {"agent": agent},
            lambda k, v: v["from"] == agent or agent in v["to"] or agent in (v.get("delivered_to") or []),
        ),
        ("tasks", {"agent": "tester-1"}, lambda k, v: "tester-1" in (v.get("agent_id"), v.get("created_by"))),
        ("tasks", {"status": "completed"}, lambda k, v: v["status"] == "completed"),
        ("tasks", {"prefix": "T1"}, lambda k, v: k.startswith("T1")),
        ("memory", {"prefix": "swarm/k1"}, lambda k, v: k.startswith("swarm/k1")),
        ("decisions", {"kind": "plan"}, lambda k, v: v["kind"] == "plan"),
        ("communications", {"q": "NOTE 12"}, lambda k, v: "note 12" in orjson.dumps([k, v]).decode().lower()),
        (
            "tasks",
            {"status": "completed", "agent": "coder-0"},
            lambda k, v: v["status"] == "completed" and "coder-0" in (v.get("agent_id"), v.get("created_by")),
        ),
    ]
    for collection, fields, test in cases:
        expected = [(k, v) for k, v in in_order(state, collection) if test(k, v)]
        assert expected, (collection, fields)
        got = all_pages(state, collection, limit=7, **fields)
        assert [(i["key"], i["value"]) for i in got] == expected, (collection, fields)
    with pytest.raises(ServiceError):
        collection_page(state, query("communications", prefix="x"))
    with pytest.raises(ServiceError):
        collection_page(state, query("memory", status="done"))


def test_the_whole_state_in_pieces_is_the_whole_state(states: tuple[dict[str, Any], dict[str, Any]]) -> None:
    async def join(state: dict[str, Any]) -> tuple[int, bytes]:
        pieces = [piece async for piece in whole_state_pieces(state)]
        return len(pieces), b"".join(pieces)

    _, state = states
    big = fold(
        state,
        [
            {
                "id": f"big{i}",
                "seq": 10**6 + i,
                "session_id": "views",
                "type": "memory_write",
                "agent_id": "coder-0",
                "timestamp": 1.0,
                "data": {"key": f"blob{i}", "value": "v" * 50_000},
            }
            for i in range(40)
        ],
    )
    for case in (initial_state("views"), state, big):
        _, body = asyncio.run(join(case))
        assert orjson.loads(body) == case
    assert asyncio.run(join(big))[0] > 4


def test_diff_pages_join_into_the_whole_diff(states: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = states
    whole, more = diff_page(before, after, skip=0, limit=10**9)
    assert not more
    assert len(whole) > 300
    joined: list[dict[str, Any]] = []
    skip = 0
    while True:
        page, more = diff_page(before, after, skip=skip, limit=111)
        joined.extend(page)
        skip += len(page)
        if not more:
            break
    assert joined == whole
    inside, _ = diff_page(before, after, skip=0, limit=10**9, under=("session", "decisions"))
    assert inside == [c for c in whole if c["path"][:2] == ["session", "decisions"]]
    assert inside
    assert diff_page(before, before, skip=0, limit=10) == ([], False)
