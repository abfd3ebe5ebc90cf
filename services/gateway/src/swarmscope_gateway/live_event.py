"""One event on its way to live clients, and the filters clients choose.

A canonical event arrives from TRACES as ingest encoded it; the gateway adds its stream sequence
(`seq`, the total order) and encodes it once. From then on only these bytes travel: batches are
assembled by joining them, never by encoding an event again per client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """A stored event, encoded, with the fields filters and metrics look at."""

    seq: int
    session_id: str
    agent_id: str | None
    type: str
    timestamp: float  # producer clock, epoch ms
    body: bytes  # the StoredEvent as JSON


class MalformedEvent(ValueError):
    """A message on TRACES that is not a canonical event (never expected: ingest validated it)."""


def exact_dumps(value: Any) -> bytes:
    """orjson.dumps, copied to an exactly sized object: orjson hands back bytes that keep their
    4 KiB working buffer, which a ring of 10,000 events would multiply into 40 MB."""
    return memoryview(orjson.dumps(value)).tobytes()


def from_stream_message(data: bytes, seq: int) -> LiveEvent:
    """The live event of a TRACES message with stream sequence `seq`."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"seq {seq}: not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise MalformedEvent(f"seq {seq}: not a JSON object")
    # The log's sequence is the event's identity in the API; a `seq` a producer sent is replaced.
    event["seq"] = seq
    return from_stored_dict(event, exact_dumps(event))


def from_stored_dict(event: Mapping[str, Any], body: bytes | None = None) -> LiveEvent:
    """The live event of a StoredEvent dict (as the store answers it)."""
    seq = event.get("seq")
    session_id = event.get("session_id")
    event_type = event.get("type")
    if not isinstance(seq, int) or not isinstance(session_id, str) or not isinstance(event_type, str):
        raise MalformedEvent(f"event without seq, session_id or type: {str(event)[:200]}")
    agent = event.get("agent_id")
    timestamp = event.get("timestamp")
    return LiveEvent(
        seq=seq,
        session_id=session_id,
        agent_id=agent if isinstance(agent, str) else None,
        type=event_type,
        timestamp=float(timestamp) if isinstance(timestamp, (int, float)) else 0.0,
        body=body if body is not None else exact_dumps(event),
    )


@dataclass(frozen=True, slots=True)
class LiveFilter:
    """Which events a subscription wants; None means any. Hashable: batches are encoded once per
    distinct filter and shared by every client that has it."""

    session_id: str | None = None
    agents: frozenset[str] | None = None
    types: frozenset[str] | None = None

    def matches(self, event: LiveEvent) -> bool:
        if self.session_id is not None and event.session_id != self.session_id:
            return False
        if self.agents is not None and event.agent_id not in self.agents:
            return False
        return self.types is None or event.type in self.types

    def with_agents(self, agents: frozenset[str] | None) -> LiveFilter:
        return replace(self, agents=agents)

    @property
    def single_agent(self) -> str | None:
        """The one agent this filter wants, when it wants exactly one."""
        if self.agents is not None and len(self.agents) == 1:
            return next(iter(self.agents))
        return None

    @property
    def single_type(self) -> str | None:
        if self.types is not None and len(self.types) == 1:
            return next(iter(self.types))
        return None


def from_store_page(result: Any) -> list[LiveEvent]:
    """The events of a store `events` answer (a page `{items, next_cursor}`, or a bare list)."""
    items = result.get("items") if isinstance(result, dict) else result
    if not isinstance(items, list):
        raise MalformedEvent("the store answered events without an items list")
    return [from_stored_dict(item) for item in items if isinstance(item, dict)]
