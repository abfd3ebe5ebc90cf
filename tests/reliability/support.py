"""Helpers of the reliability tests: the pipeline under test, the producer's log, the audit.

Every test ends with the same audit (`Pipeline.audit`): each publish that JetStream acknowledged
maps to exactly one stored event or exactly one dead letter, nothing is stored twice, and nothing
is stored that was never published. Counting is done in the store's database directly, so the
audit does not depend on the code under test answering queries correctly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
import orjson
from nats.aio.client import Client as NatsClient

from swarmscope_dev.nats_server import (
    NatsCluster,
    NatsServer,
    free_port,
    start_nats_cluster,
    start_nats_server,
)
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.subjects import (
    DURABLE_INGEST,
    DURABLE_STORE,
    DURABLE_STORE_DLQ,
    MSG_ID_HEADER,
    STREAM_DLQ,
    STREAM_EVENTS,
    STREAM_RAW,
    raw_subject,
)
from swarmscope_schema.taxonomy import EventType
from swarmscope_schema.testing import make_event

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class Message:
    """One raw publish: where, what, and what the pipeline must make of it."""

    subject: str
    payload: bytes
    msg_id: str
    session_id: str
    event_id: str | None  # set for a valid event: it must be stored once
    reason: str | None = None  # set for a malformed message: it must be dead-lettered once


def valid_events(count: int, sessions: int = 4, tag: str | None = None) -> list[Message]:
    """`count` valid events of every type over a few sessions, each with a unique id."""
    tag = tag or uuid.uuid4().hex[:8]
    types = list(EventType)
    out = []
    for i in range(count):
        session = f"rel-{tag}-{i % sessions}"
        event_type = types[i % len(types)]
        event = make_event(event_type, session_id=session, agent_id=f"agent-{i % 5}", event_id=f"e-{i}")
        out.append(
            Message(
                subject=raw_subject(session, event["agent_id"], event_type),
                payload=orjson.dumps(event),
                msg_id=f"{session}:{event['id']}",
                session_id=session,
                event_id=event["id"],
            )
        )
    return out


@dataclass
class PublishLog:
    """What the producer side knows: which messages JetStream acknowledged."""

    acked: list[Message] = field(default_factory=list)
    failed: list[Message] = field(default_factory=list)
    retried: int = 0  # publishes sent again after no acknowledgement (publish_until_acked)


async def publish(
    nc: NatsClient, messages: Sequence[Message], log: PublishLog, *, window: int = 250, timeout: float = 5.0
) -> None:
    """Publishes pipelined, `window` at a time; records each message as acknowledged or not.

    Keeps going through failures (NATS down): a producer's unacknowledged publish is its own to
    retry; the audit holds the pipeline to the acknowledged ones.
    """
    js = nc.jetstream()
    for start in range(0, len(messages), window):
        chunk = messages[start : start + window]
        futures: list[tuple[Message, asyncio.Future[Any] | None]] = []
        for message in chunk:
            try:
                future = await js.publish_async(
                    message.subject,
                    message.payload,
                    headers={MSG_ID_HEADER: message.msg_id},
                    wait_stall=timeout,
                )
            except Exception:
                future = None
            futures.append((message, future))
        pending = [f for _, f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for message, future in futures:
            if future is not None and future.done() and not future.cancelled() and future.exception() is None:
                log.acked.append(message)
            else:
                if future is not None and not future.done():
                    future.cancel()
                log.failed.append(message)
                await asyncio.sleep(0.01)


@dataclass
class Audit:
    stored: Counter[tuple[str, str]]
    stored_rows: int
    distinct_seqs: int
    dead_letters: Counter[bytes]
    dead_reasons: dict[bytes, str]


class Pipeline:
    """ingest + store as subprocesses on a nats-server this fixture owns (so it can restart it)."""

    services: tuple[str, ...] = ("ingest", "store")

    def __init__(self, data_dir: Path, database_url: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.env = {
            "SWARMSCOPE_FETCH_WAIT_SECONDS": "0.1",
            "SWARMSCOPE_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.nats: NatsServer | None = None
        self.nats_port = free_port()
        self.stack: LocalStack | None = None

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def start(self) -> None:
        self.start_nats()
        self.stack = LocalStack(
            data_dir=self.data_dir,
            services=self.services,
            database_url=self.database_url,
            nats_url=self.nats_url,
            env=self.env,
        )
        self.stack.start()

    def start_nats(self) -> None:
        self.nats = start_nats_server(self.data_dir / "nats", self.nats_port)

    def url(self, service: str) -> str:
        assert self.stack is not None
        return self.stack.url(service)

    def kill_nats(self) -> None:
        assert self.nats is not None
        self.nats.kill()

    def kill(self, service: str) -> None:
        assert self.stack is not None
        self.stack.kill_service(service)

    def restart(self, service: str) -> None:
        assert self.stack is not None
        self.stack.restart_service(service)

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.nats is not None:
            self.nats.stop()

    def logs(self) -> str:
        parts = []
        for name in self.services:
            path = self.data_dir / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} ---\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    async def connect(self) -> NatsClient:
        return await nats.connect(self.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.25)

    async def read(self, sessions: Sequence[str]) -> Audit:
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT session_id, event_id, seq FROM events WHERE session_id = ANY($1::text[])",
                list(sessions),
            )
            letters = await conn.fetch("SELECT reason, payload FROM dead_letters")
        finally:
            await conn.close()
        return Audit(
            stored=Counter((r["session_id"], r["event_id"]) for r in rows),
            stored_rows=len(rows),
            distinct_seqs=len({r["seq"] for r in rows}),
            dead_letters=Counter(bytes(r["payload"]) for r in letters),
            dead_reasons={bytes(r["payload"]): r["reason"] for r in letters},
        )

    async def wait_until_settled(self, log: PublishLog, *, timeout: float = 150.0) -> Audit:
        """Waits until every acknowledged publish is accounted for and the durables are drained."""
        sessions = sorted({m.session_id for m in log.acked + log.failed})
        valid = {(m.session_id, m.event_id) for m in log.acked if m.event_id is not None}
        bad = {m.payload for m in log.acked if m.reason is not None}
        deadline = time.monotonic() + timeout
        nc = await self.connect()
        try:
            js = nc.jetstream()
            while True:
                audit = await self.read(sessions)
                drained = True
                for stream, durable in (
                    (STREAM_RAW, DURABLE_INGEST),
                    (STREAM_EVENTS, DURABLE_STORE),
                    (STREAM_DLQ, DURABLE_STORE_DLQ),
                ):
                    try:
                        info = await js.consumer_info(stream, durable)
                    except Exception:
                        drained = False
                        break
                    if info.num_pending or info.num_ack_pending:
                        drained = False
                if drained and valid <= set(audit.stored) and bad <= set(audit.dead_letters):
                    return audit
                if time.monotonic() > deadline:
                    missing = len(valid - set(audit.stored))
                    raise AssertionError(
                        f"not settled within {timeout}s: {missing} acknowledged events not stored, "
                        f"{len(bad - set(audit.dead_letters))} malformed not dead-lettered, drained={drained}\n"
                        + self.logs()
                    )
                await asyncio.sleep(0.5)
        finally:
            await nc.close()

    async def audit(self, log: PublishLog, *, timeout: float = 150.0) -> Audit:
        """Every acknowledged publish → exactly one stored event or one dead letter; nothing extra."""
        audit = await self.wait_until_settled(log, timeout=timeout)
        published_valid = {(m.session_id, m.event_id) for m in log.acked + log.failed if m.event_id}
        acked_valid = {(m.session_id, m.event_id) for m in log.acked if m.event_id}
        doubled = {key: n for key, n in audit.stored.items() if n != 1}
        assert not doubled, f"{len(doubled)} events stored more than once, e.g. {next(iter(doubled.items()))}"
        assert audit.stored_rows == audit.distinct_seqs, "two stored rows share a stream sequence"
        assert acked_valid <= set(audit.stored)
        unknown = set(audit.stored) - published_valid
        assert not unknown, f"{len(unknown)} stored events were never published"
        for message in log.acked:
            if message.reason is not None:
                assert audit.dead_letters[message.payload] == 1, (
                    "a malformed message is not dead-lettered once"
                )
                assert audit.dead_reasons[message.payload] == message.reason
        return audit


class ClusteredPipeline(Pipeline):
    """ingest, store and replay on a 3-node JetStream cluster of their own, streams R3: as production
    runs it. Nodes can be killed and restarted; the services know every node's URL."""

    services = ("ingest", "store", "replay")

    def __init__(self, data_dir: Path, database_url: str, env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, database_url, {"SWARMSCOPE_STREAM_REPLICAS": "3", **(env or {})})
        self.cluster: NatsCluster | None = None

    @property
    def nats_url(self) -> str:
        assert self.cluster is not None
        return self.cluster.url

    def start_nats(self) -> None:
        self.cluster = start_nats_cluster(self.data_dir / "nats")

    def kill_node(self, name: str) -> None:
        assert self.cluster is not None
        self.cluster.kill(name)

    def restart_node(self, name: str) -> None:
        assert self.cluster is not None
        self.cluster.start(name)
        self.cluster.wait_healthy()

    def kill_nats(self) -> None:
        raise NotImplementedError("kill one node: kill_node(name)")

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.cluster is not None:
            self.cluster.stop()

    async def connect(self) -> NatsClient:
        assert self.cluster is not None
        return await nats.connect(self.cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.25)


