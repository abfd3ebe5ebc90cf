"""Ingest settings: the shared service settings (what to redact among them) plus the HTTP port."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from swarmscope_service.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """`SWARMSCOPE_*` settings of the ingest service."""

    model_config = SettingsConfigDict(env_prefix="SWARMSCOPE_", frozen=True, extra="ignore")

    ingest_port: int = Field(default=8101, ge=0, le=65535, description="HTTP port of /healthz etc.")
    publish_timeout_seconds: float = Field(
        default=10.0, gt=0.0, le=120.0, description="bound on waiting for TRACES to acknowledge a batch"
    )

    ingest_concurrency: int = Field(
        default=1,
        ge=1,
        le=16,
        description="batch loops per process on the shared durable; above 1, batches may overtake "
        "each other, so TRACES order can differ from TRACES_RAW order across batch boundaries",
    )
    ingest_fetch_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=64 * 1024,
        description="bytes one fetch brings at most (batch messages carry many events each); the "
        "number of messages fetched follows the sizes seen, up to SWARMSCOPE_BATCH_SIZE",
    )
    ingest_lag_interval_seconds: float = Field(
        default=5.0, gt=0.0, description="how often the ingest durable's pending counts are read"
    )
