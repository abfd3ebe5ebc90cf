"""(v1.1) Where an event came from: the `metadata.source` tokens producers set (CONTRACT §1,
cross-slice agreement 3) and the session summary's `source`, which is its first event's."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

SOURCE_KEY = "source"  # the key under an event's `metadata`
MAX_SOURCE_LENGTH = 64


class EventSource(StrEnum):
    """The producers swarmscope ships or receives from. Absent = a raw NATS producer."""

    SDK_PYTHON = "sdk-python"
    SDK_TS = "sdk-ts"
    OTLP = "otlp"
    CLAUDE_CODE = "claude-code"
    HTTP = "http"  # POST /api/v1/ingest
    IMPORT = "import"  # POST /api/v1/import


# A session whose first event names no source was published straight to NATS.
DEFAULT_SESSION_SOURCE = "nats"


def event_source(event: Mapping[str, Any]) -> str:
    """The source of an event as a session summary reports it: its `metadata.source` when that is
    a short non-empty text (producers may use tokens of their own), else `nats`."""
    metadata = event.get("metadata")
    if isinstance(metadata, Mapping):
        value = metadata.get(SOURCE_KEY)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_SOURCE_LENGTH]
    return DEFAULT_SESSION_SOURCE
