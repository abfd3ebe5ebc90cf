"""The read side: every `swarmscope.store.<op>` answer, written once for both backends.

Answers are JSON-ready values (what RequestServer serializes). Stored event bodies already are
the StoredEvent JSON, so events travel as `orjson.Fragment`s without being decoded. Every answer
that is a page is capped by a byte budget below the NATS max payload: a page stops early and says
where to go on with `next_cursor`. Answers that are not pages (agents, performance) are whole:
one bigger than a NATS message travels in chunks (v1.1).

- sessions: newest first (by the seq of each session's first event, which never changes, so pages
  are stable while sessions grow); `status` exact, `q` a case-insensitive substring of id, name or
  objective; `next_cursor` is the first seq the page ended at. (v1.1) `agent_type`, `tool`,
  `model`, `error_type` (one value or a comma-separated list, any of which) keep the sessions whose
  events stated it (session_facts, found by its (kind, value) index); several attributes must all
  hold. `from_ts`/`to_ts` keep sessions with events in that time range (they overlap it);
  `min_cost`/`max_cost` bound the cost, inclusive; `system` includes, excludes or keeps only the
  internal `_system` session.
- facets (v1.1): per searchable attribute, its values with how many sessions have each, most common
  first (ties by value).
- events: keyset by seq, ascending (`next_cursor` doubles as `after_seq`) or descending; `agent` and
  `type` take one value or a comma-separated list; `q` is a case-insensitive substring of the JSON
  text of `data`; `from_ts`/`to_ts` bound the producer timestamp, inclusive. An unknown session is
  `not_found`; a known one with nothing matching is an empty page.
- performance: windows of whole snapshot buckets (1 s), aligned on the epoch; a requested
  `window_ms` is rounded up to whole seconds and the answer says which window it used; windows
  without events are left out.
- dlq: newest first; `next_cursor` is the `before_seq` of the next page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from swarmscope_schema.api import (
    AgentSummary,
    CostBreakdown,
    DeadLetter,
    PerformanceReport,
    PerformanceWindow,
    SessionFacets,
    SessionSummary,
    SlowCall,
)
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.redaction.dead_letters import redact_payload
from swarmscope_schema.requests import (
    SESSION_ATTRIBUTES,
    DlqQuery,
    ErrorCode,
    EventRef,
    EventSeqsQuery,
    EventsQuery,
    FacetsQuery,
    PerformanceQuery,
    SessionRef,
    SessionsQuery,
)
from swarmscope_schema.subjects import SYSTEM_SESSION_ID
from swarmscope_service.request_reply import ServiceError
from swarmscope_store.backend import Row, StoreBackend, Tx
from swarmscope_store.projections import BUCKET_MS
from swarmscope_store.records import clean_text

PREVIEW_BYTES = 2048
ENVELOPE_SLACK = 16 * 1024
NICE_WINDOWS_MS = (
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
)
TARGET_WINDOWS = 120
BREAKDOWN_LIMIT = 100
SLOWEST_LIMIT = 10

_SESSION_COLUMNS = (
    "session_id, name, status, objective, start_time, end_time, last_event_time, last_seq, "
    "event_count, agent_count, error_count, tokens, cost, first_seq, source"
)
_AGENT_COLUMNS = (
    "agent_id, agent_type, name, parent_agent_id, status, current_task, first_seq, last_seq, "
    "first_time, last_time, event_count, error_count, tool_calls, llm_calls, messages_sent, "
    "messages_received, tokens, cost, duration_ms"
)


def _bad_cursor(value: str) -> ServiceError:
    return ServiceError(ErrorCode.BAD_REQUEST, f"cursor {value!r} is not a cursor this store gave")


def parse_cursor(value: str | None) -> int | None:
    """A keyset cursor (the decimal seq the previous page ended at)."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19:
        raise _bad_cursor(value)
    return int(value)


def session_summary(row: Row) -> dict[str, Any]:
    return SessionSummary(
        id=row[0],
        name=row[1],
        status=row[2],
        objective=row[3],
        start_time=row[4],
        end_time=row[5],
        last_event_time=row[6],
        last_seq=row[7],
        event_count=row[8],
        agent_count=row[9],
        error_count=row[10],
        tokens=row[11],
        cost=row[12],
        source=row[14],
    ).model_dump(mode="json")


def agent_summary(row: Row) -> dict[str, Any]:
    fields = [c.strip() for c in _AGENT_COLUMNS.split(",")]
    return AgentSummary.model_validate(dict(zip(fields, row, strict=True))).model_dump(mode="json")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def choose_window(span_ms: float, requested: int | None) -> int:
    """The performance window: a requested one rounded up to whole snapshot buckets, else the
    smallest round window that splits the session into at most TARGET_WINDOWS."""
    if requested is not None:
        return max(BUCKET_MS, math.ceil(requested / BUCKET_MS) * BUCKET_MS)
    for window in NICE_WINDOWS_MS:
        if span_ms / window <= TARGET_WINDOWS:
            return window
    return math.ceil(span_ms / TARGET_WINDOWS / NICE_WINDOWS_MS[-1]) * NICE_WINDOWS_MS[-1]


