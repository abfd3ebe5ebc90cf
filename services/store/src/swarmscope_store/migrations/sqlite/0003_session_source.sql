-- (v1.1) Where a session came from: its first event's metadata.source (sdk-python, otlp, import,
-- …), else 'nats'. Events stored before v1.1 carried no metadata.source, so 'nats' is exactly
-- what their sessions' first events say.
ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'nats';
