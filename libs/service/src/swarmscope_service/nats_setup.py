"""Connecting to NATS (with retry and backoff) and provisioning the streams and durables.

Provisioning is idempotent: every service runs it at start, in any order, any number of times. A
stream that exists is updated to the configuration here when it differs, so a new release can widen
a setting (e.g. the duplicate window) without a manual step.

TRACES_RAW keeps no duplicate window (v1.1, see `swarmscope_schema.subjects`): a bare producer id is
unique only within its session, and JetStream's window is keyed by `Nats-Msg-Id` across the whole
stream. nats-server applies its 2-minute default to any stream without sources and refuses a window
under 100 ms, so TRACES_RAW sources an empty anchor stream and states a window of 0. Duplicates are
removed by (session_id, id) downstream: TRACES's window, then the store and replay.

TRACES_RAW also keeps a message only until ingest has acknowledged it (interest retention, v1.1):
what producers send is not yet redacted, and ingest acks only after the redacted event or dead
letter is published. Provisioning turns an earlier release's limits-retention TRACES_RAW into an
interest stream in place (nats-server allows that change; messages not yet acked stay).

Durables wait `ack_wait` (default 5 s, `SWARMSCOPE_ACK_WAIT_SECONDS`) for a delivered message's
ack before redelivering it, so the last batch of a consumer killed mid-stream is redelivered within
seconds of its restart, not after half a minute. A batch that takes longer keeps its messages with
in-progress acks (the consumer loop's keep-alive), so a slow Postgres COPY never causes a
redelivery storm. Provisioning updates an existing durable whose ack wait differs (ack_wait is one
of the fields nats-server lets a durable change in place).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)
from nats.js.errors import NotFoundError

from swarmscope_schema.codec import MAX_EVENT_BYTES
from swarmscope_schema.subjects import (
    DURABLES,
    NO_DEDUPE_ANCHOR_SUBJECT,
    STREAM_NO_DEDUPE_ANCHOR,
    STREAM_SUBJECTS,
    STREAMS_KEPT_UNTIL_CONSUMED,
    STREAMS_WITHOUT_DEDUPE,
)

log = logging.getLogger(__name__)

# Headers and the envelope of a dead letter ride on top of a payload of up to 1 MiB.
STREAM_MAX_MSG_SIZE = MAX_EVENT_BYTES + 64 * 1024


DEFAULT_ACK_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What every stream and durable is provisioned with."""

    replicas: int = 1
    duplicate_window_seconds: float = 120.0
    max_age_seconds: float = 0.0
    ack_wait_seconds: float = DEFAULT_ACK_WAIT_SECONDS


