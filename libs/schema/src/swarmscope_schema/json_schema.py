"""JSON Schema documents of the contract, generated from the models (docs/contract/)."""

from __future__ import annotations

import json
from typing import Any

from swarmscope_schema.events import StoredEvent, TraceEvent
from swarmscope_schema.taxonomy import PAYLOAD_MODELS

SCHEMA_ID_BASE = "https://swarmscope.dev/contract/v1"


def event_schema() -> dict[str, Any]:
    """The wire event's JSON Schema, with a payload schema per canonical type under $defs."""
    schema = TraceEvent.model_json_schema(mode="validation")
    schema["$id"] = f"{SCHEMA_ID_BASE}/trace-event.json"
    schema["title"] = "TraceEvent"
    defs = schema.setdefault("$defs", {})
    payloads: dict[str, Any] = {}
    for event_type, model in PAYLOAD_MODELS.items():
        payload_schema = model.model_json_schema(mode="validation", by_alias=True)
        for name, sub in payload_schema.pop("$defs", {}).items():
            defs.setdefault(name, sub)
        payloads[str(event_type)] = payload_schema
    schema["x-payloads"] = payloads
    return schema


def stored_event_schema() -> dict[str, Any]:
    """The stored event's JSON Schema (what the API returns)."""
    schema = StoredEvent.model_json_schema(mode="serialization")
    schema["$id"] = f"{SCHEMA_ID_BASE}/stored-event.json"
    return schema


def documents() -> dict[str, str]:
    """File name → JSON text of every generated contract document."""
    return {
        "trace-event.schema.json": json.dumps(event_schema(), indent=2, sort_keys=True) + "\n",
        "stored-event.schema.json": json.dumps(stored_event_schema(), indent=2, sort_keys=True) + "\n",
    }
