"""Settings every service shares, read from `SWARMSCOPE_*` environment variables (CONTRACT §7).

Each service subclasses `ServiceSettings` in its own config.py. Settings are frozen and validated at
start: a bad value stops the service with a message naming the variable, never later mid-stream.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS

DEFAULT_NATS_URL = "nats://127.0.0.1:14222"


class ServiceSettings(BaseSettings):
    """Connection, logging and consumer-loop settings shared by every service."""

    model_config = SettingsConfigDict(env_prefix="SWARMSCOPE_", frozen=True, extra="ignore")

    nats_url: str = Field(default=DEFAULT_NATS_URL, description="NATS server URL(s), comma-separated")
    http_host: str = Field(default="127.0.0.1", description="address the HTTP endpoints bind to")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    stream_replicas: int = Field(default=1, ge=1, le=5, description="JetStream replicas (R3 in prod)")
    dedup_window_seconds: float = Field(default=120.0, ge=1.0, description="JetStream duplicate window")
    stream_max_age_hours: float = Field(default=0.0, ge=0.0, description="0 keeps messages forever")
    batch_size: int = Field(default=500, ge=1, le=10_000, description="messages per pull fetch")
    fetch_wait_seconds: float = Field(default=0.25, gt=0.0, le=30.0, description="idle fetch wait")
    max_attempts: int = Field(
        default=5, ge=1, description="deliveries before a poison message is dead-lettered"
    )
    shutdown_grace_seconds: float = Field(default=20.0, gt=0.0)
    ack_wait_seconds: float = Field(
        default=5.0,
        ge=1.0,
        le=300.0,
        description="seconds a durable waits for a delivery's ack before redelivering it (after a "
        "consumer crash); batches that take longer are kept with in-progress acks",
    )
    # Redaction (CONTRACT "Data handling"): ingest applies it to events, every consumer to the dead
    # letters it writes, the gateway to exports, the store to dead-letter previews.
    redact_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_REDACT_KEYS,
        description="comma-separated key patterns whose values are replaced by [REDACTED]; empty = none",
    )
    redact_values: bool = Field(
        default=True, description="also replace secrets found inside strings (tokens, keys, passwords)"
    )
    dlq_keep_original: bool = Field(
        default=False,
        description="keep dead letters unredacted, secrets included (a risk: docs/operations.md)",
    )

    @field_validator("redact_keys", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    def nats_servers(self) -> list[str]:
        """The NATS URLs as a list."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_type: type[SettingsT]) -> SettingsT:
    """Reads settings from the environment; on a bad value prints what is wrong and exits 2."""
    try:
        return settings_type()
    except ValidationError as exc:
        lines = [f"invalid configuration for {settings_type.__name__}:"]
        prefix = str(settings_type.model_config.get("env_prefix", "")).upper()
        for error in exc.errors():
            name = prefix + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  {name}: {error['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
