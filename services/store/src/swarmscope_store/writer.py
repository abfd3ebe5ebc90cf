"""The write path, once for both backends: one transaction per batch, projections included.

A batch is staged, the events not yet stored are inserted (a redelivery or a duplicate id inserts
nothing), the projection state those events touch is read in the same transaction, the new
projection rows are computed (`projections.plan_projections`) and upserted, and the transaction
commits. Only then does the consumer ack. Every statement handles the whole batch (staging-table
joins, executemany), so the number of round trips does not grow with the batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from swarmscope_store.backend import Dialect, RetentionResult, StoreBackend, Tx
from swarmscope_store.projections import (
    AGENT_COLUMNS,
    BREAKDOWN_COLUMNS,
    FACT_COLUMNS,
    LANE_COLUMNS,
    MESSAGE_COLUMNS,
    PERFORMANCE_COLUMNS,
    RELATIONSHIP_COLUMNS,
    SESSION_COLUMNS,
    SPAN_COLUMNS,
    PriorState,
    ProjectionPlan,
    plan_projections,
    span_from_row,
)
from swarmscope_store.records import DEAD_LETTER_COLUMNS, DeadLetterRecord, EventRecord


@dataclass(frozen=True)
class WriteResult:
    """What a batch changed."""

    inserted: list[EventRecord]
    duplicates: int
    seconds: float


def _placeholders(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


_TEXT = "text"
_BIGINT = "bigint"
_DOUBLE = "double precision"
# Postgres types of the projection columns, to cast the fields of the JSON rows a set-based upsert
# reads.
PG_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "session_id",
            "name",
            "objective",
            "source",
            "status",
            "agent_id",
            "agent_type",
            "parent_agent_id",
            "current_task",
            "spawn_span_id",
            "span_id",
            "parent_id",
            "parent_key",
            "type",
            "label",
            "end_event_id",
            "agent_key",
            "last_span_id",
            "node_kind",
            "source_id",
            "target_id",
            "rel_type",
            "message_id",
            "from_agent",
            "dimension",
            "key",
            "kind",
            "value",
        ),
        _TEXT,
    ),
    **dict.fromkeys(
        (
            "status_seq",
            "first_seq",
            "last_seq",
            "event_count",
            "agent_count",
            "error_count",
            "tokens",
            "expires_at",
            "task_seq",
            "tool_calls",
            "llm_calls",
            "start_seq",
            "end_seq",
            "count",
            "seq",
            "events",
            "errors",
            "duration_count",
            "input_tokens",
            "output_tokens",
        ),
        _BIGINT,
    ),
    **dict.fromkeys(
        (
            "start_time",
            "end_time",
            "last_event_time",
            "cost",
            "first_time",
            "last_time",
            "duration_ms",
            "window_start",
            "duration_sum",
            "duration_max",
        ),
        _DOUBLE,
    ),
}


def _insert(d: Dialect, table: str, columns: Sequence[str]) -> str:
    """An INSERT of many rows: on Postgres one set-based statement over a JSON array of rows (a row
    at a time costs the server a bind/execute each, and asyncpg's encoding of typed arrays checks
    every element against abstract base classes, which costs more than orjson encoding the whole
    batch); on SQLite a VALUES row for executemany, which runs in process."""
    cols = ", ".join(columns)
    if d.is_postgres:
        fields = ", ".join(f"({'r'}->>{i})::{PG_TYPES[c]}" for i, c in enumerate(columns))
        return f"INSERT INTO {table} AS t ({cols}) SELECT {fields} FROM jsonb_array_elements($1::jsonb) r"  # noqa: S608
    return f"INSERT INTO {table} AS t ({cols}) VALUES ({_placeholders(len(columns))})"  # noqa: S608


class _Sql:
    """The upsert statements of one dialect (built once)."""

    def __init__(self, d: Dialect) -> None:
        least, greatest = d.least, d.greatest

        def add(*cols: str) -> str:
            return ", ".join(f"{c} = t.{c} + excluded.{c}" for c in cols)

        self.sessions = (
            _insert(d, "sessions", SESSION_COLUMNS) + " ON CONFLICT (session_id) DO UPDATE SET "
            "name = COALESCE(excluded.name, t.name), "
            "objective = COALESCE(excluded.objective, t.objective), "
            "status = CASE WHEN excluded.status_seq > t.status_seq THEN excluded.status ELSE t.status END, "
            f"status_seq = {greatest('excluded.status_seq', 't.status_seq')}, "
            f"first_seq = {least('excluded.first_seq', 't.first_seq')}, "
            f"last_seq = {greatest('excluded.last_seq', 't.last_seq')}, "
            f"start_time = {least('excluded.start_time', 't.start_time')}, "
            "end_time = COALESCE(excluded.end_time, t.end_time), "
            # The first event names the source: only a batch reaching further back may change it.
            "source = CASE WHEN excluded.first_seq < t.first_seq THEN excluded.source ELSE t.source END, "
            f"last_event_time = {greatest('excluded.last_event_time', 't.last_event_time')}, "
            f"expires_at = {greatest('excluded.expires_at', 't.expires_at')}, "
            + add("event_count", "error_count", "tokens", "cost")
        )
        if d.is_postgres:
            self.agent_count = (
                "UPDATE sessions s SET agent_count = (SELECT count(*) FROM agents a "
                "WHERE a.session_id = s.session_id) WHERE s.session_id = ANY($1::text[])"
            )
        else:
            self.agent_count = (
                "UPDATE sessions SET agent_count = (SELECT count(*) FROM agents a "
                "WHERE a.session_id = $1) WHERE session_id = $1"
            )
        status_wins = "excluded.status IS NOT NULL AND excluded.status_seq >= t.status_seq"
        self.agents = (
            _insert(d, "agents", AGENT_COLUMNS) + " ON CONFLICT (session_id, agent_id) DO UPDATE SET "
            "agent_type = COALESCE(excluded.agent_type, t.agent_type), "
            "name = COALESCE(excluded.name, t.name), "
            "parent_agent_id = COALESCE(excluded.parent_agent_id, t.parent_agent_id), "
            f"status = CASE WHEN {status_wins} THEN excluded.status ELSE t.status END, "
            f"status_seq = CASE WHEN {status_wins} THEN excluded.status_seq ELSE t.status_seq END, "
            "current_task = CASE WHEN excluded.task_seq > t.task_seq "
            "THEN excluded.current_task ELSE t.current_task END, "
            f"task_seq = {greatest('excluded.task_seq', 't.task_seq')}, "
            "spawn_span_id = COALESCE(excluded.spawn_span_id, t.spawn_span_id), "
            f"first_seq = {least('excluded.first_seq', 't.first_seq')}, "
            f"last_seq = {greatest('excluded.last_seq', 't.last_seq')}, "
            f"first_time = {least('excluded.first_time', 't.first_time')}, "
            f"last_time = {greatest('excluded.last_time', 't.last_time')}, "
            + add("event_count", "error_count", "tool_calls", "llm_calls", "tokens", "cost", "duration_ms")
        )
        if d.is_postgres:
            self.message_counts = (
                "UPDATE agents a SET messages_sent = a.messages_sent + u.sent, "
                "messages_received = a.messages_received + u.received "
                "FROM (SELECT (r->>0)::bigint AS sent, (r->>1)::bigint AS received, "
                "r->>2 AS session_id, r->>3 AS agent_id FROM jsonb_array_elements($1::jsonb) r) u "
                "WHERE a.session_id = u.session_id AND a.agent_id = u.agent_id"
            )
        else:
            self.message_counts = (
                "UPDATE agents SET messages_sent = messages_sent + $1, "
                "messages_received = messages_received + $2 WHERE session_id = $3 AND agent_id = $4"
            )
        self.spans = (
            _insert(d, "spans", SPAN_COLUMNS)
            + " ON CONFLICT (session_id, span_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in SPAN_COLUMNS[2:])
        )
        self.lanes = (
            _insert(d, "span_lanes", LANE_COLUMNS) + " ON CONFLICT (session_id, agent_key, parent_key) "
            "DO UPDATE SET last_span_id = excluded.last_span_id, last_seq = excluded.last_seq"
        )
        self.relationships = (
            _insert(d, "relationships", RELATIONSHIP_COLUMNS)
            + " ON CONFLICT (session_id, node_kind, source_id, target_id, rel_type) DO UPDATE SET "
            "count = t.count + excluded.count, "
            f"first_seq = {least('excluded.first_seq', 't.first_seq')}, "
            f"expires_at = {greatest('excluded.expires_at', 't.expires_at')}"
        )
        self.messages = _insert(d, "messages", MESSAGE_COLUMNS) + " ON CONFLICT DO NOTHING"
        self.performance = (
            _insert(d, "performance_snapshots", PERFORMANCE_COLUMNS)
            + " ON CONFLICT (session_id, window_start) DO UPDATE SET "
            + add("events", "errors", "duration_sum", "duration_count", "tokens", "input_tokens")
            + ", "
            + add("output_tokens", "cost")
            + ", duration_max = CASE WHEN t.duration_max IS NULL OR excluded.duration_max > t.duration_max "
            "THEN excluded.duration_max ELSE t.duration_max END, "
            f"expires_at = {greatest('excluded.expires_at', 't.expires_at')}"
        )
        self.breakdowns = (
            _insert(d, "cost_breakdowns", BREAKDOWN_COLUMNS)
            + " ON CONFLICT (session_id, dimension, key) DO UPDATE SET "
            + add("events", "duration_ms", "tokens", "input_tokens", "output_tokens", "cost")
        )
        # A fact is true once stated: later batches stating it again change nothing.
        self.facts = _insert(d, "session_facts", FACT_COLUMNS) + " ON CONFLICT DO NOTHING"
        self.dead_letters = (
            f"INSERT INTO dead_letters ({', '.join(DEAD_LETTER_COLUMNS)}) "  # noqa: S608
            f"VALUES ({_placeholders(len(DEAD_LETTER_COLUMNS))}) ON CONFLICT DO NOTHING"
        )


_SQL_CACHE: dict[str, _Sql] = {}


def _sql(dialect: Dialect) -> _Sql:
    # Statements depend only on the dialect: build them once per dialect, not per batch.
    cached = _SQL_CACHE.get(dialect.name)
    if cached is None:
        cached = _SQL_CACHE[dialect.name] = _Sql(dialect)
    return cached


_SPAN_SELECT = ", ".join(f"s.{c}" for c in SPAN_COLUMNS)
_PARENT_KEY = "COALESCE(NULLIF(parent_id, span_id), '')"

PRIOR_SPANS = (
    f"SELECT {_SPAN_SELECT} FROM spans s JOIN ("  # noqa: S608
    "SELECT session_id, span_id FROM stage_events "
    "UNION SELECT session_id, parent_id FROM stage_events WHERE parent_id IS NOT NULL"
    ") k ON s.session_id = k.session_id AND s.span_id = k.span_id"
)
PRIOR_LANES = (
    "SELECT l.session_id, l.agent_key, l.parent_key, l.last_span_id FROM span_lanes l JOIN ("  # noqa: S608
    f"SELECT DISTINCT session_id, COALESCE(agent_id, '') AS agent_key, {_PARENT_KEY} AS parent_key "
    "FROM stage_events) k "
    "ON l.session_id = k.session_id AND l.agent_key = k.agent_key AND l.parent_key = k.parent_key"
)
PRIOR_OPEN_SIBLINGS = (
    "SELECT s.session_id, s.parent_key, s.span_id, s.start_seq FROM spans s JOIN ("  # noqa: S608
    f"SELECT DISTINCT session_id, {_PARENT_KEY} AS parent_key FROM stage_events) k "
    "ON s.session_id = k.session_id AND s.parent_key = k.parent_key WHERE s.status = 'open'"
)
PRIOR_SPAWN_SPANS = (
    "SELECT a.session_id, a.agent_id, a.spawn_span_id FROM agents a JOIN ("
    "SELECT DISTINCT session_id, parent_agent_id FROM stage_events WHERE parent_agent_id IS NOT NULL) k "
    "ON a.session_id = k.session_id AND a.agent_id = k.parent_agent_id "
    "WHERE a.spawn_span_id IS NOT NULL"
)
PRIOR_CAUSES = (
    "SELECT e.session_id, e.event_id, e.span_id FROM event_keys e JOIN ("
    "SELECT DISTINCT session_id, causation_id FROM stage_events WHERE causation_id IS NOT NULL) k "
    "ON e.session_id = k.session_id AND e.event_id = k.causation_id"
)
PRIOR_MESSAGES = (
    "SELECT m.session_id, m.message_id, m.span_id FROM messages m JOIN ("
    "SELECT session_id, message_id AS mid FROM stage_events WHERE message_id IS NOT NULL "
    "UNION SELECT session_id, reply_to FROM stage_events WHERE reply_to IS NOT NULL) k "
    "ON m.session_id = k.session_id AND m.message_id = k.mid"
)


async def load_prior(tx: Tx, records: Sequence[EventRecord]) -> PriorState:
    """The projection state the staged batch touches, read inside the batch's transaction."""
    prior = PriorState()
    for row in await tx.fetch(PRIOR_SPANS):
        span = span_from_row(row)
        prior.spans[(span.session_id, span.span_id)] = span
    for row in await tx.fetch(PRIOR_LANES):
        prior.lanes[(row[0], row[1], row[2])] = row[3]
    for row in await tx.fetch(PRIOR_OPEN_SIBLINGS):
        prior.open_siblings.setdefault((row[0], row[1]), {})[row[2]] = int(row[3])
    if any(r.parent_agent_id for r in records):
        for row in await tx.fetch(PRIOR_SPAWN_SPANS):
            prior.agent_spawn_spans[(row[0], row[1])] = row[2]
    if any(r.causation_id for r in records):
        for row in await tx.fetch(PRIOR_CAUSES):
            prior.event_spans[(row[0], row[1])] = row[2]
    if any(r.message_id or r.reply_to for r in records):
        for row in await tx.fetch(PRIOR_MESSAGES):
            prior.message_spans[(row[0], row[1])] = row[2]
    return prior


