"""Issue 15's big session through the real services: 100k events, 10k tasks, 50k messages (every
250th 64 KiB), 5k memory keys. The state at 200 random seqs answers 200 with exactly the fold from
zero, every page of every collection joins back into the full state, the full state streams past
the NATS max payload, and a paged diff joins back into the whole diff.

One session, generated straight into TRACES as ingest would publish it (the test is about replay
and the gateway, not the pipeline), shared by every test of the module.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import orjson
import pytest

from swarmscope_dev.nats_server import MAX_PAYLOAD
from swarmscope_dev.replay import big_session, canonical, publish_to_traces, wait_for_durable
from swarmscope_dev.stack import LocalStack
from swarmscope_replay.chunked import collection_value
from swarmscope_replay.diff import diff_page
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.state_views import bounded_view
from swarmscope_schema.state import STATE_COLLECTIONS
from swarmscope_schema.subjects import DURABLE_REPLAY, DURABLE_STORE

SESSION = "issue15-big"
QUERIES = 200
FULL_AT = 3
PAGED_AT = 2

# Loading the session is most of the time: under load on a shared machine, several minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@dataclass
class Big:
    stack: LocalStack
    events: list[dict[str, Any]]
    seqs: list[int]
    # The fold from zero at every sampled seq (states share their unchanged parts).
    truth: dict[int, dict[str, Any]]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    stack = LocalStack(
        data_dir=tmp_path_factory.mktemp("big-session"),
        services=("store", "replay", "gateway"),
        env={"SWARMSCOPE_LOG_LEVEL": "WARNING", "SWARMSCOPE_MONITOR_ENABLED": "false"},
        ready_timeout=180,
    )
    with stack:
        events = asyncio.run(_load(stack))
        rng = random.Random(15)
        seqs = sorted(rng.sample([e["seq"] for e in events], QUERIES))
        truth: dict[int, dict[str, Any]] = {}
        state = initial_state(SESSION)
        position = 0
        for seq in seqs:
            upto = position
            while upto < len(events) and events[upto]["seq"] <= seq:
                upto += 1
            state = fold(state, events[position:upto])
            position = upto
            truth[seq] = state
        yield Big(stack, events, seqs, truth)


async def _load(stack: LocalStack) -> list[dict[str, Any]]:
    events = [canonical(e) for e in big_session(SESSION)]
    nc = await nats.connect(str(stack.nats_url))
    try:
        js = nc.jetstream()
        published = await publish_to_traces(js, events)
        last = published[-1]["seq"]
        await wait_for_durable(js, DURABLE_STORE, last, timeout=900)
        await wait_for_durable(js, DURABLE_REPLAY, last, timeout=900)
        return published
    finally:
        await nc.close()


def as_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def test_the_session_is_as_big_as_the_issue_says(big: Big) -> None:
    final = big.truth[big.seqs[-1]]
    assert len(big.events) == 100_000
    last = fold(final, [e for e in big.events if e["seq"] > big.seqs[-1]])
    assert len(last["tasks"]) == 10_000
    assert len(last["communications"]) == 50_000
    assert sum(1 for c in last["communications"] if len(c["content"]) >= 64 * 1024) == 200
    assert 4_500 <= len(last["memory"]) <= 5_000


def test_the_state_at_200_random_seqs_is_exactly_the_fold_from_zero(big: Big) -> None:
    with httpx.Client(base_url=big.stack.gateway_url, timeout=60) as client:
        for seq in big.seqs:
            response = client.get(f"/api/v1/sessions/{SESSION}/state", params={"seq": seq})
            assert response.status_code == 200, (seq, response.text[:300])
            assert response.json() == as_json(bounded_view(big.truth[seq], 100)), f"seq {seq}"


def test_every_page_of_every_collection_joins_back_into_the_state(big: Big) -> None:
    with httpx.Client(base_url=big.stack.gateway_url, timeout=60) as client:
        for seq in big.seqs[-PAGED_AT:]:
            state = as_json(big.truth[seq])
            for collection in STATE_COLLECTIONS.values():
                expected = collection_value(state, collection)
                items: list[dict[str, Any]] = []
                cursor: str | None = None
                while True:
                    params: dict[str, Any] = {"seq": seq, "limit": 5000}
                    if cursor is not None:
                        params["cursor"] = cursor
                    page = client.get(f"/api/v1/sessions/{SESSION}/state/{collection.name}", params=params)
                    assert page.status_code == 200, page.text[:300]
                    body = page.json()
                    assert body["count"] == len(expected or [])
                    items.extend(body["items"])
                    cursor = body["next_cursor"]
                    if cursor is None:
                        break
                if collection.kind == "map":
                    assert {i["key"]: i["value"] for i in items} == (expected or {}), collection.name
                    assert [i["key"] for i in items] == sorted(expected or {}), collection.name
                else:
                    assert [i["value"] for i in items] == (expected or []), collection.name
            # A filtered page is exactly the matching items.
            agent = "agent-07"
            page = client.get(
                f"/api/v1/sessions/{SESSION}/state/communications",
                params={"seq": seq, "agent": agent, "limit": 5000},
            ).json()
            mine = [c for c in state["communications"] if c["from"] == agent or agent in c["to"]][
                : len(page["items"])
            ]
            assert [i["value"] for i in page["items"]] == mine


def test_the_full_state_streams_whatever_its_size(big: Big) -> None:
    with httpx.Client(base_url=big.stack.gateway_url, timeout=120) as client:
        for seq in big.seqs[-FULL_AT:]:
            with client.stream(
                "GET", f"/api/v1/sessions/{SESSION}/state", params={"seq": seq, "full": 1}
            ) as r:
                assert r.status_code == 200
                body = b"".join(r.iter_bytes())
            assert len(body) > MAX_PAYLOAD  # more than one NATS message could ever carry
            assert orjson.loads(body) == as_json(big.truth[seq])


def test_a_paged_diff_joins_back_into_the_whole_diff(big: Big) -> None:
    before_seq, after_seq = big.seqs[100], big.seqs[104]
    whole, more = diff_page(big.truth[before_seq], big.truth[after_seq], skip=0, limit=10**9)
    assert not more
    assert len(whole) > 50
    changes: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=big.stack.gateway_url, timeout=60) as client:
        while True:
            params: dict[str, Any] = {"from_seq": before_seq, "to_seq": after_seq, "limit": 37}
            if cursor is not None:
                params["cursor"] = cursor
            page = client.get(f"/api/v1/sessions/{SESSION}/diff", params=params).json()
            changes.extend(page["changes"])
            cursor = page["next_cursor"]
            assert page["truncated"] is (cursor is not None)
            if cursor is None:
                break
    assert changes == as_json(whole)
