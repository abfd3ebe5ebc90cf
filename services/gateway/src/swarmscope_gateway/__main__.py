"""`python -m swarmscope_gateway` runs the gateway; `python -m swarmscope_gateway openapi` prints
its OpenAPI document (what docs/openapi.json holds)."""

from __future__ import annotations

import sys

from swarmscope_gateway import app
from swarmscope_gateway.config import GatewaySettings
from swarmscope_gateway.openapi import render
from swarmscope_service.lifecycle import run_until_signal
from swarmscope_service.logs import configure_logging
from swarmscope_service.settings import load_settings


def run() -> None:
    if sys.argv[1:] == ["openapi"]:
        sys.stdout.buffer.write(render())
        return
    if sys.argv[1:]:
        print("usage: python -m swarmscope_gateway [openapi]", file=sys.stderr)
        raise SystemExit(2)
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level, settings.log_format)
    run_until_signal(lambda stop: app.main(stop, settings))


if __name__ == "__main__":
    run()
