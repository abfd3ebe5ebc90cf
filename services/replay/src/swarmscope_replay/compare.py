"""Two runs side by side: outcomes, task differences, and their event sequences aligned.

Each event gets a key `<agent role>/<type>`, the role being the agent's `agent_type` (so `coder`
lines up with `coder` whatever the agents' ids), `session` for events without an agent. The key
sequences are aligned with difflib's SequenceMatcher (no junk heuristic: in an event log the
frequent keys are the point). Equal keys are `same` when the two events' summaries match and
`changed` otherwise; unmatched events are `only_a` / `only_b`. At most `max_events` events of each
session are aligned (the first ones); the summary says when a session was cut.
"""

from __future__ import annotations

import asyncio
import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from swarmscope_replay.event_source import EventSource, StoredEventDict, iter_pages
from swarmscope_replay.reducer import State, event_label
from swarmscope_replay.states import StateResolver
from swarmscope_schema.requests import CompareQuery


def role_of(event: Mapping[str, Any], agents: Mapping[str, Any]) -> str:
    agent_id = event.get("agent_id")
    if not agent_id:
        return "session"
    agent = agents.get(agent_id)
    agent_type = agent.get("agent_type") if isinstance(agent, Mapping) else None
    if not agent_type and event.get("type") == "agent_spawn":
        data = event.get("data")
        agent_type = data.get("agent_type") if isinstance(data, Mapping) else None
    return str(agent_type) if agent_type else "unknown"


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize(event: Mapping[str, Any]) -> str:
    """What an event did, in a line; equal lines mean the two runs did the same thing."""
    parts = [event_label(event)]
    phase = event.get("phase") or "complete"
    if phase != "complete":
        parts.append(f"[{phase}]")
    data = event.get("data")
    data = data if isinstance(data, Mapping) else {}
    event_type = event.get("type")
    if event_type == "tool_call" and data.get("exit_code") is not None:
        parts.append(f"exit {data['exit_code']}")
    elif event_type == "task_fail":
        parts.append("will retry" if data.get("will_retry") else "failed")
        if data.get("error") is not None:
            parts.append(_short(data["error"]))
    elif event_type == "task_start" and data.get("attempt") is not None:
        parts.append(f"attempt {data['attempt']}")
    elif event_type == "decision" and data.get("chosen") is not None:
        parts.append(f"chose {_short(data['chosen'])}")
    elif event_type == "error" and data.get("message") is not None:
        parts.append(_short(data["message"]))
    return " ".join(str(p) for p in parts)


def outcome(session_id: str, state: State) -> dict[str, Any]:
    session = state.get("session") or {}
    counters = state.get("counters") or {}
    start = session.get("start_time")
    end = session.get("end_time") or state.get("timestamp")
    agents = state.get("agents") or {}
    tasks = state.get("tasks") or {}
    tokens = counters.get("tokens") or (counters.get("input_tokens", 0) + counters.get("output_tokens", 0))
    return {
        "session_id": session_id,
        "status": session.get("status"),
        "duration_ms": float(end - start)
        if isinstance(start, (int, float)) and isinstance(end, (int, float))
        else None,
        "events": int(counters.get("events", 0)),
        "errors": int(counters.get("errors", 0)),
        "tokens": int(tokens),
        "cost": float(counters.get("cost_usd", 0.0)),
        "agents": {aid: str(a.get("agent_type") or "unknown") for aid, a in agents.items()},
        "tasks": {tid: str(t.get("status")) for tid, t in tasks.items()},
    }


def task_differences(a: State, b: State) -> list[dict[str, Any]]:
    tasks_a, tasks_b = a.get("tasks") or {}, b.get("tasks") or {}
    agents_a, agents_b = a.get("agents") or {}, b.get("agents") or {}

    def view(task: Mapping[str, Any] | None, agents: Mapping[str, Any]) -> dict[str, Any] | None:
        if task is None:
            return None
        agent_id = task.get("agent_id")
        agent = agents.get(agent_id) if isinstance(agent_id, str) else None
        return {
            "status": task.get("status"),
            "attempts": task.get("attempts"),
            "agent_type": agent.get("agent_type") if isinstance(agent, Mapping) else None,
            "error": task.get("error"),
        }

    out: list[dict[str, Any]] = []
    for task_id in sorted(set(tasks_a) | set(tasks_b)):
        va, vb = view(tasks_a.get(task_id), agents_a), view(tasks_b.get(task_id), agents_b)
        if va == vb:
            continue
        fields = sorted({k for v in (va, vb) if v for k in v if (va or {}).get(k) != (vb or {}).get(k)})
        out.append({"task_id": task_id, "a": va, "b": vb, "differs_in": fields})
    return out


