"""The `graph` op: a session's spans, agents and typed relationships in three layouts.

- hierarchical: span nodes (parent_id and depth give the call tree) with the span-level edges
  `sequence`, `parallel`, `spawn` and `callback`.
- force: agent nodes with the agent-level edges `spawn` and `message` (count = how many); an agent
  only named by an edge (a recipient, a parent that never emitted) still gets a node.
- timeline: agent nodes first (the lanes, in order of first appearance), then span nodes by start
  time with their start/end times, and the span-level edges between them.
Nodes are capped by max_nodes; `truncated` says when something was left out. A graph bigger than one
NATS message travels in chunks (v1.1), so its size never cuts it.
"""

from __future__ import annotations

from typing import Any

from swarmscope_schema.api import GraphEdge, GraphNode
from swarmscope_schema.requests import ErrorCode, GraphQuery
from swarmscope_service.request_reply import ServiceError
from swarmscope_store.backend import Row, StoreBackend
from swarmscope_store.projections import SPAN_COLUMNS, SpanRow, span_from_row


def _depths(spans: dict[str, SpanRow]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for span_id in spans:
        chain: list[str] = []
        current: str | None = span_id
        while current is not None and current in spans and current not in depth and current not in chain:
            chain.append(current)
            current = spans[current].parent_id
        base = depth.get(current, -1) if current is not None else -1
        if current is not None and current in chain:
            base = -1  # a cycle of parent ids: treat its entry as a root
        for offset, node in enumerate(reversed(chain)):
            depth[node] = base + 1 + offset
    return depth


def _span_node(span: SpanRow, depth: int) -> dict[str, Any]:
    return GraphNode(
        id=span.span_id,
        kind="span",
        label=span.label,
        agent_id=span.agent_id,
        type=span.type,
        status=span.status if span.status in ("open", "complete", "error") else None,
        parent_id=span.parent_id,
        depth=depth,
        start_seq=span.start_seq,
        end_seq=span.end_seq,
        start_time=span.start_time,
        end_time=span.end_time,
        duration_ms=span.duration_ms,
        event_count=span.event_count,
        error_count=span.error_count,
    ).model_dump(mode="json")


def _agent_node(row: Row | None, agent_id: str) -> dict[str, Any]:
    if row is None:
        return GraphNode(id=agent_id, kind="agent", label=agent_id, agent_id=agent_id).model_dump(mode="json")
    status = str(row[3] or "")
    return GraphNode(
        id=agent_id,
        kind="agent",
        label=str(row[2] or agent_id),
        agent_id=agent_id,
        type=row[1],
        status="error" if status == "error" else "complete" if status == "terminated" else "open",
        parent_id=row[4],
        start_seq=row[5],
        end_seq=row[6],
        start_time=row[7],
        end_time=row[8],
        duration_ms=row[9],
        event_count=row[10],
        error_count=row[11],
    ).model_dump(mode="json")


def _edge(row: Row) -> dict[str, Any]:
    return GraphEdge(
        source=row[0], target=row[1], type=row[2], count=int(row[3]), seq=int(row[4])
    ).model_dump(mode="json")


class GraphBuilder:
    """Builds Graph answers from the spans, agents and relationships projections."""

    def __init__(self, backend: StoreBackend) -> None:
        self._backend = backend

    async def graph(self, query: GraphQuery) -> dict[str, Any]:
        async with self._backend.reader() as tx:
            if not await tx.fetch("SELECT 1 FROM sessions WHERE session_id = $1", query.session_id):
                raise ServiceError(ErrorCode.NOT_FOUND, f"no session {query.session_id!r}")
            agent_rows = await tx.fetch(
                "SELECT agent_id, agent_type, name, status, parent_agent_id, first_seq, last_seq, "
                "first_time, last_time, duration_ms, event_count, error_count FROM agents "
                "WHERE session_id = $1 ORDER BY first_seq, agent_id",
                query.session_id,
            )
            kind = "agent" if query.layout == "force" else "span"
            edge_rows = await tx.fetch(
                "SELECT source_id, target_id, rel_type, count, first_seq FROM relationships "
                "WHERE session_id = $1 AND node_kind = $2 ORDER BY first_seq",
                query.session_id,
                kind,
            )
            span_rows: list[Row] = []
            if query.layout != "force":
                span_rows = await tx.fetch(
                    f"SELECT {', '.join(SPAN_COLUMNS)} FROM spans WHERE session_id = $1 "  # noqa: S608
                    "ORDER BY start_seq LIMIT $2",
                    query.session_id,
                    query.max_nodes + 1,
                )
        nodes: list[dict[str, Any]] = []
        truncated = False

        def add_node(node: dict[str, Any]) -> bool:
            nonlocal truncated
            if len(nodes) >= query.max_nodes:
                truncated = True
                return False
            nodes.append(node)
            return True

        agents: dict[str, Row | None] = {str(row[0]): row for row in agent_rows}
        if query.layout == "force":
            # An agent only named by an edge (a recipient, a parent that never emitted) still
            # gets a node, so no edge dangles.
            for row in edge_rows:
                for agent_id in (str(row[0]), str(row[1])):
                    agents.setdefault(agent_id, None)
            for agent_id, agent_row in agents.items():
                if not add_node(_agent_node(agent_row, agent_id)):
                    break
        else:
            spans: dict[str, SpanRow] = {}
            for row in span_rows[: query.max_nodes]:
                span = span_from_row(row)
                spans[span.span_id] = span
            truncated = len(span_rows) > query.max_nodes
            depths = _depths(spans)
            ordered = list(spans.values())
            if query.layout == "timeline":
                for agent_id, agent_row in agents.items():
                    add_node(_agent_node(agent_row, agent_id))
                ordered.sort(key=lambda s: (s.start_time, s.start_seq))
            for span in ordered:
                if not add_node(_span_node(span, depths.get(span.span_id, 0))):
                    break
        ids = {
            node["id"] for node in nodes if node["kind"] == ("agent" if query.layout == "force" else "span")
        }
        edges = [_edge(row) for row in edge_rows if str(row[0]) in ids and str(row[1]) in ids]
        return {
            "session_id": query.session_id,
            "layout": query.layout,
            "nodes": nodes,
            "edges": edges,
            "truncated": truncated,
        }