async def apply_plan(tx: Tx, dialect: Dialect, plan: ProjectionPlan) -> None:
    """Upserts the projection rows of a batch: one statement per table."""
    sql = _sql(dialect)
    steps: list[tuple[str, Sequence[Sequence[object]]]] = [
        (sql.sessions, plan.sessions),
        (sql.agents, plan.agents),
        (sql.message_counts, plan.message_counts),
        (sql.spans, plan.spans),
        (sql.lanes, plan.lanes),
        (sql.relationships, plan.relationships),
        (sql.messages, plan.messages),
        (sql.performance, plan.performance),
        (sql.breakdowns, plan.breakdowns),
        (sql.facts, plan.facts),
    ]
    for statement, rows in steps:
        if not rows:
            continue
        if dialect.is_postgres:
            await tx.execute(statement, orjson.dumps(rows).decode())
        else:
            await tx.executemany(statement, rows)
    if plan.sessions:
        if dialect.is_postgres:
            await tx.execute(sql.agent_count, plan.session_ids)
        else:
            await tx.executemany(sql.agent_count, [(sid,) for sid in plan.session_ids])


def unique_by_seq(records: Sequence[EventRecord]) -> list[EventRecord]:
    """The records with one per stream sequence (a fetch may hold a redelivery of a message)."""
    seen: set[int] = set()
    out = []
    for record in records:
        if record.seq not in seen:
            seen.add(record.seq)
            out.append(record)
    return out