async def publish_until_acked(
    nc: NatsClient, messages: Sequence[Message], log: PublishLog, *, timeout: float = 120.0
) -> None:
    """Publishes like a producer that retries: what JetStream did not acknowledge is sent again
    with the same message id until it is (or `timeout` passes), so `log.failed` ends empty."""
    deadline = time.monotonic() + timeout
    # The first pass goes into `log` as it happens (a test may act on the progress).
    first_failed = len(log.failed)
    await publish(nc, messages, log)
    pending = log.failed[first_failed:]
    del log.failed[first_failed:]
    while pending and time.monotonic() < deadline:
        log.retried += len(pending)
        await asyncio.sleep(0.5)
        attempt = PublishLog()
        await publish(nc, pending, attempt)
        log.acked += attempt.acked
        pending = attempt.failed
    log.failed += pending


class ThrowawayPostgres:
    """A Postgres cluster of its own from the installed binaries, stoppable mid-test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def stop_quietly(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()


async def wait_stored(
    pipeline: Pipeline, sessions: Sequence[str], at_least: int, timeout: float = 60.0
) -> int:
    """Waits until at least `at_least` events of these sessions are stored; returns how many."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            audit = await pipeline.read(sessions)
            if audit.stored_rows >= at_least:
                return audit.stored_rows
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {at_least} events stored within {timeout}s\n" + pipeline.logs())
        await asyncio.sleep(0.1)
