"""The fast path agrees with pydantic wherever it answers, and answers for canonical events."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from swarmscope_schema.events import TraceEvent, canonical_event_dict
from swarmscope_schema.fastpath import fast_canonical
from swarmscope_schema.taxonomy import PAYLOAD_MODELS, EventType
from swarmscope_schema.testing import make_event, sample_payload

TYPES = [*(str(t) for t in EventType), "custom.deploy", "agent:spawned", "task.retried", "nonsense"]


def _pydantic(raw: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return canonical_event_dict(TraceEvent.model_validate(copy.deepcopy(raw)))
    except ValidationError:
        return None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # Compare the JSON bytes, not the dicts: 1 == 1.0 == True in Python, not on the wire.
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize("event_type", [*list(EventType), "custom.deploy"])
def test_canonical_events_take_the_fast_path(event_type: str) -> None:
    raw = make_event(
        event_type,
        span_id="sp-1",
        phase="start",
        agent_seq=3,
        metadata={"parent_id": "sp-0", "tags": ["a"], "priority": "high", "retention": 2, "team": "x"},
        performance={"duration": 12, "token_count": 5, "cost_usd": 0.1, "gpu": "h100"},
    )
    fast = fast_canonical(copy.deepcopy(raw))
    assert fast is not None
    expected = _pydantic(raw)
    assert expected is not None
    assert _same(fast, expected)


@pytest.mark.parametrize(
    "raw",
    [
        {**make_event(), "sessionId": "s"},  # camelCase: renamed by the model
        {**make_event(), "extra": 1},  # extra top-level keys
        make_event("agent:spawned", data={"agentType": "c"}),  # an alias
        make_event(EventType.TASK_START, data={"task_id": 7}),  # an int id the model turns to text
        make_event(EventType.TASK_PROGRESS, data={"task_id": "T", "progress": "0.5"}),  # coercion
        make_event(metadata={"parentId": "p"}),
        make_event(performance={"tokenCount": 3}),
        make_event(EventType.AGENT_STATUS, data={"status": "idle", "from_": "busy"}),
        # a nested model's field under its Python name (`from_` for `from`), taken by pydantic
        make_event(
            EventType.COMMUNICATION,
            data={
                "message": {"id": "m", "from": "a", "from_": "b", "to": ["c"], "type": "t", "content": "x"}
            },
        ),
        make_event(EventType.TOOL_CALL, agent_id=None, data={"tool": "x", "agentId": "a"}),
        make_event(timestamp=True),
        make_event(metadata=None),
    ],
)
def test_anything_unusual_is_left_to_pydantic(raw: dict[str, Any]) -> None:
    assert fast_canonical(raw) is None


_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=5),
    st.sampled_from(["", "x" * 600, "a b", "ok-id", "T1", "1", "received", "sent", "high", "start"]),
    st.lists(st.one_of(st.text(max_size=3), st.integers(0, 9), st.none()), max_size=3),
    st.dictionaries(
        st.sampled_from(["id", "from", "to", "k", "from_"]),
        st.one_of(st.text(max_size=3), st.lists(st.text(max_size=2), max_size=2)),
        max_size=4,
    ),
)
_extra_key = st.sampled_from(["note", "from_", "agentId", "parentId", "Upper", "tokenCount", "x"])
_text = st.text(alphabet="abc-_1", min_size=1, max_size=5)
_number = st.one_of(st.integers(1, 10**6), st.floats(0.001, 1e6))
_GOOD: dict[str, Any] = {
    **dict.fromkeys(
        [
            "agent_seq",
            "attempt",
            "max_retries",
            "exit_code",
            "version",
            "version_read",
            "token_count",
            "input_tokens",
            "output_tokens",
        ],
        st.integers(0, 1000),
    ),
    **dict.fromkeys(
        [
            "timestamp",
            "received_at",
            "duration",
            "cpu_time",
            "memory_usage",
            "cost_usd",
            "retention",
            "progress",
            "confidence",
            "value",
            "threshold",
        ],
        _number,
    ),
    **dict.fromkeys(["will_retry", "hit", "recoverable"], st.booleans()),
    **dict.fromkeys(["tags", "capabilities", "dependencies", "to"], st.lists(_text, max_size=3)),
    "priority": st.sampled_from(["low", "normal", "high", "critical"]),
    "phase": st.sampled_from(["start", "progress", "complete", "error"]),
    "direction": st.sampled_from(["sent", "received"]),
    "message": st.fixed_dictionaries(
        {"id": _text, "from": _text, "to": st.lists(_text, max_size=2)},
        optional={"type": _text, "content": _value, "in_reply_to": st.one_of(st.none(), _text), "x": _value},
    ),
}


@st.composite
def _field(draw: st.DrawFn, name: str) -> Any:
    """Mostly a value of the field's own type (the fast path's ground), sometimes anything."""
    if draw(st.integers(0, 3)) == 0:
        return draw(_value)
    return draw(_GOOD.get(name, st.one_of(_text, st.none())))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(TYPES))
    raw = make_event(event_type if event_type in PAYLOAD_MODELS else "tool_call")
    raw["type"] = event_type
    data = raw["data"] if event_type in PAYLOAD_MODELS else sample_payload(EventType.TOOL_CALL)
    model = PAYLOAD_MODELS.get(event_type)
    names = [f.alias or n for n, f in model.model_fields.items()] if model else ["tool", "args"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        if draw(st.integers(0, 4)):
            data[name] = draw(_field(name))
        else:
            data.pop(name, None)
    if draw(st.integers(0, 3)) == 0:
        data[draw(_extra_key)] = draw(_value)
    raw["data"] = draw(st.sampled_from([data, data, data, data, data, None, [1]]))
    envelope = ["id", "timestamp", "session_id", "agent_id", "phase", "span_id", "agent_seq", "received_at"]
    for name in draw(st.lists(st.sampled_from(envelope), max_size=2)):
        if draw(st.integers(0, 3)):
            raw[name] = draw(_field(name))
        else:
            raw.pop(name, None)
    meta_keys = [
        "parent_id",
        "causation_id",
        "correlation_id",
        "tags",
        "priority",
        "retention",
        "parentId",
        "team",
    ]
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(meta_keys), max_size=4, unique=True))
        raw["metadata"] = {k: draw(_field(k)) for k in keys}
    perf_keys = [
        "duration",
        "memory_usage",
        "cpu_time",
        "token_count",
        "input_tokens",
        "cost_usd",
        "cpuTime",
        "gpu",
    ]
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(perf_keys), max_size=4, unique=True))
        raw["performance"] = draw(st.sampled_from([None, {k: draw(_field(k)) for k in keys}]))
    if draw(st.integers(0, 9)) == 0:
        raw[draw(_extra_key)] = draw(_value)
    return raw


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=events())
def test_the_fast_path_agrees_with_pydantic(raw: dict[str, Any]) -> None:
    fast = fast_canonical(copy.deepcopy(raw))
    if fast is None:
        return
    expected = _pydantic(raw)
    assert expected is not None, "the fast path accepted an event pydantic rejects"
    assert _same(fast, expected)


def test_the_fast_path_does_not_mutate_its_input() -> None:
    raw = make_event(EventType.COMMUNICATION)
    before = copy.deepcopy(raw)
    fast = fast_canonical(raw)
    assert fast is not None
    assert raw == before