async def connect(
    servers: list[str],
    *,
    name: str,
    attempts: int = 0,
    first_delay: float = 0.2,
    max_delay: float = 5.0,
) -> NatsClient:
    """Connects, retrying with exponential backoff (forever when attempts is 0).

    Once connected, nats-py reconnects by itself for ever: a NATS restart pauses the service,
    it never stops it.
    """
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return await nats.connect(
                servers=servers,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                allow_reconnect=True,
            )
        except Exception as exc:
            if attempts and attempt >= attempts:
                raise
            log.warning(
                "NATS not reachable, retrying",
                extra={
                    "servers": servers,
                    "attempt": attempt,
                    "retry_in_s": delay,
                    "error": str(exc),
                },
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


def stream_config(name: str, subject: str, settings: StreamSettings) -> StreamConfig:
    """The configuration of one of the streams (STREAM_SUBJECTS)."""
    without_dedupe = name in STREAMS_WITHOUT_DEDUPE
    return StreamConfig(
        name=name,
        subjects=[subject],
        retention=RetentionPolicy.INTEREST if name in STREAMS_KEPT_UNTIL_CONSUMED else RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        duplicate_window=0.0 if without_dedupe else settings.duplicate_window_seconds,
        sources=[StreamSource(name=STREAM_NO_DEDUPE_ANCHOR)] if without_dedupe else None,
        max_msg_size=STREAM_MAX_MSG_SIZE,
        max_age=settings.max_age_seconds,
        discard=DiscardPolicy.OLD,
    )


def _anchor_config(settings: StreamSettings) -> StreamConfig:
    # Nothing publishes to its subject; it holds one message at most even if something did.
    return StreamConfig(
        name=STREAM_NO_DEDUPE_ANCHOR,
        subjects=[NO_DEDUPE_ANCHOR_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        max_msgs=1,
        max_bytes=1024,
        discard=DiscardPolicy.NEW,
    )


def _window(config: StreamConfig) -> float:
    return float(config.duplicate_window or 0.0)


def _retention(config: StreamConfig) -> RetentionPolicy:
    return RetentionPolicy(config.retention or RetentionPolicy.LIMITS)


def _source_names(config: StreamConfig) -> list[str]:
    return sorted(s.name for s in config.sources or [])


def durable_config(durable: str, *, ack_wait: float = DEFAULT_ACK_WAIT_SECONDS) -> ConsumerConfig:
    """The configuration of a swarmscope durable: explicit acks, every message from the start,
    redelivery `ack_wait` seconds after a delivery nobody acked or kept in progress."""
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_ack_pending=20_000,
        max_deliver=-1,
    )


async def ensure_durable(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Creates the durable, or updates its ack wait in place when it differs (idempotent)."""
    durable = str(config.durable_name)
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        await js.add_consumer(stream, config)
        log.info("durable created", extra={"stream": stream, "durable": durable})
        return
    current = info.config
    if current.ack_wait is not None and abs(float(current.ack_wait) - float(config.ack_wait or 0)) < 1e-3:
        return
    # Only the editable field changes: the rest is the durable's own (its deliver policy, an idle
    # threshold), which nats-server refuses to change on an update.
    current.ack_wait = config.ack_wait
    # A create request for an existing durable is nats-server's update (2.10+; nats-py has no
    # separate call).
    await js.add_consumer(stream, current)
    log.info(
        "durable updated",
        extra={"stream": stream, "durable": durable, "ack_wait_s": config.ack_wait},
    )


async def provision(js: JetStreamContext, settings: StreamSettings | None = None) -> None:
    """Creates or updates TRACES_RAW, TRACES, TRACES_DLQ and every durable. Idempotent."""
    settings = settings or StreamSettings()
    try:
        await js.stream_info(STREAM_NO_DEDUPE_ANCHOR)
    except NotFoundError:
        await js.add_stream(_anchor_config(settings))
        log.info("stream created", extra={"stream": STREAM_NO_DEDUPE_ANCHOR})
    # What each stream is as provisioned below (for its retention, replicas and storage).
    provisioned: dict[str, StreamConfig] = {}
    for name, subject in STREAM_SUBJECTS.items():
        config = stream_config(name, subject, settings)
        # Retention turns to interest only once the durables exist (below): an interest stream
        # without a consumer drops what it receives.
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            config.retention = RetentionPolicy.LIMITS
            await js.add_stream(config)
            log.info("stream created", extra={"stream": name})
            provisioned[name] = config
            continue
        current = info.config
        provisioned[name] = current
        config.retention = _retention(current)
        if (
            _window(current) != _window(config)
            or _source_names(current) != _source_names(config)
            or current.max_msg_size != config.max_msg_size
            or current.max_age != config.max_age
            or current.subjects != config.subjects
        ):
            await _update(js, config, current)
    for stream, durable in DURABLES:
        await ensure_durable(js, stream, durable_config(durable, ack_wait=settings.ack_wait_seconds))
    for name, subject in STREAM_SUBJECTS.items():
        config = stream_config(name, subject, settings)
        if _retention(provisioned[name]) != _retention(config):
            await _update(js, config, provisioned[name])


async def _update(js: JetStreamContext, config: StreamConfig, current: StreamConfig) -> None:
    # Replicas and storage cannot change in place; everything else may.
    config.num_replicas = current.num_replicas
    config.storage = current.storage
    await js.update_stream(config)
    log.info("stream updated", extra={"stream": config.name, "retention": str(config.retention)})


async def ensure_replica_durable(
    js: JetStreamContext,
    stream: str,
    durable: str,
    *,
    idle_seconds: float,
    ack_wait: float = DEFAULT_ACK_WAIT_SECONDS,
) -> None:
    """Creates a durable for one replica of a service that reads the whole stream per replica
    (replay beyond its first): from the stream's end (what came before is read from the store),
    deleted by the server once unused for `idle_seconds`."""
    config = durable_config(durable, ack_wait=ack_wait)
    config.deliver_policy = DeliverPolicy.NEW
    config.inactive_threshold = idle_seconds
    await ensure_durable(js, stream, config)
