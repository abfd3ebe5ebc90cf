"""Replay as live: republish a recorded session under a new session id, at its pace times speed.

The events go into TRACES_RAW (as a producer would publish them), so they pass through ingest and
appear live in every view. Each gets a new id (`rp<token>-<original seq>`: the originals would be
dropped by the duplicate window) and a timestamp on the new run's clock; `metadata.causation_id`
is mapped to the new ids, and `metadata.replay_of` names the original. Spans and agents keep their
ids. The reply goes out at once; the publishing runs in the background and is cancelled when the
service stops.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson
from nats.js import JetStreamContext

from swarmscope_replay.event_source import EventSource, StoredEventDict, iter_pages
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_schema.requests import ErrorCode, ReplayQuery
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_RAW, raw_msg_id, raw_subject
from swarmscope_service.publishing import Outgoing, PublishError, publish_all
from swarmscope_service.request_reply import ServiceError

log = logging.getLogger(__name__)

GROUP_WINDOW_SECONDS = 0.005
MAX_GROUP = 500
PUBLISH_ATTEMPTS = 5


def new_session_id(session_id: str, token: str) -> str:
    return f"{session_id[:100]}-replay-{token[:6]}"


def rewrite(
    event: StoredEventDict, new_session: str, token: str, timestamp: float, ids: dict[str, str]
) -> dict[str, Any]:
    """The event as the replay publishes it."""
    out = {k: v for k, v in event.items() if k not in ("seq", "received_at")}
    new_id = f"rp{token}-{event['seq']}"
    ids[str(event.get("id"))] = new_id
    out["id"] = new_id
    out["session_id"] = new_session
    out["timestamp"] = timestamp
    out["span_id"] = event.get("span_id") or event.get("id")
    metadata = dict(event["metadata"]) if isinstance(event.get("metadata"), Mapping) else {}
    causation = metadata.get("causation_id")
    if isinstance(causation, str) and causation in ids:
        metadata["causation_id"] = ids[causation]
    metadata["replay_of"] = {
        "session_id": event.get("session_id"),
        "event_id": event.get("id"),
        "seq": event["seq"],
    }
    out["metadata"] = metadata
    return out


class Republisher:
    """Starts and tracks background replays."""

    def __init__(
        self, js: JetStreamContext, source: EventSource, metrics: ReplayMetrics, *, max_concurrent: int
    ) -> None:
        self._js = js
        self._source = source
        self._metrics = metrics
        self._max = max_concurrent
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def start(self, query: ReplayQuery) -> dict[str, Any]:
        if len(self._tasks) >= self._max:
            raise ServiceError(
                ErrorCode.RATE_LIMITED, f"{len(self._tasks)} replays are running already; try again later"
            )
        bounds = await self._source.session_bounds(query.session_id)
        if bounds is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {query.session_id!r}")
        count, last_seq = bounds
        token = secrets.token_hex(4)
        target = query.new_session_id or new_session_id(query.session_id, token)
        if target == query.session_id:
            raise ServiceError(ErrorCode.BAD_REQUEST, "new_session_id must differ from session_id")
        if await self._source.session_bounds(target) is not None:
            raise ServiceError(ErrorCode.BAD_REQUEST, f"session {target!r} already exists; choose another id")
        task = asyncio.create_task(
            self._run(query.session_id, target, last_seq, query.speed, token), name=f"replay:{target}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {
            "session_id": query.session_id,
            "new_session_id": target,
            "events": count,
            "speed": query.speed,
        }

    async def _run(self, session_id: str, target: str, last_seq: int, speed: float, token: str) -> None:
        started_wall = time.time() * 1000
        started = time.monotonic()
        first_ts: float | None = None
        offset_ms = 0.0
        ids: dict[str, str] = {}
        group: list[Outgoing] = []
        group_due = 0.0
        published = 0
        try:
            async for page in iter_pages(self._source, session_id, until_seq=last_seq):
                for event in page:
                    ts = float(event.get("timestamp") or 0.0)
                    first_ts = ts if first_ts is None else first_ts
                    # The pace follows the recorded clock, never backwards (clocks of agents differ).
                    offset_ms = max(offset_ms, ts - first_ts)
                    due = offset_ms / 1000.0 / speed
                    if group and (due - group_due > GROUP_WINDOW_SECONDS or len(group) >= MAX_GROUP):
                        published += await self._publish(group, started + group_due)
                        group = []
                    if not group:
                        group_due = due
                    body = rewrite(event, target, token, started_wall + offset_ms / speed, ids)
                    group.append(
                        Outgoing(
                            subject=raw_subject(target, body.get("agent_id"), str(body.get("type"))),
                            payload=orjson.dumps(body),
                            headers={MSG_ID_HEADER: raw_msg_id(target, body["id"])},
                            stream=STREAM_RAW,
                        )
                    )
            if group:
                published += await self._publish(group, started + group_due)
        except asyncio.CancelledError:
            self._metrics.replays.labels("cancelled").inc()
            raise
        except Exception:
            self._metrics.replays.labels("failed").inc()
            log.exception("replay failed", extra={"new_session_id": target, "published": published})
            return
        self._metrics.replays.labels("completed").inc()
        log.info("replay finished", extra={"new_session_id": target, "published": published})

    async def _publish(self, group: list[Outgoing], due: float) -> int:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                await publish_all(self._js, group)
                break
            except PublishError:
                # The ids are fixed, so a retry never publishes an event twice.
                if attempt == PUBLISH_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * attempt)
        self._metrics.replayed_events.inc(len(group))
        return len(group)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
