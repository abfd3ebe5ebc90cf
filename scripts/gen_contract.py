"""Regenerates docs/contract/*.schema.json from libs/schema (`make contract`)."""

from __future__ import annotations

from pathlib import Path

from swarmscope_schema.json_schema import documents

OUT = Path(__file__).resolve().parent.parent / "docs" / "contract"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in documents().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
