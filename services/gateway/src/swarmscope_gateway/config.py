"""Gateway settings: the shared service settings plus HTTP, security, limits and live-stream knobs.

Names the contract gives (CONTRACT §7, issue 5) are read as they are: `SWARMSCOPE_API_KEYS`,
`SWARMSCOPE_ALLOWED_ORIGINS`, `SWARMSCOPE_CORS_ORIGINS`, `SWARMSCOPE_REDIS_URL`,
`SWARMSCOPE_GATEWAY_PORT`. Every other knob is `SWARMSCOPE_GATEWAY_*`, so it cannot collide with
another service's setting in a shared environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from swarmscope_gateway.access import ApiKey, parse_api_keys
from swarmscope_service.settings import ServiceSettings

CommaList = Annotated[tuple[str, ...], NoDecode]

# services/gateway/src/swarmscope_gateway/config.py → the checkout's root (meaningless when installed
# as a wheel, where the lookup simply finds nothing).
_REPOSITORY_ROOT = Path(__file__).resolve().parents[4]


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class GatewaySettings(ServiceSettings):
    """`SWARMSCOPE_*` settings of the gateway."""

    model_config = SettingsConfigDict(env_prefix="SWARMSCOPE_", frozen=True, extra="ignore")

    gateway_port: int = Field(default=8000, ge=0, le=65535, description="HTTP port of the API")
    gateway_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve /metrics on this port (no key; keep it reachable only by the scraper) and "
        "not on the API port; unset = /metrics on the API port, needing the `metrics` scope when keys "
        "are configured",
    )

    # -- security
    api_keys: CommaList = Field(
        default=(),
        repr=False,
        description="comma-separated API keys, each `<key>` (every scope) or `<key>:<scope>[+<scope>…]` "
        "with scopes ingest, read, metrics, admin; empty leaves the API open (dev only)",
    )
    gateway_token_secret: str = Field(
        default="",
        repr=False,
        description="HMAC secret of stream tokens; empty derives one from the API keys, so every "
        "replica configured with the same keys accepts the same tokens",
    )
    gateway_token_ttl_seconds: float = Field(
        default=300.0, ge=5.0, le=86_400.0, description="lifetime of a stream token"
    )
    allowed_origins: CommaList = Field(
        default=(), description="origins allowed to open the WebSocket (same origin always is); * = any"
    )
    cors_origins: CommaList = Field(default=(), description="origins allowed by CORS; * = any")
    redis_url: str = Field(default="", description="Redis for shared rate limits; empty = in-process")

    # -- limits
    gateway_max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="largest JSON body (POST /ingest and others)"
    )
    gateway_max_otlp_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="largest OTLP export body, decompressed (the Collector's receiver allows 20 MiB)",
    )
    gateway_max_import_bytes: int = Field(
        default=4 * 1024 * 1024 * 1024, ge=0, description="largest import body, decompressed; 0 = no limit"
    )
    gateway_rate_limit_per_second: float = Field(
        default=100.0, ge=0.0, description="publishing requests per second per API key or client; 0 = off"
    )
    gateway_rate_limit_burst: int = Field(default=200, ge=1, description="token bucket size")
    gateway_request_timeout_seconds: float = Field(default=10.0, gt=0.0, le=300.0)
    gateway_slow_request_timeout_seconds: float = Field(
        default=60.0, gt=0.0, le=600.0, description="breakpoint search, compare, replay and the graph"
    )
    gateway_publish_timeout_seconds: float = Field(default=10.0, gt=0.0, le=120.0)

    # -- live streams
    gateway_batch_size: int = Field(default=50, ge=1, le=5000, description="flush a live batch at N events")
    gateway_batch_ms: float = Field(default=20.0, gt=0.0, le=1000.0, description="… or after this many ms")
    gateway_ring_events: int = Field(
        default=10_000, ge=0, description="recent events kept in memory to resume clients without the store"
    )
    gateway_ring_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    gateway_client_queue_frames: int = Field(
        default=1000, ge=2, description="frames a client may fall behind before it gets resync"
    )
    gateway_client_queue_bytes: int = Field(default=8 * 1024 * 1024, ge=4096)
    gateway_join_buffer_events: int = Field(
        default=20_000, ge=100, description="live events held for a client while its history is sent"
    )
    gateway_heartbeat_seconds: float = Field(default=15.0, gt=0.0, le=300.0)
    gateway_store_catchup_seconds: float = Field(
        default=10.0, gt=0.0, le=300.0, description="how long a resume waits for the store to catch up"
    )
    gateway_history_max_events: int = Field(
        default=100_000, ge=1, description="most events one WebSocket request_history answers"
    )
    gateway_max_ws_message_bytes: int = Field(default=64 * 1024, ge=1024)

    # -- static UI
    gateway_frontend_dist: str = Field(
        default="frontend/dist", description="built web UI served at / when the directory exists"
    )

    @field_validator("api_keys", "allowed_origins", "cors_origins", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("api_keys")
    @classmethod
    def _keys_are_sane(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_api_keys(value)  # its errors name an entry by position, never by its text
        return value

    @model_validator(mode="after")
    def _origins_are_origins(self) -> GatewaySettings:
        for origin in (*self.allowed_origins, *self.cors_origins):
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} must be * or start with http:// or https://")
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def parsed_api_keys(self) -> tuple[ApiKey, ...]:
        """The configured keys with their scopes (see access.py for the syntax)."""
        return parse_api_keys(self.api_keys)

    def frontend_dir(self) -> Path | None:
        """The built UI directory when it exists (it holds index.html), else None. A relative path
        is looked up from the working directory, then from the repository root (a source
        checkout), so `python -m swarmscope_gateway` finds the UI from any directory."""
        path = Path(self.gateway_frontend_dist)
        candidates = [path]
        if not path.is_absolute():
            candidates.append(_REPOSITORY_ROOT / path)
        for candidate in candidates:
            if (candidate / "index.html").is_file():
                return candidate
        return None
