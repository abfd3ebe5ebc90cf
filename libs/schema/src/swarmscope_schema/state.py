"""The collections of SystemState (CONTRACT §6) that grow with a session, and how they are paged.

A state's size is in these collections: thousands of tasks, tens of thousands of messages, memory
values of any size. The bounded view (`GET …/state`, v1.1) carries each one's count and its newest
items; its pages (`GET …/state/{collection}`) carry the rest, each exact at the seq asked for.
Replay's snapshots store them in chunks; everything else of the state (the session's scalars,
counters, …) is small and travels whole.

- A *map* collection is a JSON object; its pages go in key order (code points), its newest items
  are those whose `recency` fields are highest (the seq of their latest change, as the state
  records it).
- A *list* collection is a JSON array; its pages go by position, its newest items are its last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CollectionKind = Literal["map", "list"]
PageFilter = Literal["agent", "prefix", "status", "kind", "q"]

StateCollectionName = Literal[
    "agents",
    "tasks",
    "memory",
    "open_spans",
    "communications",
    "decisions",
    "coordination",
    "errors",
    "alerts",
]

DEFAULT_VIEW_LIMIT = 100
MAX_VIEW_LIMIT = 1000
DEFAULT_PAGE_LIMIT = 500
MAX_PAGE_LIMIT = 5000
MAX_QUERY_CHARS = 200


@dataclass(frozen=True, slots=True)
class StateCollection:
    """One growing collection: where it is in the state and what its pages can filter on."""

    name: StateCollectionName
    path: tuple[str, ...]
    kind: CollectionKind
    # Item fields naming agents (a list field matches when any of its values does).
    agent_fields: tuple[str, ...] = ()
    # Map items: the fields whose greatest value is the seq of the item's latest change.
    recency: tuple[str, ...] = ()
    status_field: str | None = None
    kind_field: str | None = None

    @property
    def filters(self) -> frozenset[PageFilter]:
        """The page filters this collection takes (`q`, text search, always)."""
        out: set[PageFilter] = {"q"}
        if self.agent_fields:
            out.add("agent")
        if self.kind == "map":
            out.add("prefix")
        if self.status_field:
            out.add("status")
        if self.kind_field:
            out.add("kind")
        return frozenset(out)


STATE_COLLECTIONS: dict[str, StateCollection] = {
    c.name: c
    for c in (
        StateCollection(
            "agents", ("agents",), "map", ("id", "parent_agent_id"), ("spawned_seq",), status_field="status"
        ),
        StateCollection(
            "tasks",
            ("tasks",),
            "map",
            ("agent_id", "created_by"),
            ("created_seq", "started_seq", "ended_seq"),
            status_field="status",
        ),
        StateCollection("memory", ("memory",), "map", ("agent_id", "last_read_by"), ("seq", "last_read_seq")),
        StateCollection("open_spans", ("open_spans",), "map", ("agent_id",), ("seq",), kind_field="type"),
        StateCollection("communications", ("communications",), "list", ("from", "to", "delivered_to")),
        StateCollection("decisions", ("session", "decisions"), "list", ("agent_id",), kind_field="kind"),
        StateCollection(
            "coordination", ("session", "coordination"), "list", ("agent_id",), kind_field="kind"
        ),
        StateCollection("errors", ("session", "errors"), "list", ("agent_id",), kind_field="error_type"),
        StateCollection("alerts", ("session", "alerts"), "list", ("agent_id",), kind_field="metric"),
    )
}
