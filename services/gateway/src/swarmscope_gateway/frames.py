"""What is written to a live client, encoded once and shared by every client with the same filter.

SSE (CONTRACT §5): `event: batch_events`, `id: <last seq>`, `data: {"session_id", "events"}`.
WebSocket: one JSON text message per frame: `batch_events {session_id, events}`, or `trace_event
{session_id, event}` when a batch holds a single event. A batch never mixes sessions: events are cut
into runs of one session, so the `id` of every SSE frame is a safe resume point (nothing before it
is still unsent).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

import orjson

from swarmscope_gateway.live_event import LiveEvent


class Transport(StrEnum):
    SSE = "sse"
    WS = "ws"


class FrameKind(Enum):
    EVENTS = "events"  # live or resumed events: may be dropped when the client falls behind
    CONTROL = "control"  # history, state, errors: never dropped
    FINAL = "final"  # the last frame of the connection (SSE resync / error)


@dataclass(slots=True)
class Frame:
    data: bytes | str
    size: int
    kind: FrameKind = FrameKind.EVENTS
    first_seq: int = 0
    last_seq: int = 0
    count: int = 0
    oldest_ts: float = 0.0  # producer timestamp (ms) of the oldest event, for live frames only


def _runs(events: Sequence[LiveEvent], max_batch: int) -> Iterator[Sequence[LiveEvent]]:
    start = 0
    n = len(events)
    while start < n:
        session = events[start].session_id
        end = start + 1
        while end < n and end - start < max_batch and events[end].session_id == session:
            end += 1
        yield events[start:end]
        start = end


def encode_events(
    transport: Transport, events: Sequence[LiveEvent], *, max_batch: int, live: bool
) -> list[Frame]:
    """Frames carrying `events` (ascending seq), at most `max_batch` events each."""
    frames: list[Frame] = []
    for run in _runs(events, max_batch):
        session = orjson.dumps(run[0].session_id)
        last = run[-1].seq
        oldest = min(e.timestamp for e in run) if live else 0.0
        if transport is Transport.SSE:
            data: bytes | str = b"".join(
                (
                    b"event: batch_events\nid: ",
                    str(last).encode(),
                    b'\ndata: {"session_id":',
                    session,
                    b',"events":[',
                    b",".join(e.body for e in run),
                    b"]}\n\n",
                )
            )
        elif len(run) == 1:
            data = b"".join(
                (b'{"type":"trace_event","session_id":', session, b',"event":', run[0].body, b"}")
            ).decode()
        else:
            data = b"".join(
                (
                    b'{"type":"batch_events","session_id":',
                    session,
                    b',"events":[',
                    b",".join(e.body for e in run),
                    b"]}",
                )
            ).decode()
        frames.append(
            Frame(
                data=data,
                size=len(data),
                first_seq=run[0].seq,
                last_seq=last,
                count=len(run),
                oldest_ts=oldest,
            )
        )
    return frames


def sse_control(event: str, payload: Mapping[str, Any], *, final: bool = False) -> Frame:
    """A named SSE event without an id (so it never moves the client's resume point)."""
    data = b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
    return Frame(data=data, size=len(data), kind=FrameKind.FINAL if final else FrameKind.CONTROL)


def ws_message(message: Mapping[str, Any]) -> Frame:
    """A WebSocket control message (history, state, resync, error, pong)."""
    data = orjson.dumps(message).decode()
    return Frame(data=data, size=len(data), kind=FrameKind.CONTROL)


def ws_history(
    session_id: str,
    events: Sequence[LiveEvent],
    *,
    done: bool,
    truncated: bool = False,
    request_id: str | None = None,
) -> Frame:
    """A `history` message: a page of the events a request_history asked for."""
    head = [b'{"type":"history","session_id":', orjson.dumps(session_id)]
    if request_id is not None:
        head += [b',"request_id":', orjson.dumps(request_id)]
    data = b"".join(
        (
            *head,
            b',"events":[',
            b",".join(e.body for e in events),
            b'],"done":',
            b"true" if done else b"false",
            b',"truncated":',
            b"true" if truncated else b"false",
            b"}",
        )
    ).decode()
    return Frame(data=data, size=len(data), kind=FrameKind.CONTROL, count=len(events))
