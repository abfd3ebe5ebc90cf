"""`make run`: starts the whole system on the embedded default with honcho (CONTRACT §7).

nats-server from the wheel (unless SWARMSCOPE_NATS_URL names a NATS to use), SQLite under .data/,
every service as its own process from the Procfile, the demo swarm (unless SWARMSCOPE_DEMO=0), and
a banner with the URL once every service is ready. SWARMSCOPE_DEMO=ts runs the TypeScript demo swarm
(Claude-Flow's EventBus traced by the TS SDK, libs/sdk-ts/bin/claude-flow-demo.mjs) beside the Python
one; SWARMSCOPE_DEMO=ts-only runs it alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from swarmscope_dev.stack import DEFAULT_PORTS, port_env_var
from swarmscope_service.settings import DEFAULT_NATS_URL


def build_sdk_ts() -> None:
    """The TS demo runs the built package (dist/) with its devDependencies (Claude-Flow's classes)."""
    package = Path("libs/sdk-ts")
    if not (package / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=package, check=True)
    print("building the TypeScript SDK for the TS demo swarm", flush=True)
    subprocess.run(["npm", "run", "build"], cwd=package, check=True)


def main() -> None:
    env = os.environ
    processes = []
    if env.get("SWARMSCOPE_NATS_URL"):
        print(f"using NATS at {env['SWARMSCOPE_NATS_URL']} (SWARMSCOPE_NATS_URL); starting none", flush=True)
    else:
        env["SWARMSCOPE_NATS_URL"] = DEFAULT_NATS_URL
        env["SWARMSCOPE_DEV_NATS_URL"] = DEFAULT_NATS_URL
        processes.append("nats")
        print(f"starting nats-server (wheel) at {DEFAULT_NATS_URL}", flush=True)
    Path(".data").mkdir(exist_ok=True)
    env.setdefault("SWARMSCOPE_DATABASE_URL", f"sqlite:///{Path('.data/swarmscope.db').resolve()}")
    env.setdefault("SWARMSCOPE_REPLAY_DATABASE_URL", f"sqlite:///{Path('.data/replay.db').resolve()}")
    env.setdefault("SWARMSCOPE_LOG_FORMAT", "text")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The demo (and any CLI started under honcho) names the gateway this run serves; other terminals
    # find it in .data/run.json, which dev_ready.py writes once everything answers.
    gateway_port = int(env.get(port_env_var("gateway"), DEFAULT_PORTS["gateway"]))
    env.setdefault("SWARMSCOPE_GATEWAY_URL", f"http://127.0.0.1:{gateway_port}")
    processes += ["ingest", "store", "replay", "gateway", "ready"]
    demo = env.get("SWARMSCOPE_DEMO", "1")
    if demo not in ("0", "ts-only"):
        processes.append("demo")
    if demo in ("ts", "ts-only"):
        build_sdk_ts()
        processes.append("demo-ts")
    honcho = str(Path(sys.executable).parent / "honcho")
    os.execv(honcho, [honcho, "-f", "Procfile", "start", *processes])


if __name__ == "__main__":
    main()
