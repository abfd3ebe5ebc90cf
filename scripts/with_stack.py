"""Runs a command against a fresh local swarmscope: `python scripts/with_stack.py -- CMD ARGS…`.

Starts nats-server and every service (SQLite store in a temporary directory), exports
SWARMSCOPE_GATEWAY_URL and SWARMSCOPE_NATS_URL to the command, and stops everything afterwards,
whatever the command's outcome. Exits with the command's exit code. Used by `make test` for the
browser end-to-end tests and by benches that need the whole system.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from swarmscope_dev.stack import SERVICES, LocalStack


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="store database (default: SQLite in a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory afterwards")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    data_dir = Path(tempfile.mkdtemp(prefix="swarmscope-stack-"))
    env = {"SWARMSCOPE_DEMO": "0"}
    with LocalStack(data_dir=data_dir, services=SERVICES, database_url=args.database_url, env=env) as stack:
        print(
            f"stack ready: gateway {stack.gateway_url}, NATS {stack.nats_url}, logs in {data_dir}", flush=True
        )
        child_env = dict(os.environ)
        child_env["SWARMSCOPE_GATEWAY_URL"] = stack.gateway_url
        child_env["SWARMSCOPE_NATS_URL"] = str(stack.nats_url)
        child_env["SWARMSCOPE_STACK_DIR"] = str(data_dir)
        code = subprocess.call(command, env=child_env)
    if not args.keep and code == 0:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
