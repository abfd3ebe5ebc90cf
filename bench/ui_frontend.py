"""The UI benchmark (issue 7 §6) as part of `make bench`: runs frontend/bench/ui_bench.mjs in Node.

The Node script starts its own stack, loads a 10k-event session in Debian's Chromium and streams 500
events/s into it; it prints its figures and, last, the BENCH_RESULT line that bench/summary.py
reads. This wrapper builds the UI first when needed and passes the output through.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    if shutil.which("node") is None or not Path("/usr/bin/chromium").exists():
        print("node or /usr/bin/chromium missing: the UI benchmark cannot run here", file=sys.stderr)
        return 1
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        subprocess.run(["npm", "--prefix", str(ROOT / "frontend"), "run", "build"], check=True)
    return subprocess.call(["node", str(ROOT / "frontend" / "bench" / "ui_bench.mjs")], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
