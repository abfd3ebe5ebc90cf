-- (v1.1) session_facts: what each session can be searched by besides its summary (the agent types,
-- tools, models and error types its events stated; SESSION_ATTRIBUTES in swarmscope_schema). One
-- row per (session, attribute, value); the sessions search finds sessions by (kind, value) with
-- the second index, and the write path inserts with ON CONFLICT DO NOTHING on the primary key.
-- Sessions go with their other projections (retention). Sessions stored before this migration are
-- backfilled from the projections that already name those values, and error types from events.

CREATE TABLE session_facts (
    session_id  TEXT     NOT NULL,
    kind        TEXT     NOT NULL,
    value       TEXT     NOT NULL,
    first_seq   INTEGER  NOT NULL,
    PRIMARY KEY (session_id, kind, value)
);
CREATE INDEX session_facts_kind_value ON session_facts (kind, value, session_id);

-- Time range and cost searches over the summaries.
CREATE INDEX sessions_start_time ON sessions (start_time);
CREATE INDEX sessions_cost ON sessions (cost);

INSERT OR IGNORE INTO session_facts (session_id, kind, value, first_seq)
SELECT session_id, 'agent_type', substr(agent_type, 1, 200), min(first_seq)
FROM agents WHERE agent_type IS NOT NULL AND agent_type <> ''
GROUP BY session_id, substr(agent_type, 1, 200);

-- A span's label is "tool_call: <tool>" (projections.span_label).
INSERT OR IGNORE INTO session_facts (session_id, kind, value, first_seq)
SELECT session_id, 'tool', substr(label, 12, 200), min(start_seq)
FROM spans WHERE type = 'tool_call' AND label LIKE 'tool_call: %'
GROUP BY session_id, substr(label, 12, 200);

INSERT OR IGNORE INTO session_facts (session_id, kind, value, first_seq)
SELECT b.session_id, 'model', substr(b.key, 1, 200), s.first_seq
FROM cost_breakdowns b JOIN sessions s ON s.session_id = b.session_id
WHERE b.dimension = 'model';

INSERT OR IGNORE INTO session_facts (session_id, kind, value, first_seq)
SELECT session_id, 'error_type', substr(error_type, 1, 200), min(seq) FROM (
    SELECT session_id, seq, json_extract(CAST(body AS TEXT), '$.data.error_type') AS error_type
    FROM events WHERE type IN ('error', 'task_fail') OR phase = 'error'
)
WHERE error_type IS NOT NULL AND error_type <> ''
GROUP BY session_id, substr(error_type, 1, 200);
