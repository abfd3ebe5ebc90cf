"""docs/contract/ is generated from the models; a stale copy fails here."""

from __future__ import annotations

from pathlib import Path

from swarmscope_schema.json_schema import documents

CONTRACT_DIR = Path(__file__).resolve().parents[3] / "docs" / "contract"


def test_generated_json_schema_is_current() -> None:
    for name, text in documents().items():
        path = CONTRACT_DIR / name
        assert path.exists(), f"{path} missing: run `make contract`"
        assert path.read_text() == text, f"{path} is stale: run `make contract`"


def test_event_schema_lists_a_payload_per_type() -> None:
    import json

    schema = json.loads(documents()["trace-event.schema.json"])
    assert "task_assignment" in schema["x-payloads"]
    assert set(schema["required"]) >= {"id", "timestamp", "session_id", "type"}
