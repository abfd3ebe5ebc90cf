"""NATS subjects build and parse back (property-based), and unsafe types are made safe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope_schema.subjects import (
    DlqReason,
    canonical_msg_id,
    dlq_subject,
    event_subject,
    parse_event_subject,
    raw_subject,
    subject_token,
)

names = st.from_regex(r"\A[A-Za-z0-9_\-]{1,128}\Z")
types = st.one_of(
    st.sampled_from(
        ["task_start", "agent:spawned", "task.retried", "custom.deploy.v2", "agent:status-changed"]
    ),
    st.from_regex(r"\Acustom\.[A-Za-z0-9_.:\-]{1,40}\Z"),
)


@given(session=names, agent=st.one_of(st.none(), names.filter(lambda a: a != "_")), event_type=types)
def test_raw_and_event_subjects_round_trip(session: str, agent: str | None, event_type: str) -> None:
    for build, prefix in ((raw_subject, "traces.raw"), (event_subject, "traces.events")):
        subject = build(session, agent, event_type)
        parts = parse_event_subject(subject)
        assert parts.prefix == prefix
        assert parts.session_id == session
        assert parts.agent_id == agent
        assert parts.type_token == subject_token(event_type)
        assert "*" not in subject
        assert ">" not in subject
        assert " " not in subject


def test_unsafe_type_tokens_are_made_safe() -> None:
    assert raw_subject("s1", "a1", "agent:spawned") == "traces.raw.s1.a1.agent_spawned"
    assert raw_subject("s1", None, "custom.deploy") == "traces.raw.s1._.custom_deploy"
    assert event_subject("s1", "a1", "task_start") == "traces.events.s1.a1.task_start"


@pytest.mark.parametrize(
    "subject",
    [
        "traces.raw.s1.a1",
        "traces.raw.s1.a1.t.extra",
        "other.s1.a1.t",
        "traces.raw.s1.a*.t",
        "traces.raw..a.t",
    ],
)
def test_malformed_subjects_are_rejected_with_a_reason(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        parse_event_subject(subject)


def test_dlq_subjects_and_msg_ids() -> None:
    assert dlq_subject(DlqReason.TOO_LARGE) == "traces.dlq.too_large"
    assert dlq_subject("invalid_json") == "traces.dlq.invalid_json"
    with pytest.raises(ValueError):
        dlq_subject("made_up")
    assert canonical_msg_id("s1", "e1") == "s1:e1"


def test_the_one_match_fast_path_agrees_with_the_token_checks_at_their_edges() -> None:
    # A token of 160 characters is the longest taken, 161 is refused (either path).
    longest = "s" * 160
    assert parse_event_subject(f"traces.events.{longest}._.t").session_id == longest
    with pytest.raises(ValueError, match="invalid session token"):
        parse_event_subject(f"traces.raw.{'s' * 161}.a.t")
    # The token check's `$` takes a trailing newline; the fast path leaves such a subject to it,
    # so the answer is what it always was.
    assert parse_event_subject("traces.raw.s1.a1.t\n").type_token == "t\n"