def align(
    events_a: Sequence[StoredEventDict],
    events_b: Sequence[StoredEventDict],
    agents_a: Mapping[str, Any],
    agents_b: Mapping[str, Any],
) -> list[dict[str, Any]]:
    keys_a = [f"{role_of(e, agents_a)}/{e.get('type')}" for e in events_a]
    keys_b = [f"{role_of(e, agents_b)}/{e.get('type')}" for e in events_b]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    steps: list[dict[str, Any]] = []

    def one_side(events: Sequence[StoredEventDict], keys: list[str], lo: int, hi: int, side: str) -> None:
        for i in range(lo, hi):
            summary = summarize(events[i])
            steps.append(
                {
                    "key": keys[i],
                    "a_seq": int(events[i]["seq"]) if side == "a" else None,
                    "b_seq": int(events[i]["seq"]) if side == "b" else None,
                    "a_summary": summary if side == "a" else None,
                    "b_summary": summary if side == "b" else None,
                    "status": f"only_{side}",
                }
            )

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                sa, sb = summarize(events_a[i]), summarize(events_b[j])
                steps.append(
                    {
                        "key": keys_a[i],
                        "a_seq": int(events_a[i]["seq"]),
                        "b_seq": int(events_b[j]["seq"]),
                        "a_summary": sa,
                        "b_summary": sb,
                        "status": "same" if sa == sb else "changed",
                    }
                )
        else:
            one_side(events_a, keys_a, i1, i2, "a")
            one_side(events_b, keys_b, j1, j2, "b")
    return steps


class Comparer:
    """The compare operation."""

    def __init__(self, source: EventSource, states: StateResolver, *, max_events: int) -> None:
        self._source = source
        self._states = states
        self._max_events = max_events

    async def _first_events(self, session_id: str) -> list[StoredEventDict]:
        events: list[StoredEventDict] = []
        async for page in iter_pages(self._source, session_id, page_size=min(self._max_events, 5000)):
            events.extend(page[: self._max_events - len(events)])
            if len(events) >= self._max_events:
                break
        return events

    async def compare(self, query: CompareQuery) -> dict[str, Any]:
        state_a = await self._states.latest(query.a)
        state_b = await self._states.latest(query.b)
        events_a = await self._first_events(query.a)
        events_b = await self._first_events(query.b)
        agents_a, agents_b = state_a.get("agents") or {}, state_b.get("agents") or {}
        # Aligning thousands of events takes a while: off the event loop.
        alignment = await asyncio.to_thread(align, events_a, events_b, agents_a, agents_b)
        out_a, out_b = outcome(query.a, state_a), outcome(query.b, state_b)
        counts = Counter(step["status"] for step in alignment)
        summary: dict[str, Any] = {
            status: counts.get(status, 0) for status in ("same", "changed", "only_a", "only_b")
        }
        summary.update(
            {
                "aligned_events_a": len(events_a),
                "aligned_events_b": len(events_b),
                "truncated_a": out_a["events"] > len(events_a),
                "truncated_b": out_b["events"] > len(events_b),
                "similarity": round(2.0 * counts.get("same", 0) / max(len(events_a) + len(events_b), 1), 4),
                "duration_ms_delta": (
                    out_b["duration_ms"] - out_a["duration_ms"]
                    if out_a["duration_ms"] is not None and out_b["duration_ms"] is not None
                    else None
                ),
                "tokens_delta": out_b["tokens"] - out_a["tokens"],
                "cost_delta": round(out_b["cost"] - out_a["cost"], 10),
                "errors_delta": out_b["errors"] - out_a["errors"],
                "events_delta": out_b["events"] - out_a["events"],
                "agents_by_role_a": dict(Counter(out_a["agents"].values())),
                "agents_by_role_b": dict(Counter(out_b["agents"].values())),
            }
        )
        return {
            "a": out_a,
            "b": out_b,
            "task_differences": task_differences(state_a, state_b),
            "alignment": alignment,
            "summary": summary,
        }