async def write_events(backend: StoreBackend, records: Sequence[EventRecord]) -> WriteResult:
    """Stores a batch and its projections in one transaction; idempotent."""
    started = time.perf_counter()
    batch = unique_by_seq(records)
    await backend.prepare(batch)
    async with backend.transaction() as tx:
        inserted_seqs = set(await backend.insert_events(tx, batch))
        inserted = [r for r in batch if r.seq in inserted_seqs]
        if inserted:
            prior = await load_prior(tx, inserted)
            await apply_plan(tx, backend.dialect, plan_projections(inserted, prior))
    return WriteResult(
        inserted=inserted, duplicates=len(records) - len(inserted), seconds=time.perf_counter() - started
    )


async def write_dead_letters(backend: StoreBackend, letters: Sequence[DeadLetterRecord]) -> int:
    """Stores dead letters not stored yet (keyed by their DLQ stream seq); returns how many."""
    if not letters:
        return 0
    seqs = [letter.seq for letter in letters]
    async with backend.transaction() as tx:
        rows = await tx.fetch(
            "SELECT seq FROM dead_letters WHERE seq >= $1 AND seq <= $2", min(seqs), max(seqs)
        )
        existing = {int(r[0]) for r in rows}
        fresh: dict[int, DeadLetterRecord] = {}
        for letter in letters:
            if letter.seq not in existing:
                fresh.setdefault(letter.seq, letter)
        if fresh:
            await tx.executemany(_sql(backend.dialect).dead_letters, [x.row() for x in fresh.values()])
    return len(fresh)


