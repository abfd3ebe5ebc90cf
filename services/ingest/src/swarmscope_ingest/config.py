"""Ingest settings: the shared service settings plus the HTTP port and what to redact."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS
from swarmscope_service.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """`SWARMSCOPE_*` settings of the ingest service."""

    model_config = SettingsConfigDict(env_prefix="SWARMSCOPE_", frozen=True, extra="ignore")

    ingest_port: int = Field(default=8101, ge=0, le=65535, description="HTTP port of /healthz etc.")
    redact_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_REDACT_KEYS,
        description="comma-separated key patterns whose values are replaced by [REDACTED]; empty = none",
    )
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

    @field_validator("redact_keys", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value
