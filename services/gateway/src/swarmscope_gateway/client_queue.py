"""The bounded queue between the live fan-out and one client's connection.

The fan-out never waits for a client: `offer` either fits a frame or says no, and a client that
says no falls behind for good (its backlog is dropped and it is told to resync). History and
control messages are produced by the client's own requests, so they may wait for room (`put`),
which paces them to the client's reading speed. Memory per client is bounded by
`max_frames` / `max_bytes` plus one frame.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from swarmscope_gateway.frames import Frame, FrameKind

T = TypeVar("T")


class QueueClosed(Exception):
    """The client is gone."""


class ClientQueue(Generic[T]):
    """Frames waiting to be written to one client, each with a tag (the subscription it serves)."""

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self._items: deque[tuple[Frame, T]] = deque()
        self._bytes = 0
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def _fits(self, frame: Frame) -> bool:
        if not self._items:
            return True  # one frame always fits, however big: progress is always possible
        return len(self._items) < self._max_frames and self._bytes + frame.size <= self._max_bytes

    def offer(self, frame: Frame, tag: T) -> bool:
        """Appends a frame if it fits; never waits. False means the client is too slow."""
        if self.closed:
            return True
        if not self._fits(frame):
            self._writable.clear()
            return False
        self._push(frame, tag)
        return True

    async def put(self, frame: Frame, tag: T) -> None:
        """Appends a frame, waiting for room first."""
        while not self._fits(frame):
            if self.closed:
                raise QueueClosed
            self._writable.clear()
            await self._writable.wait()
        if self.closed:
            raise QueueClosed
        self._push(frame, tag)

    def put_control(self, frame: Frame, tag: T) -> None:
        """Appends a small control frame regardless of room (resync, errors)."""
        if not self.closed:
            self._push(frame, tag)

    def drop_events(self) -> list[tuple[Frame, T]]:
        """Drops every queued event frame (the backlog of a client that fell behind); returns them."""
        kept: deque[tuple[Frame, T]] = deque()
        dropped: list[tuple[Frame, T]] = []
        for item in self._items:
            (dropped if item[0].kind is FrameKind.EVENTS else kept).append(item)
        self._items = kept
        self._bytes = sum(f.size for f, _ in kept)
        self._writable.set()
        return dropped

    async def get(self) -> tuple[Frame, T]:
        """The next frame; raises QueueClosed once closed and drained."""
        while not self._items:
            if self.closed:
                raise QueueClosed
            self._readable.clear()
            await self._readable.wait()
        frame, tag = self._items.popleft()
        self._bytes -= frame.size
        if self._fits_more():
            self._writable.set()
        return frame, tag

    def close(self) -> None:
        """No more frames; a reader gets what is queued, then QueueClosed."""
        self.closed = True
        self._readable.set()
        self._writable.set()

    def _fits_more(self) -> bool:
        return len(self._items) < self._max_frames and self._bytes < self._max_bytes

    def _push(self, frame: Frame, tag: T) -> None:
        self._items.append((frame, tag))
        self._bytes += frame.size
        self._readable.set()
