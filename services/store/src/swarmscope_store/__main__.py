"""`python -m swarmscope_store` runs the service; `python -m swarmscope_store migrate` applies the
database migrations and exits (0 when the schema is up to date)."""

from __future__ import annotations

import asyncio
import functools
import sys

from swarmscope_service.lifecycle import run_until_signal
from swarmscope_service.logs import configure_logging
from swarmscope_service.settings import load_settings
from swarmscope_store import app
from swarmscope_store.backend import DatabaseUnavailable
from swarmscope_store.config import StoreSettings
from swarmscope_store.database import open_backend

USAGE = "usage: python -m swarmscope_store [migrate]"


async def migrate(settings: StoreSettings) -> list[str]:
    backend = await open_backend(settings.database_url, pool_size=2)
    try:
        return await backend.migrate()
    finally:
        await backend.close()


def main(argv: list[str]) -> int:
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        print(__doc__)
        return 0
    settings = load_settings(StoreSettings)
    configure_logging("store", settings.log_level, settings.log_format)
    if argv == ["migrate"]:
        try:
            applied = asyncio.run(migrate(settings))
        except DatabaseUnavailable as exc:
            print(f"migrate failed: {exc}", file=sys.stderr)
            return 1
        print("applied: " + ", ".join(applied) if applied else "schema is up to date")
        return 0
    if argv:
        print(USAGE, file=sys.stderr)
        return 2
    run_until_signal(functools.partial(app.main, settings=settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
