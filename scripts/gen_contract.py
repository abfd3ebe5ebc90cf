"""Regenerates docs/contract/ (`make contract`): from libs/schema the JSON Schemas and the JSON tables
other languages read (swarmscope_schema.contract_files); from the demo the one swarm story every
test tells, as JSON Lines under fixtures/ (swarmscope_dev.story; here, not in libs/schema, which
must not import the SDK)."""

from __future__ import annotations

import json
from pathlib import Path

from swarmscope.demo import generate_session
from swarmscope_dev.story import FIXTURES_DIR, story_documents
from swarmscope_schema.contract_files import HOOK_FIXTURES, SEMANTICS_FIXTURE, documents, frontend_documents

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "contract"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    fixtures = json.loads((OUT / HOOK_FIXTURES).read_text())
    semantics = json.loads((OUT / SEMANTICS_FIXTURE).read_text())
    for name, text in documents(fixtures, semantics).items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    for name, text in story_documents(generate_session).items():
        (FIXTURES_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {FIXTURES_DIR / name}")
    for path, text in frontend_documents().items():
        (ROOT / path).write_text(text)
        print(f"wrote {ROOT / path}")


if __name__ == "__main__":
    main()
