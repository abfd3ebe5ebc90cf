"""Settings of the store service (`SWARMSCOPE_*`), validated at start."""

from __future__ import annotations

from pydantic import Field, field_validator

from swarmscope_service.settings import ServiceSettings

DEFAULT_DATABASE_URL = "sqlite:///.data/swarmscope.db"


class StoreSettings(ServiceSettings):
    """What the store reads from the environment on top of the shared settings."""

    store_port: int = Field(default=8102, ge=0, le=65535, description="SWARMSCOPE_STORE_PORT")
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, description="sqlite:///path (embedded default) or postgresql://…"
    )
    store_migrate_on_start: bool = Field(
        default=True, description="apply pending migrations at start (0 in production: run `migrate`)"
    )
    retention_hours: float = Field(
        default=168.0, gt=0, description="default event retention when metadata.retention is absent"
    )
    retention_interval_seconds: float = Field(
        default=60.0, gt=0, description="how often expired events are deleted"
    )
    store_batch_size: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="messages per fetch on the `store` durable: a fetch returns what is there, so a "
        "big batch costs no latency when idle and amortizes the commit under load",
    )
    store_pool_size: int = Field(default=8, ge=2, le=100, description="Postgres connections")
    store_lag_interval_seconds: float = Field(
        default=5.0, gt=0, description="how often consumer pending counts are read from JetStream"
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            return value
        raise ValueError("use sqlite:///path or postgresql://user@host:port/db")
