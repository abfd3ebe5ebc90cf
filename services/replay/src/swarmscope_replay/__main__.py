"""`python -m swarmscope_replay` runs the replay service until SIGTERM / SIGINT."""

from __future__ import annotations

import functools

from swarmscope_replay import app
from swarmscope_replay.config import ReplaySettings
from swarmscope_service.lifecycle import run_until_signal
from swarmscope_service.logs import configure_logging
from swarmscope_service.settings import load_settings


def main() -> None:
    settings = load_settings(ReplaySettings)
    configure_logging("replay", settings.log_level, settings.log_format)
    run_until_signal(functools.partial(app.main, settings=settings))


if __name__ == "__main__":
    main()
