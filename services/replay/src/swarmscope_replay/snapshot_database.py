"""Which snapshot store a URL names: the factory lives here, apart from the interface
(`snapshots.py`) both backends implement, so the interface module imports neither backend and no
import cycle runs through it (as the store service's `database.py` does for its backends)."""

from __future__ import annotations

from swarmscope_replay.snapshots import SnapshotStore


def open_snapshot_store(url: str) -> SnapshotStore:
    """The store for a URL: `postgresql://…` (tables in that database) or `sqlite:///<path>`."""
    # Imported on demand: a replica on SQLite never loads the Postgres driver, and the other way round.
    if url.startswith(("postgresql://", "postgres://")):
        from swarmscope_replay.postgres_snapshots import PostgresSnapshotStore

        return PostgresSnapshotStore(url)
    if url.startswith("sqlite:///"):
        from swarmscope_replay.sqlite_snapshots import SqliteSnapshotStore

        return SqliteSnapshotStore(url[len("sqlite:///") :])
    raise ValueError(f"unsupported snapshot database URL {url!r}: use sqlite:///<path> or postgresql://…")
