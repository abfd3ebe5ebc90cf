"""`make run`'s banner: waits until every service answers /readyz, then says where to look.

It also writes `.data/run.json` (swarmscope.local_stack), so that `swarmscope tail`, `export`,
`import` and `demo` run from another terminal of this checkout use this run's gateway and NATS
whatever their ports; the file goes when the stack stops. Stays alive afterwards (honcho stops the
whole stack when any of its processes exits).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from swarmscope.local_stack import STATE_FILE, remove_state, write_state
from swarmscope_dev.stack import DEFAULT_PORTS, SERVICES, port_env_var, wait_ready


def main() -> None:
    ports = {name: int(os.environ.get(port_env_var(name), DEFAULT_PORTS[name])) for name in SERVICES}
    for name in SERVICES:
        wait_ready(f"http://127.0.0.1:{ports[name]}/readyz", timeout=300)
    nats_url = os.environ.get("SWARMSCOPE_NATS_URL", "")
    database = os.environ.get("SWARMSCOPE_DATABASE_URL", "")
    lines = [
        "",
        "swarmscope is ready",
        f"  open        http://127.0.0.1:{ports['gateway']}/",
        f"  API         http://127.0.0.1:{ports['gateway']}/api/v1/sessions  (OpenAPI: /openapi.json)",
        f"  NATS        {nats_url}",
        f"  store       {database}",
        "  metrics     " + "  ".join(f"{n}: http://127.0.0.1:{p}/metrics" for n, p in ports.items()),
        "  Ctrl-C stops everything.",
        "",
    ]
    state = Path.cwd() / STATE_FILE
    write_state(state, gateway_url=f"http://127.0.0.1:{ports['gateway']}", nats_url=nats_url or None)
    lines.insert(-2, f"  CLI         swarmscope tail / export / import / demo follow this run ({STATE_FILE})")
    print("\n".join(lines), flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        remove_state(state)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
    sys.exit(0)
