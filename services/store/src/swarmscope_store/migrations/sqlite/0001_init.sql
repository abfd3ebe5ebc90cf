-- swarmscope store, SQLite schema v1 (the embedded default; SQLite 3.40: JSON1, no JSONB).
--
-- events holds each event once: seq (the TRACES stream sequence) is the rowid, and
-- (session_id, event_id) is unique, so INSERT OR IGNORE makes a redelivered batch or a duplicate
-- id change nothing. The event_keys view gives the write path the same name for "which span does
-- event id X belong to" as on Postgres, where it is a separate dedupe table. Indexes are created
-- with separate statements: inline INDEX clauses are not SQLite.

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    session_id  TEXT     NOT NULL,
    event_id    TEXT     NOT NULL,
    agent_id    TEXT,
    type        TEXT     NOT NULL,
    phase       TEXT     NOT NULL,
    span_id     TEXT     NOT NULL,
    ts          REAL     NOT NULL,
    expires_at  INTEGER  NOT NULL,
    body        BLOB     NOT NULL,
    UNIQUE (session_id, event_id)
);
CREATE INDEX events_session_seq ON events (session_id, seq);
CREATE INDEX events_session_agent_seq ON events (session_id, agent_id, seq);
CREATE INDEX events_session_type_seq ON events (session_id, type, seq);
CREATE INDEX events_expires_at ON events (expires_at);

CREATE VIEW event_keys AS SELECT session_id, event_id, seq, span_id, expires_at FROM events;

CREATE TABLE sessions (
    session_id       TEXT     PRIMARY KEY,
    name             TEXT,
    objective        TEXT,
    status           TEXT     NOT NULL DEFAULT 'active',
    status_seq       INTEGER  NOT NULL DEFAULT 0,
    first_seq        INTEGER  NOT NULL,
    last_seq         INTEGER  NOT NULL,
    start_time       REAL     NOT NULL,
    end_time         REAL,
    last_event_time  REAL     NOT NULL,
    event_count      INTEGER  NOT NULL DEFAULT 0,
    agent_count      INTEGER  NOT NULL DEFAULT 0,
    error_count      INTEGER  NOT NULL DEFAULT 0,
    tokens           INTEGER  NOT NULL DEFAULT 0,
    cost             REAL     NOT NULL DEFAULT 0,
    expires_at       INTEGER  NOT NULL
);
CREATE INDEX sessions_first_seq ON sessions (first_seq DESC);
CREATE INDEX sessions_status_first_seq ON sessions (status, first_seq DESC);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE agents (
    session_id         TEXT     NOT NULL,
    agent_id           TEXT     NOT NULL,
    agent_type         TEXT,
    name               TEXT,
    parent_agent_id    TEXT,
    status             TEXT,
    status_seq         INTEGER  NOT NULL DEFAULT 0,
    current_task       TEXT,
    task_seq           INTEGER  NOT NULL DEFAULT 0,
    spawn_span_id      TEXT,
    first_seq          INTEGER  NOT NULL,
    last_seq           INTEGER  NOT NULL,
    first_time         REAL     NOT NULL,
    last_time          REAL     NOT NULL,
    event_count        INTEGER  NOT NULL DEFAULT 0,
    error_count        INTEGER  NOT NULL DEFAULT 0,
    tool_calls         INTEGER  NOT NULL DEFAULT 0,
    llm_calls          INTEGER  NOT NULL DEFAULT 0,
    messages_sent      INTEGER  NOT NULL DEFAULT 0,
    messages_received  INTEGER  NOT NULL DEFAULT 0,
    tokens             INTEGER  NOT NULL DEFAULT 0,
    cost               REAL     NOT NULL DEFAULT 0,
    duration_ms        REAL     NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, agent_id)
);

CREATE TABLE spans (
    session_id    TEXT     NOT NULL,
    span_id       TEXT     NOT NULL,
    agent_id      TEXT,
    parent_id     TEXT,
    parent_key    TEXT     NOT NULL,
    type          TEXT     NOT NULL,
    label         TEXT     NOT NULL,
    status        TEXT     NOT NULL,
    start_seq     INTEGER  NOT NULL,
    end_seq       INTEGER  NOT NULL,
    start_time    REAL     NOT NULL,
    end_time      REAL,
    duration_ms   REAL,
    event_count   INTEGER  NOT NULL,
    error_count   INTEGER  NOT NULL,
    end_event_id  TEXT     NOT NULL,
    expires_at    INTEGER  NOT NULL,
    PRIMARY KEY (session_id, span_id)
);
CREATE INDEX spans_session_start_seq ON spans (session_id, start_seq);
CREATE INDEX spans_open_siblings ON spans (session_id, parent_key) WHERE status = 'open';

CREATE TABLE span_lanes (
    session_id    TEXT     NOT NULL,
    agent_key     TEXT     NOT NULL,
    parent_key    TEXT     NOT NULL,
    last_span_id  TEXT     NOT NULL,
    last_seq      INTEGER  NOT NULL,
    PRIMARY KEY (session_id, agent_key, parent_key)
);

CREATE TABLE relationships (
    session_id  TEXT     NOT NULL,
    node_kind   TEXT     NOT NULL,
    source_id   TEXT     NOT NULL,
    target_id   TEXT     NOT NULL,
    rel_type    TEXT     NOT NULL,
    count       INTEGER  NOT NULL,
    first_seq   INTEGER  NOT NULL,
    expires_at  INTEGER  NOT NULL,
    PRIMARY KEY (session_id, node_kind, source_id, target_id, rel_type)
);

CREATE TABLE messages (
    session_id  TEXT     NOT NULL,
    message_id  TEXT     NOT NULL,
    span_id     TEXT     NOT NULL,
    from_agent  TEXT,
    seq         INTEGER  NOT NULL,
    expires_at  INTEGER  NOT NULL,
    PRIMARY KEY (session_id, message_id)
);

CREATE TABLE performance_snapshots (
    session_id      TEXT     NOT NULL,
    window_start    REAL     NOT NULL,
    events          INTEGER  NOT NULL,
    errors          INTEGER  NOT NULL,
    duration_sum    REAL     NOT NULL,
    duration_count  INTEGER  NOT NULL,
    duration_max    REAL,
    tokens          INTEGER  NOT NULL,
    input_tokens    INTEGER  NOT NULL,
    output_tokens   INTEGER  NOT NULL,
    cost            REAL     NOT NULL,
    expires_at      INTEGER  NOT NULL,
    PRIMARY KEY (session_id, window_start)
);
CREATE INDEX performance_snapshots_expires_at ON performance_snapshots (expires_at);

CREATE TABLE cost_breakdowns (
    session_id     TEXT     NOT NULL,
    dimension      TEXT     NOT NULL,
    key            TEXT     NOT NULL,
    events         INTEGER  NOT NULL,
    duration_ms    REAL     NOT NULL,
    tokens         INTEGER  NOT NULL,
    input_tokens   INTEGER  NOT NULL,
    output_tokens  INTEGER  NOT NULL,
    cost           REAL     NOT NULL,
    PRIMARY KEY (session_id, dimension, key)
);

CREATE TABLE dead_letters (
    seq          INTEGER  PRIMARY KEY,
    reason       TEXT     NOT NULL,
    subject      TEXT,
    error        TEXT,
    source       TEXT,
    received_at  REAL     NOT NULL,
    size         INTEGER  NOT NULL,
    payload      BLOB     NOT NULL
);
CREATE INDEX dead_letters_reason_seq ON dead_letters (reason, seq DESC);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);
