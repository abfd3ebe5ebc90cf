-- (v1.1) session_facts: what each session can be searched by besides its summary (the agent types,
-- tools, models and error types its events stated; SESSION_ATTRIBUTES in swarmscope_schema). One
-- row per (session, attribute, value); the sessions search finds sessions by (kind, value) with
-- the second index, and the write path inserts with ON CONFLICT DO NOTHING on the primary key.
-- Sessions go with their other projections (retention). Sessions stored before this migration are
-- backfilled from the projections that already name those values, and error types from events.

CREATE TABLE session_facts (
    session_id  text    NOT NULL,
    kind        text    NOT NULL,
    value       text    NOT NULL,
    first_seq   bigint  NOT NULL,
    PRIMARY KEY (session_id, kind, value)
);
CREATE INDEX session_facts_kind_value ON session_facts (kind, value, session_id);

-- Time range and cost searches over the summaries.
CREATE INDEX sessions_start_time ON sessions (start_time);
CREATE INDEX sessions_cost ON sessions (cost);

INSERT INTO session_facts (session_id, kind, value, first_seq)
SELECT session_id, 'agent_type', left(agent_type, 200), min(first_seq)
FROM agents WHERE agent_type IS NOT NULL AND agent_type <> ''
GROUP BY session_id, left(agent_type, 200)
ON CONFLICT DO NOTHING;

-- A span's label is "tool_call: <tool>" (projections.span_label).
INSERT INTO session_facts (session_id, kind, value, first_seq)
SELECT session_id, 'tool', left(substring(label from 12), 200), min(start_seq)
FROM spans WHERE type = 'tool_call' AND label LIKE 'tool_call: %'
GROUP BY session_id, left(substring(label from 12), 200)
ON CONFLICT DO NOTHING;

INSERT INTO session_facts (session_id, kind, value, first_seq)
SELECT b.session_id, 'model', left(b.key, 200), s.first_seq
FROM cost_breakdowns b JOIN sessions s ON s.session_id = b.session_id
WHERE b.dimension = 'model'
ON CONFLICT DO NOTHING;

-- A body holding a NUL escape cannot become jsonb: such (rare) events are left out.
INSERT INTO session_facts (session_id, kind, value, first_seq)
SELECT session_id, 'error_type', left(error_type, 200), min(seq) FROM (
    SELECT session_id, seq, convert_from(body, 'UTF8')::jsonb #>> '{data,error_type}' AS error_type
    FROM events
    WHERE (type IN ('error', 'task_fail') OR phase = 'error')
      AND strpos(convert_from(body, 'UTF8'), '\u0000') = 0
) e
WHERE error_type IS NOT NULL AND error_type <> ''
GROUP BY session_id, left(error_type, 200)
ON CONFLICT DO NOTHING;