class StoreQueries:
    """Answers the query ops from a backend; `budget()` is how many bytes an answer may take."""

    def __init__(
        self, backend: StoreBackend, budget: Callable[[], int], redactor: Redactor | None = None
    ) -> None:
        self._backend = backend
        self._budget = budget
        self._d = backend.dialect
        # Dead-letter previews are redacted as they are read too: rows kept before redaction reached
        # dead letters, or kept whole on purpose (SWARMSCOPE_DLQ_KEEP_ORIGINAL), show no secret.
        self._redactor = redactor or Redactor()

    def budget(self) -> int:
        return max(self._budget() - ENVELOPE_SLACK, 64 * 1024)

    # -- sessions -------------------------------------------------------------------------------

    async def sessions(self, query: SessionsQuery) -> dict[str, Any]:
        cursor = parse_cursor(query.cursor)
        where: list[str] = []
        args: list[Any] = []
        if query.status:
            args.append(query.status)
            where.append(f"status = ${len(args)}")
        if query.q:
            args.append(query.q.lower())
            p = f"${len(args)}"
            where.append(
                f"({self._d.contains('session_id', p)} OR {self._d.contains('name', p)} "
                f"OR {self._d.contains('objective', p)})"
            )
        for kind in SESSION_ATTRIBUTES:
            value = getattr(query, kind)
            values = _split(value) if value else []
            if not values:
                continue
            args.append(kind)
            kind_param = f"${len(args)}"
            if len(values) == 1:
                args.append(values[0])
                match = f"value = ${len(args)}"
            else:
                args.append(self._d.list_param(values))
                match = self._d.in_list("value", f"${len(args)}")
            where.append(
                f"session_id IN (SELECT session_id FROM session_facts WHERE kind = {kind_param} AND {match})"  # noqa: S608
            )
        if query.from_ts is not None:
            args.append(query.from_ts)
            where.append(f"last_event_time >= ${len(args)}")
        if query.to_ts is not None:
            args.append(query.to_ts)
            where.append(f"start_time <= ${len(args)}")
        if query.min_cost is not None:
            args.append(query.min_cost)
            where.append(f"cost >= ${len(args)}")
        if query.max_cost is not None:
            args.append(query.max_cost)
            where.append(f"cost <= ${len(args)}")
        if query.system != "include":
            args.append(SYSTEM_SESSION_ID)
            where.append(f"session_id {'<>' if query.system == 'exclude' else '='} ${len(args)}")
        if cursor is not None:
            args.append(cursor)
            where.append(f"first_seq < ${len(args)}")
        args.append(query.limit + 1)
        sql = (
            f"SELECT {_SESSION_COLUMNS} FROM sessions"  # noqa: S608
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY first_seq DESC LIMIT ${len(args)}"
        )
        async with self._backend.reader() as tx:
            rows = await tx.fetch(sql, *args)
        items: list[tuple[dict[str, Any], int]] = []
        size, budget = 0, self.budget()
        for row in rows[: query.limit]:
            item = session_summary(row)
            size += len(orjson.dumps(item))
            if items and size > budget:
                break
            items.append((item, int(row[13])))
        more = len(rows) > len(items)
        return {
            "items": [item for item, _ in items],
            "next_cursor": str(items[-1][1]) if more and items else None,
        }

    async def facets(self, query: FacetsQuery) -> dict[str, Any]:
        # Ranked per kind in the database, so a popular attribute cannot crowd out the others.
        sql = (
            "SELECT kind, value, n FROM (SELECT kind, value, count(*) AS n, "
            "row_number() OVER (PARTITION BY kind ORDER BY count(*) DESC, value) AS rank "
            "FROM session_facts GROUP BY kind, value) ranked WHERE rank <= $1 ORDER BY kind, rank"
        )
        async with self._backend.reader() as tx:
            rows = await tx.fetch(sql, query.limit)
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SESSION_ATTRIBUTES}
        for kind, value, count in rows:
            if kind in out:
                out[kind].append({"value": value, "sessions": int(count)})
        return SessionFacets.model_validate(out).model_dump(mode="json")

    async def session(self, ref: SessionRef) -> dict[str, Any]:
        async with self._backend.reader() as tx:
            rows = await tx.fetch(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = $1",  # noqa: S608
                ref.session_id,
            )
        if not rows:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {ref.session_id!r}")
        return session_summary(rows[0])

    async def _require_session(self, tx: Tx, session_id: str) -> None:
        if not await tx.fetch("SELECT 1 FROM sessions WHERE session_id = $1", session_id):
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r}")

    # -- events ---------------------------------------------------------------------------------

    async def events(self, query: EventsQuery) -> dict[str, Any]:
        d = self._d
        cursor = parse_cursor(query.cursor)
        args: list[Any] = [query.session_id]
        where = ["session_id = $1"]

        def bind(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        lower = query.after_seq
        if query.order == "asc" and cursor is not None:
            lower = max(lower, cursor)
        if lower:
            where.append(f"seq > {bind(lower)}")
        if query.until_seq is not None:
            where.append(f"seq <= {bind(query.until_seq)}")
        if query.order == "desc" and cursor is not None:
            where.append(f"seq < {bind(cursor)}")
        for column, value in (("agent_id", query.agent), ("type", query.type)):
            if value is None:
                continue
            values = _split(value)
            if len(values) == 1:
                where.append(f"{column} = {bind(values[0])}")
            elif values:
                where.append(d.in_list(column, bind(d.list_param(values))))
        if query.phase is not None:
            where.append(f"phase = {bind(query.phase)}")
        if query.span_id is not None:
            where.append(f"span_id = {bind(query.span_id)}")
        if query.from_ts is not None:
            where.append(f"ts >= {bind(query.from_ts)}")
        if query.to_ts is not None:
            where.append(f"ts <= {bind(query.to_ts)}")
        if query.q:
            where.append(d.contains(d.data_text("body"), bind(clean_text(query.q).lower())))
        direction = "ASC" if query.order == "asc" else "DESC"
        limit = bind(query.limit + 1)
        budget = bind(self.budget())
        # The running byte total is computed in the database so that bodies past the budget are
        # never sent; the first row always goes, so a page always moves forward.
        sql = (
            "SELECT seq, body, total FROM ("  # noqa: S608
            f"SELECT seq, body, sum(len) OVER (ORDER BY seq {direction} ROWS UNBOUNDED PRECEDING) AS running, "
            f"row_number() OVER (ORDER BY seq {direction}) AS rn, count(*) OVER () AS total FROM ("
            f"SELECT seq, body, {d.byte_length('body')} AS len FROM events WHERE {' AND '.join(where)} "
            f"ORDER BY seq {direction} LIMIT {limit}) page"
            f") t WHERE rn = 1 OR running <= {budget} ORDER BY seq {direction}"
        )
        async with self._backend.reader() as tx:
            rows = await tx.fetch(sql, *args)
            if not rows:
                await self._require_session(tx, query.session_id)
        rows = rows[: query.limit]
        more = bool(rows) and int(rows[0][2]) > len(rows)
        return {
            "items": [orjson.Fragment(bytes(row[1])) for row in rows],
            "next_cursor": str(int(rows[-1][0])) if more else None,
        }

    async def event(self, ref: EventRef) -> Any:
        async with self._backend.reader() as tx:
            rows = await tx.fetch(
                "SELECT e.body FROM event_keys k JOIN events e ON e.session_id = k.session_id "
                "AND e.seq = k.seq AND e.expires_at = k.expires_at "
                "WHERE k.session_id = $1 AND k.event_id = $2",
                ref.session_id,
                ref.event_id,
            )
        if not rows:
            raise ServiceError(
                ErrorCode.NOT_FOUND, f"no event {ref.event_id!r} in session {ref.session_id!r}"
            )
        return orjson.Fragment(bytes(rows[0][0]))

    async def event_seqs(self, query: EventSeqsQuery) -> dict[str, Any]:
        """(v1.1) The seq each asked event id is stored at, by session; ids not stored are left out."""
        seqs: dict[str, dict[str, int]] = {}
        async with self._backend.reader() as tx:
            for session_id, ids in query.events.items():
                if not ids:
                    continue
                rows = await tx.fetch(
                    "SELECT event_id, seq FROM event_keys "  # noqa: S608
                    f"WHERE session_id = $1 AND {self._d.in_list('event_id', '$2')}",
                    session_id,
                    self._d.list_param(ids),
                )
                if rows:
                    seqs[session_id] = {str(r[0]): int(r[1]) for r in rows}
        return {"seqs": seqs}

    # -- agents ---------------------------------------------------------------------------------

    async def agents(self, ref: SessionRef) -> list[dict[str, Any]]:
        async with self._backend.reader() as tx:
            rows = await tx.fetch(
                f"SELECT {_AGENT_COLUMNS} FROM agents WHERE session_id = $1 ORDER BY first_seq, agent_id",  # noqa: S608
                ref.session_id,
            )
            if not rows:
                await self._require_session(tx, ref.session_id)
        # Every agent: an answer bigger than one NATS message travels in chunks (v1.1).
        return [agent_summary(row) for row in rows]

    # -- performance ----------------------------------------------------------------------------

    async def performance(self, query: PerformanceQuery) -> dict[str, Any]:
        async with self._backend.reader() as tx:
            session = await tx.fetch(
                "SELECT start_time, last_event_time FROM sessions WHERE session_id = $1", query.session_id
            )
            if not session:
                raise ServiceError(ErrorCode.NOT_FOUND, f"no session {query.session_id!r}")
            span_ms = float(session[0][1]) - float(session[0][0])
            window = choose_window(span_ms, query.window_ms)
            windows = await tx.fetch(
                "SELECT (CAST(window_start AS bigint) / $2) * $2 AS ws, sum(events), sum(errors), "
                "sum(duration_sum), sum(duration_count), max(duration_max), sum(tokens), sum(cost) "
                "FROM performance_snapshots WHERE session_id = $1 GROUP BY 1 ORDER BY 1",
                query.session_id,
                window,
            )
            breakdowns = await tx.fetch(
                "SELECT dimension, key, events, duration_ms, tokens, input_tokens, output_tokens, cost "
                "FROM cost_breakdowns WHERE session_id = $1 ORDER BY dimension, cost DESC, events DESC, key",
                query.session_id,
            )
            slowest = await tx.fetch(
                "SELECT end_event_id, end_seq, span_id, agent_id, type, label, duration_ms FROM spans "  # noqa: S608
                "WHERE session_id = $1 AND duration_ms IS NOT NULL ORDER BY duration_ms DESC, start_seq "
                f"LIMIT {SLOWEST_LIMIT}",
                query.session_id,
            )
        per: dict[str, list[CostBreakdown]] = {"agent": [], "type": [], "model": []}
        for row in breakdowns:
            bucket = per.get(str(row[0]))
            if bucket is not None and len(bucket) < BREAKDOWN_LIMIT:
                bucket.append(
                    CostBreakdown(
                        key=row[1],
                        events=row[2],
                        duration_ms=row[3],
                        tokens=row[4],
                        input_tokens=row[5],
                        output_tokens=row[6],
                        cost=row[7],
                    )
                )
        report = PerformanceReport(
            session_id=query.session_id,
            window_ms=window,
            windows=[
                PerformanceWindow(
                    start_time=float(row[0]),
                    end_time=float(row[0]) + window,
                    events=int(row[1]),
                    event_rate=int(row[1]) / (window / 1000.0),
                    errors=int(row[2]),
                    avg_duration_ms=float(row[3]) / int(row[4]) if row[4] else None,
                    max_duration_ms=None if row[5] is None else float(row[5]),
                    tokens=int(row[6]),
                    cost=float(row[7]),
                )
                for row in windows
            ],
            per_agent=per["agent"],
            per_type=per["type"],
            per_model=per["model"],
            slowest=[
                SlowCall(
                    event_id=row[0],
                    seq=row[1],
                    span_id=row[2],
                    agent_id=row[3],
                    type=row[4],
                    label=row[5],
                    duration_ms=row[6],
                )
                for row in slowest
            ],
        )
        # Every window: an answer bigger than one NATS message travels in chunks (v1.1).
        return report.model_dump(mode="json")

    # -- dead letters ---------------------------------------------------------------------------

    async def dead_letters(self, query: DlqQuery) -> dict[str, Any]:
        args: list[Any] = []
        where: list[str] = []
        if query.reason:
            args.append(query.reason)
            where.append(f"reason = ${len(args)}")
        if query.before_seq is not None:
            args.append(query.before_seq)
            where.append(f"seq < ${len(args)}")
        args.append(query.limit + 1)
        sql = (
            "SELECT seq, reason, subject, error, received_at, size, "  # noqa: S608
            f"{self._d.head_bytes('payload', PREVIEW_BYTES)} FROM dead_letters"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY seq DESC LIMIT ${len(args)}"
        )
        async with self._backend.reader() as tx:
            rows = await tx.fetch(sql, *args)
        items: list[dict[str, Any]] = []
        size, budget = 0, self.budget()
        for row in rows[: query.limit]:
            item = DeadLetter(
                seq=row[0],
                reason=row[1],
                subject=row[2],
                error=row[3],
                received_at=row[4],
                size=row[5],
                payload_preview=redact_payload(self._redactor, bytes(row[6]))[0].decode(
                    "utf-8", errors="replace"
                ),
            ).model_dump(mode="json")
            size += len(orjson.dumps(item))
            if items and size > budget:
                break
            items.append(item)
        more = len(rows) > len(items)
        return {"items": items, "next_cursor": str(items[-1]["seq"]) if more and items else None}

    async def ping(self) -> dict[str, Any]:
        ok = await self._backend.ping()
        if not ok:
            raise ServiceError(ErrorCode.UNAVAILABLE, "the store's database is not reachable")
        return {"status": "ok", "backend": self._backend.name}
