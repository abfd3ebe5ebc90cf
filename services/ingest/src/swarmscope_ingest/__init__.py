"""The ingest service: validates, normalizes and redacts raw trace events, then publishes them canonical."""