async def purge_expired(backend: StoreBackend, now_ms: int, dead_letter_cutoff_ms: float) -> RetentionResult:
    """Deletes expired events (whole partitions where the backend can), then projections.

    Events go one by one as each expires. Performance windows expire with the latest event they
    count. Every other projection of a session (summary, agents, spans, lanes, relationships,
    messages, cost breakdowns) describes the session as a whole and goes when the session's last
    event has expired: indexing those tables by expiry would cost every write an index entry more.
    """
    events, partitions = await backend.purge_events(now_ms)
    d = backend.dialect
    projections = 0
    sessions = 0
    async with backend.transaction() as tx:
        expired = [
            str(r[0])
            for r in await tx.fetch("SELECT session_id FROM sessions WHERE expires_at <= $1", now_ms)
        ]
        if expired:
            ids = d.list_param(expired)
            for table in SESSION_PROJECTIONS:
                projections += await tx.execute(
                    f"DELETE FROM {table} WHERE {d.in_list('session_id', '$1')}",  # noqa: S608
                    ids,
                )
            sessions = await tx.execute(f"DELETE FROM sessions WHERE {d.in_list('session_id', '$1')}", ids)  # noqa: S608
        projections += await tx.execute("DELETE FROM performance_snapshots WHERE expires_at <= $1", now_ms)
        dead = await tx.execute("DELETE FROM dead_letters WHERE received_at < $1", dead_letter_cutoff_ms)
    return RetentionResult(
        events=events, partitions=partitions, sessions=sessions, projections=projections, dead_letters=dead
    )


SESSION_PROJECTIONS = (
    "agents",
    "spans",
    "span_lanes",
    "relationships",
    "messages",
    "cost_breakdowns",
    "performance_snapshots",
    "session_facts",
)
