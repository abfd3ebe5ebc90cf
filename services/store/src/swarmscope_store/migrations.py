"""Numbered SQL migrations per backend (`migrations/<backend>/NNNN_name.sql`).

Each backend applies the files it has not applied yet, in order, each in its own transaction
together with its row in `schema_migrations`, so a migration is applied entirely or not at all and
running `python -m swarmscope_store migrate` again changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swarmscope_store.backend import StoreBackend

_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.sql$")

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_for(backend: str) -> list[Migration]:
    """The migrations of a backend ("postgres" or "sqlite"), by version."""
    folder = resources.files("swarmscope_store").joinpath("migrations", backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {backend} migrations share a version number: {versions}")
    return found


async def pending_migrations(backend: StoreBackend) -> list[str]:
    """The migrations of the backend not applied to its database yet (all of them when the
    database has no schema_migrations table)."""
    known = migrations_for(backend.name)
    try:
        async with backend.reader() as tx:
            rows = await tx.fetch("SELECT version FROM schema_migrations")
    except Exception:
        return [m.name for m in known]
    applied = {int(row[0]) for row in rows}
    return [m.name for m in known if m.version not in applied]
