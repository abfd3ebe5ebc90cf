"""`python -m swarmscope_ingest`: run the ingest service until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio

from swarmscope_ingest import app
from swarmscope_ingest.config import IngestSettings
from swarmscope_service.lifecycle import run_until_signal
from swarmscope_service.logs import configure_logging
from swarmscope_service.settings import load_settings


def run() -> None:
    settings = load_settings(IngestSettings)
    configure_logging("ingest", settings.log_level, settings.log_format)

    async def main(stop: asyncio.Event) -> None:
        await app.main(stop, settings)

    run_until_signal(main)


if __name__ == "__main__":
    run()
