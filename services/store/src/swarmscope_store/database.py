"""Choosing and opening the backend named by SWARMSCOPE_DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging

from swarmscope_service.lifecycle import retry_until_ready
from swarmscope_store.backend import DatabaseUnavailable, StoreBackend
from swarmscope_store.postgres_backend import PostgresBackend
from swarmscope_store.sqlite_backend import SqliteBackend

log = logging.getLogger(__name__)


async def open_backend(url: str, *, pool_size: int = 8) -> StoreBackend:
    """Opens the backend of a `sqlite:///…` or `postgresql://…` URL; raises DatabaseUnavailable."""
    if url.startswith("sqlite:///"):
        sqlite = SqliteBackend(url)
        await sqlite.open()
        return sqlite
    if url.startswith(("postgresql://", "postgres://")):
        postgres = PostgresBackend(url, pool_size=pool_size)
        await postgres.open()
        return postgres
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://…")


async def open_until_ready(
    url: str, stop: asyncio.Event, *, pool_size: int = 8, migrate: bool = True
) -> StoreBackend | None:
    """Opens (and migrates) the backend, retrying with backoff while the database is down.

    Returns None when `stop` is set first.
    """

    async def attempt() -> StoreBackend:
        backend: StoreBackend | None = None
        try:
            backend = await open_backend(url, pool_size=pool_size)
            if migrate:
                applied = await backend.migrate()
                if applied:
                    log.info("migrations applied", extra={"applied": applied})
            return backend
        except DatabaseUnavailable:
            if backend is not None:
                await backend.close()
            raise

    return await retry_until_ready(attempt, stop, what="database", retry_on=(DatabaseUnavailable,))
