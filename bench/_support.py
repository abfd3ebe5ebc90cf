"""What several benchmarks share: a throwaway Postgres database and a process's CPU time.

Not a benchmark itself (bench/summary.py skips files starting with `_`); the scripts import it as
`_support`, since `python bench/<name>.py` puts bench/ first on the import path.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ADMIN_URL = os.environ.get("SWARMSCOPE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def postgres_database(prefix: str = "swarmscope_bench") -> AsyncIterator[str]:
    """The URL of a new, empty database on ADMIN_URL's server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    parts = urlsplit(ADMIN_URL)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (its threads included) has used; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
