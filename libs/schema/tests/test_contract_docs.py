"""docs/contract/ is generated from libs/schema; a stale copy fails here."""

from __future__ import annotations

import json
from pathlib import Path

from swarmscope_schema.contract_files import HOOK_FIXTURES, SEMANTICS_FIXTURE, documents, frontend_documents
from swarmscope_schema.json_schema import documents as schema_documents

CONTRACT_DIR = Path(__file__).resolve().parents[3] / "docs" / "contract"


def _fixtures() -> dict[str, object]:
    result: dict[str, object] = json.loads((CONTRACT_DIR / HOOK_FIXTURES).read_text())
    return result


def _semantics_fixture() -> dict[str, object]:
    result: dict[str, object] = json.loads((CONTRACT_DIR / SEMANTICS_FIXTURE).read_text())
    return result


def test_generated_contract_files_are_current() -> None:
    for name, text in documents(_fixtures(), _semantics_fixture()).items():
        path = CONTRACT_DIR / name
        assert path.exists(), f"{path} missing: run `make contract`"
        assert path.read_text() == text, f"{path} is stale: run `make contract`"


def test_generated_frontend_modules_are_current() -> None:
    for name, text in frontend_documents().items():
        path = CONTRACT_DIR.parents[1] / name
        assert path.exists(), f"{path} missing: run `make contract`"
        assert path.read_text() == text, f"{path} is stale: run `make contract`"


def test_event_schema_lists_a_payload_per_type() -> None:
    schema = json.loads(schema_documents()["trace-event.schema.json"])
    assert "task_assignment" in schema["x-payloads"]
    assert set(schema["required"]) >= {"id", "timestamp", "session_id", "type"}


def test_alias_table_names_every_alias_with_its_canonical_type() -> None:
    from swarmscope_schema.aliases import ALIASES

    table = json.loads(documents(_fixtures(), _semantics_fixture())["aliases.json"])
    assert table["aliases"] == {name: canonical.value for name, (canonical, _) in ALIASES.items()}
    assert table["aliases"]["task.assigned"] == "task_assignment"


def test_sdk_document_gives_the_message_id_forms() -> None:
    from swarmscope_schema.subjects import raw_batch_msg_id, raw_msg_id

    nats = json.loads(documents(_fixtures(), _semantics_fixture())["sdk.json"])["nats"]
    assert nats["msg_id"].format(session_id="s", event_id="e") == raw_msg_id("s", "e")
    assert nats["batch_msg_id"].format(session_id="s", first_event_id="e", count=3) == raw_batch_msg_id(
        "s", "e", 3
    )
