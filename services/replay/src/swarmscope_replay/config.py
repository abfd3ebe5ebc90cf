"""Replay settings, from `SWARMSCOPE_*` environment variables (validated at start)."""

from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator

from swarmscope_service.settings import ServiceSettings

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class ReplaySettings(ServiceSettings):
    """Everything the replay service reads from its environment."""

    replay_port: int = Field(default=8103, ge=0, le=65535, description="HTTP port of /healthz etc.")
    database_url: str | None = Field(
        default=None,
        description="the shared database; when postgresql://… replay keeps its tables there",
    )
    replay_database_url: str = Field(
        default="sqlite:///.data/replay.db",
        description="replay's own SQLite file, used unless SWARMSCOPE_DATABASE_URL is Postgres",
    )
    redis_url: str | None = Field(default=None, description="hot-state cache; in-process LRU when unset")
    replay_redis_prefix: str = Field(default="swarmscope:replay:", min_length=1, max_length=200)
    replay_cache_ttl_seconds: int = Field(default=3600, ge=1)
    replay_cache_states: int = Field(default=256, ge=0, description="in-process hot states kept")
    replay_cache_mb: int = Field(default=64, ge=0, description="JSON of in-process hot states kept")
    replay_snapshot_every: int = Field(default=500, ge=1, description="events of a session per snapshot")
    replay_snapshot_compression: bool = Field(default=True, description="zlib-compress snapshots")
    replay_snapshot_cache_mb: int = Field(
        default=256, ge=0, description="decoded snapshots kept in memory (counted by their JSON size)"
    )
    replay_active_sessions: int = Field(default=256, ge=1, description="session states kept by the consumer")
    replay_store_timeout_seconds: float = Field(default=10.0, gt=0)
    replay_expression_workers: int = Field(default=2, ge=1, le=32)
    replay_expression_timeout_seconds: float = Field(
        default=1.0, gt=0, le=60, description="longest a single CEL evaluation may run"
    )
    replay_scan_timeout_seconds: float = Field(
        default=60.0, gt=0, description="longest a breakpoint search may run"
    )
    replay_expression_memory_mb: int = Field(default=1024, ge=128, description="address space of a worker")
    replay_max_concurrent_replays: int = Field(default=8, ge=1)
    replay_gc_freeze_seconds: float = Field(
        default=10.0, gt=0, description="how often long-lived objects are moved out of the collector's way"
    )
    replay_compare_max_events: int = Field(default=5000, ge=10, description="events aligned per session")
    replay_chunk_cache_mb: int = Field(
        default=256, ge=0, description="decoded snapshot chunks kept in memory (counted by their JSON size)"
    )
    replay_partitions: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="sessions split into this many partitions held by leases (0: one replica folds all)",
    )
    replay_ordinal: int | None = Field(
        default=None,
        ge=0,
        le=1023,
        description="this replica's number (its durable: replay or replay-<n>); unset: the lowest free "
        "one is leased when partitions are on, else 0",
    )
    replay_replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        min_length=1,
        max_length=200,
        description="this replica's name in the partition leases (unique per process)",
    )
    replay_lease_seconds: float = Field(
        default=10.0, ge=1.0, le=300.0, description="a dead replica's partitions are taken after this long"
    )
    replay_takeover_window_hours: float = Field(
        default=1.0,
        gt=0,
        description="sessions active this recently are caught up at once when their partition is taken over",
    )
    replay_durable_idle_hours: float = Field(
        default=1.0, gt=0, description="a replica durable beyond replay-0 unused this long is deleted"
    )

    @field_validator("replay_database_url")
    @classmethod
    def _supported_url(cls, value: str) -> str:
        if value.startswith("sqlite:///") or value.startswith(POSTGRES_SCHEMES):
            return value
        raise ValueError("use sqlite:///<path> or postgresql://…")

    def snapshot_database_url(self) -> str:
        """Where snapshots live: the shared Postgres when there is one, else replay's SQLite file."""
        if self.database_url and self.database_url.startswith(POSTGRES_SCHEMES):
            return self.database_url
        return self.replay_database_url
