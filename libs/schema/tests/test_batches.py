"""Batch messages (v1.1): split by size without cutting an event, read back member by member, each
member validated as a single event would be."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope_schema.batches import (
    MAX_BATCH_BYTES,
    BatchTooLarge,
    array_body,
    batch_members,
    batch_runs,
    raw_messages,
)
from swarmscope_schema.codec import MAX_EVENT_BYTES, DecodeError
from swarmscope_schema.subjects import (
    DlqReason,
    is_batch_subject,
    raw_batch_msg_id,
    raw_batch_subject,
    raw_msg_id,
    raw_subject,
)
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event
from swarmscope_schema.validation import Rejected, validate_batch


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=400), max_size=200),
    limit=st.integers(min_value=402, max_value=3000),
    max_members=st.integers(min_value=1, max_value=50),
)
def test_runs_cover_every_event_in_order_and_each_body_fits(
    sizes: list[int], limit: int, max_members: int
) -> None:
    runs = batch_runs(sizes, limit=limit, max_members=max_members)
    assert [i for start, end in runs for i in range(start, end)] == list(range(len(sizes)))
    for start, end in runs:
        assert 0 < end - start <= max_members
        body = array_body([b"x" * size for size in sizes[start:end]])
        assert len(body) <= limit
    # Greedy: a run only ends where the next event would not have fitted.
    for (start, end), _ in itertools.pairwise(runs):
        grown = len(array_body([b"x" * size for size in sizes[start : end + 1]]))
        assert grown > limit or end + 1 - start > max_members


def test_an_event_that_cannot_fit_alone_is_refused_never_cut() -> None:
    with pytest.raises(BatchTooLarge, match="event 2 of the batch is 1999 bytes") as info:
        batch_runs([10, 10, 1999, 10], limit=2000)
    assert info.value.index == 2
    # Any event within the 1 MiB event limit fits a batch of its own.
    assert batch_runs([MAX_EVENT_BYTES]) == [(0, 1)]


def test_members_of_an_array_and_of_ndjson() -> None:
    events = [make_event(), make_event()]
    array = batch_members(array_body([orjson.dumps(e) for e in events]))
    assert [m.value for m in array] == events
    assert [m.index for m in array] == [0, 1]
    assert orjson.loads(array[1].payload()) == events[1]
    lines = batch_members(orjson.dumps(events[0]) + b"\n\n" + b"{broken\n" + orjson.dumps(events[1]))
    assert [m.index for m in lines] == [0, 1, 2]
    assert lines[1].error is not None
    assert lines[1].error.reason == "invalid_json"
    assert lines[1].payload() == b"{broken"
    assert lines[2].value == events[1]
    bad_utf8 = batch_members(b'{"id": "\xff"}')
    assert bad_utf8[0].error is not None
    assert bad_utf8[0].error.reason == "invalid_utf8"


def test_an_array_that_is_not_json_cannot_be_read_at_all() -> None:
    with pytest.raises(DecodeError) as info:
        batch_members(b'[{"id": "a"}, {"id"')
    assert info.value.reason == "invalid_json"


def test_the_batch_subject_is_no_event_subject() -> None:
    assert is_batch_subject(raw_batch_subject("s1", None))
    assert is_batch_subject(raw_batch_subject("s1", "a1"))
    assert not is_batch_subject(raw_subject("s1", "a1", "tool_call"))
    assert not is_batch_subject("traces.events.s1.a1.batch")
    assert all(not is_batch_subject(raw_subject("s", None, t)) for t in EventType)


def _reason(result: object) -> DlqReason | None:
    return result.reason if isinstance(result, Rejected) else None


def test_each_member_passes_the_checks_of_a_single_event() -> None:
    good = make_event(EventType.TOOL_CALL, session_id="s1", agent_id="a1")
    other_agent = make_event(EventType.TOOL_CALL, session_id="s1", agent_id="a2")
    other_session = make_event(EventType.TOOL_CALL, session_id="s2", agent_id="a1")
    no_id = {k: v for k, v in make_event(session_id="s1", agent_id="a1").items() if k != "id"}
    body = array_body([orjson.dumps(e) for e in (good, other_agent, other_session, no_id)] + [b"7"])
    # `_`: any agent of the session.
    mixed = validate_batch(body, raw_batch_subject("s1", None))
    assert not isinstance(mixed, Rejected)
    assert [_reason(r) for _, r in mixed] == [
        None,
        None,
        DlqReason.INVALID_SUBJECT,
        DlqReason.SCHEMA_VIOLATION,
        DlqReason.SCHEMA_VIOLATION,
    ]
    assert mixed[0][1] == {**mixed[0][1], "id": good["id"], "phase": "complete"}
    # An agent in the subject: every member must be that agent's.
    one_agent = validate_batch(body, raw_batch_subject("s1", "a1"))
    assert not isinstance(one_agent, Rejected)
    assert _reason(one_agent[1][1]) is DlqReason.INVALID_SUBJECT


def test_a_member_over_the_event_limit_is_too_large_alone() -> None:
    small = make_event(session_id="s1")
    big = make_event(
        EventType.CONTEXT_UPDATE, session_id="s1", data={"key": "k", "value": "v" * MAX_EVENT_BYTES}
    )
    result = validate_batch(
        array_body([orjson.dumps(small), orjson.dumps(big)]), raw_batch_subject("s1", None)
    )
    assert not isinstance(result, Rejected)
    assert [_reason(r) for _, r in result] == [None, DlqReason.TOO_LARGE]


def test_a_whole_batch_is_rejected_when_no_member_can_be_told_apart() -> None:
    subject = raw_batch_subject("s1", None)
    assert _reason(validate_batch(b"[1,", subject)) is DlqReason.INVALID_JSON
    assert _reason(validate_batch(b"[]", subject)) is DlqReason.SCHEMA_VIOLATION
    assert _reason(validate_batch(b"\n\n", subject)) is DlqReason.SCHEMA_VIOLATION
    assert _reason(validate_batch(b"x" * (MAX_BATCH_BYTES + 1), subject)) is DlqReason.TOO_LARGE
    assert _reason(validate_batch(b"[]", "traces.events.s1._.batch")) is DlqReason.INVALID_SUBJECT


@dataclass(frozen=True)
class _Item:
    session_id: str
    agent_id: str | None
    event_id: str
    payload: bytes

    @property
    def subject(self) -> str:
        return raw_subject(self.session_id, self.agent_id, "tool_call")


def _item(session: str, event_id: str, agent: str | None = "a1", pad: int = 0) -> _Item:
    return _Item(session, agent, event_id, orjson.dumps({"id": event_id, "pad": "x" * pad}))


def test_the_raw_message_plan_groups_by_session_and_keys_each_message() -> None:
    items = [_item("s1", "e1"), _item("s2", "e9"), _item("s1", "e2", agent="a2")]
    batch, single = raw_messages(items)
    assert (batch.subject, batch.msg_id, batch.members) == (
        raw_batch_subject("s1", None),
        raw_batch_msg_id("s1", "e1", 2),
        [0, 2],
    )
    assert [m.value["id"] for m in batch_members(batch.payload)] == ["e1", "e2"]
    assert (single.subject, single.msg_id, single.members) == (
        raw_subject("s2", "a1", "tool_call"),
        raw_msg_id("s2", "e9"),
        [1],
    )
    assert single.payload == items[1].payload


def test_without_batches_every_event_is_a_message_of_its_own() -> None:
    items = [_item("s1", "e1"), _item("s1", "e2")]
    plan = raw_messages(items, batches=False)
    assert [(m.msg_id, m.members) for m in plan] == [
        (raw_msg_id("s1", "e1"), [0]),
        (raw_msg_id("s1", "e2"), [1]),
    ]


def test_an_oversized_event_raises_or_sends_its_session_one_by_one() -> None:
    items = [_item("s1", "small"), _item("s1", "huge", pad=3000), _item("s2", "a"), _item("s2", "b")]
    with pytest.raises(BatchTooLarge, match="event 1 of the batch"):
        raw_messages(items, max_bytes=2000)
    plan = raw_messages(items, max_bytes=2000, oversize="alone")
    assert [m.members for m in plan] == [[0], [1], [2, 3]]
    assert plan[1].msg_id == raw_msg_id("s1", "huge")
