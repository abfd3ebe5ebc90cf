"""Loads the helpers of the deployment checks (this folder is not a package: pytest's importlib mode)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_load("swarmscope_deploy_kustomize", HERE / "kustomize.py")
_load("swarmscope_deploy_support", HERE / "support.py")
_load("swarmscope_deploy_generate", HERE.parents[1] / "deploy" / "generate.py")
