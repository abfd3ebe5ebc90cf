"""Loads the helpers of the deployment checks (this folder is not a package: pytest's importlib mode)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope_dev.stack import LocalStack

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


_load("swarmscope_deploy_tools", HERE / "tools.py")
_load("swarmscope_deploy_support", HERE / "support.py")
_load("swarmscope_deploy_generate", HERE.parents[1] / "deploy" / "generate.py")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Every service as its own process (SQLite store), for the checks that need them running."""
    with LocalStack(data_dir=tmp_path_factory.mktemp("deploy-stack")) as stack:
        yield stack
