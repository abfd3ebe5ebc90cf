-- swarmscope store, Postgres schema v1.
--
-- events is partitioned by RANGE on expires_at (epoch ms), one partition per UTC day of expiry,
-- created by the store on demand (events_pYYYYMMDD). Partitioning by *expiry* rather than by
-- arrival means a partition whose upper bound has passed holds only expired rows, so retention
-- drops it whole without looking inside; only the one partition straddling "now" needs a DELETE.
--
-- A unique constraint on a partitioned table must contain the partition key, so (session_id,
-- event_id) and seq cannot be unique on events itself. Idempotency lives in event_keys, a narrow,
-- unpartitioned table: a batch is inserted into event_keys with ON CONFLICT DO NOTHING first, and
-- only the rows that made it in are copied into events, in the same transaction. event_keys also
-- answers "which span does event id X belong to" (causation links) and "where is event X"
-- (event-by-id lookups find the seq and the partition key there).

CREATE TABLE event_keys (
    session_id  text    NOT NULL,
    event_id    text    NOT NULL,
    seq         bigint  NOT NULL,
    span_id     text    NOT NULL,
    expires_at  bigint  NOT NULL,
    PRIMARY KEY (session_id, event_id),
    UNIQUE (seq)
);
CREATE INDEX event_keys_expires_at ON event_keys (expires_at);

CREATE TABLE events (
    seq         bigint            NOT NULL,
    session_id  text              NOT NULL,
    event_id    text              NOT NULL,
    agent_id    text,
    type        text              NOT NULL,
    phase       text              NOT NULL,
    span_id     text              NOT NULL,
    ts          double precision  NOT NULL,
    expires_at  bigint            NOT NULL,
    body        bytea             NOT NULL
) PARTITION BY RANGE (expires_at);
CREATE INDEX events_session_seq ON events (session_id, seq);
CREATE INDEX events_session_agent_seq ON events (session_id, agent_id, seq);
CREATE INDEX events_session_type_seq ON events (session_id, type, seq);

CREATE TABLE sessions (
    session_id       text              PRIMARY KEY,
    name             text,
    objective        text,
    status           text              NOT NULL DEFAULT 'active',
    status_seq       bigint            NOT NULL DEFAULT 0,
    first_seq        bigint            NOT NULL,
    last_seq         bigint            NOT NULL,
    start_time       double precision  NOT NULL,
    end_time         double precision,
    last_event_time  double precision  NOT NULL,
    event_count      bigint            NOT NULL DEFAULT 0,
    agent_count      bigint            NOT NULL DEFAULT 0,
    error_count      bigint            NOT NULL DEFAULT 0,
    tokens           bigint            NOT NULL DEFAULT 0,
    cost             double precision  NOT NULL DEFAULT 0,
    expires_at       bigint            NOT NULL
);
CREATE INDEX sessions_first_seq ON sessions (first_seq DESC);
CREATE INDEX sessions_status_first_seq ON sessions (status, first_seq DESC);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE agents (
    session_id         text              NOT NULL,
    agent_id           text              NOT NULL,
    agent_type         text,
    name               text,
    parent_agent_id    text,
    status             text,
    status_seq         bigint            NOT NULL DEFAULT 0,
    current_task       text,
    task_seq           bigint            NOT NULL DEFAULT 0,
    spawn_span_id      text,
    first_seq          bigint            NOT NULL,
    last_seq           bigint            NOT NULL,
    first_time         double precision  NOT NULL,
    last_time          double precision  NOT NULL,
    event_count        bigint            NOT NULL DEFAULT 0,
    error_count        bigint            NOT NULL DEFAULT 0,
    tool_calls         bigint            NOT NULL DEFAULT 0,
    llm_calls          bigint            NOT NULL DEFAULT 0,
    messages_sent      bigint            NOT NULL DEFAULT 0,
    messages_received  bigint            NOT NULL DEFAULT 0,
    tokens             bigint            NOT NULL DEFAULT 0,
    cost               double precision  NOT NULL DEFAULT 0,
    duration_ms        double precision  NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, agent_id)
);

CREATE TABLE spans (
    session_id    text              NOT NULL,
    span_id       text              NOT NULL,
    agent_id      text,
    parent_id     text,
    parent_key    text              NOT NULL,
    type          text              NOT NULL,
    label         text              NOT NULL,
    status        text              NOT NULL,
    start_seq     bigint            NOT NULL,
    end_seq       bigint            NOT NULL,
    start_time    double precision  NOT NULL,
    end_time      double precision,
    duration_ms   double precision,
    event_count   bigint            NOT NULL,
    error_count   bigint            NOT NULL,
    end_event_id  text              NOT NULL,
    expires_at    bigint            NOT NULL,
    PRIMARY KEY (session_id, span_id)
);
CREATE INDEX spans_session_start_seq ON spans (session_id, start_seq);
CREATE INDEX spans_open_siblings ON spans (session_id, parent_key) WHERE status = 'open';

CREATE TABLE span_lanes (
    session_id    text    NOT NULL,
    agent_key     text    NOT NULL,
    parent_key    text    NOT NULL,
    last_span_id  text    NOT NULL,
    last_seq      bigint  NOT NULL,
    PRIMARY KEY (session_id, agent_key, parent_key)
);

CREATE TABLE relationships (
    session_id  text    NOT NULL,
    node_kind   text    NOT NULL,
    source_id   text    NOT NULL,
    target_id   text    NOT NULL,
    rel_type    text    NOT NULL,
    count       bigint  NOT NULL,
    first_seq   bigint  NOT NULL,
    expires_at  bigint  NOT NULL,
    PRIMARY KEY (session_id, node_kind, source_id, target_id, rel_type)
);

CREATE TABLE messages (
    session_id  text    NOT NULL,
    message_id  text    NOT NULL,
    span_id     text    NOT NULL,
    from_agent  text,
    seq         bigint  NOT NULL,
    expires_at  bigint  NOT NULL,
    PRIMARY KEY (session_id, message_id)
);

CREATE TABLE performance_snapshots (
    session_id      text              NOT NULL,
    window_start    double precision  NOT NULL,
    events          bigint            NOT NULL,
    errors          bigint            NOT NULL,
    duration_sum    double precision  NOT NULL,
    duration_count  bigint            NOT NULL,
    duration_max    double precision,
    tokens          bigint            NOT NULL,
    input_tokens    bigint            NOT NULL,
    output_tokens   bigint            NOT NULL,
    cost            double precision  NOT NULL,
    expires_at      bigint            NOT NULL,
    PRIMARY KEY (session_id, window_start)
);
CREATE INDEX performance_snapshots_expires_at ON performance_snapshots (expires_at);

CREATE TABLE cost_breakdowns (
    session_id     text              NOT NULL,
    dimension      text              NOT NULL,
    key            text              NOT NULL,
    events         bigint            NOT NULL,
    duration_ms    double precision  NOT NULL,
    tokens         bigint            NOT NULL,
    input_tokens   bigint            NOT NULL,
    output_tokens  bigint            NOT NULL,
    cost           double precision  NOT NULL,
    PRIMARY KEY (session_id, dimension, key)
);

CREATE TABLE dead_letters (
    seq          bigint            PRIMARY KEY,
    reason       text              NOT NULL,
    subject      text,
    error        text,
    source       text,
    received_at  double precision  NOT NULL,
    size         bigint            NOT NULL,
    payload      bytea             NOT NULL
);
CREATE INDEX dead_letters_reason_seq ON dead_letters (reason, seq DESC);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);
