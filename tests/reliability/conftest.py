"""Fault injection on the real pipeline: nats-server from the wheel, ingest and store as subprocesses.

The helpers live in support.py, loaded here as `swarmscope_reliability_support` (this folder is not
a package: pytest's importlib mode).
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

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


_load("swarmscope_reliability_support", HERE / "support.py")

from swarmscope_reliability_support import PG_BIN, ClusteredPipeline, Pipeline, ThrowawayPostgres  # noqa: E402

StartPipeline = Callable[..., Awaitable[Pipeline]]


@pytest.fixture
def pipeline_dir() -> Iterator[Path]:
    # Not tmp_path: kept short and removed at once even when large (1 MiB dead letters).
    path = Path(tempfile.mkdtemp(prefix="swarmscope-rel-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def start_pipeline(pipeline_dir: Path) -> AsyncIterator[StartPipeline]:
    """`await start_pipeline(database_url, env={...})`: ingest + store on a NATS of their own."""
    running: list[Pipeline] = []

    async def start(database_url: str, env: dict[str, str] | None = None) -> Pipeline:
        pipeline = Pipeline(pipeline_dir / f"p{len(running)}", database_url, env)
        running.append(pipeline)
        await asyncio.to_thread(pipeline.start)
        return pipeline

    try:
        yield start
    finally:
        for pipeline in running:
            await asyncio.to_thread(pipeline.stop)


@pytest.fixture
async def clustered_pipeline(pipeline_dir: Path, fresh_postgres_url: str) -> AsyncIterator[ClusteredPipeline]:
    """ingest + store + replay on a 3-node JetStream cluster of their own (streams R3), Postgres."""
    pipeline = ClusteredPipeline(pipeline_dir / "cluster", fresh_postgres_url)
    try:
        await asyncio.to_thread(pipeline.start)
        yield pipeline
    finally:
        await asyncio.to_thread(pipeline.stop)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A Postgres cluster started from the installed binaries, which the test may stop and start."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"{PG_BIN}/initdb not installed")
    root = Path(tempfile.mkdtemp(prefix="swarmscope-pg-"))
    cluster = ThrowawayPostgres(root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop_quietly()
        shutil.rmtree(root, ignore_errors=True)
