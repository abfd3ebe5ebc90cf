"""The bounded buffer between the caller's path and the publisher, and the count of every drop.

One deque per priority: the caller appends (a lock-free `deque.append` while there is room), the
publisher pops from the left, merging the deques back into emission order by sequence number. When
the buffer is full an event is shed by priority: the newest event of the lowest priority below the
incoming one makes room; if there is none, the incoming event is the one dropped (it is the least
important one there). `critical` events may also use a reserve above the capacity, so they are kept
while anything can be kept. Every drop is counted by reason and priority.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from swarmscope_schema.taxonomy import SDK_FILTER_REASONS, SDK_LOSS_REASONS

PRIORITY_NAMES: tuple[str, ...] = ("low", "normal", "high", "critical")
PRIORITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITY_NAMES)}
CRITICAL = PRIORITY_RANK["critical"]

# Why an event did not reach NATS. Losses are events the agent wanted traced; filtered ones were
# left out on purpose by selective tracing.
LOSS_REASONS: tuple[str, ...] = SDK_LOSS_REASONS
FILTER_REASONS: tuple[str, ...] = SDK_FILTER_REASONS

# (sequence number, event dict)
Item = tuple[int, dict[str, Any]]


class DropCounter:
    """Counts drops by reason and priority; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}

    def add(self, reason: str, rank: int, count: int = 1) -> None:
        with self._lock:
            key = (reason, rank)
            self._counts[key] = self._counts.get(key, 0) + count

    def snapshot(self) -> dict[str, dict[str, int]]:
        """`{reason: {priority: count}}` of every drop so far."""
        with self._lock:
            items = list(self._counts.items())
        out: dict[str, dict[str, int]] = {}
        for (reason, rank), count in sorted(items):
            out.setdefault(reason, {})[PRIORITY_NAMES[rank]] = count
        return out

    def total(self, reasons: tuple[str, ...] | None = None) -> int:
        with self._lock:
            return sum(n for (reason, _), n in self._counts.items() if reasons is None or reason in reasons)


def subtract(now: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The drops counted in `now` and not yet in `before` (both as returned by `snapshot`)."""
    out: dict[str, dict[str, int]] = {}
    for reason, by_priority in now.items():
        for priority, count in by_priority.items():
            delta = count - before.get(reason, {}).get(priority, 0)
            if delta:
                out.setdefault(reason, {})[priority] = delta
    return out


class EventBuffer:
    """A bounded, priority-aware buffer of `(seq, event)` items."""

    def __init__(self, capacity: int, drops: DropCounter, *, critical_reserve: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.critical_capacity = capacity + (
            critical_reserve if critical_reserve is not None else max(1, capacity // 10)
        )
        self.queues: tuple[deque[Item], ...] = tuple(deque() for _ in PRIORITY_NAMES)
        self._drops = drops
        self._shed_lock = threading.Lock()
        self.shedding = False

    def __len__(self) -> int:
        q = self.queues
        return len(q[0]) + len(q[1]) + len(q[2]) + len(q[3])

    def put(self, rank: int, item: Item) -> bool:
        """Adds an item; False if it was dropped (counted as `buffer_full`)."""
        q = self.queues
        if len(q[0]) + len(q[1]) + len(q[2]) + len(q[3]) < self.capacity:
            q[rank].append(item)
            return True
        return self.shed(rank, item)

    def shed(self, rank: int, item: Item) -> bool:
        """The full-buffer path: makes room by priority, or drops the incoming item."""
        with self._shed_lock:
            self.shedding = True
            if len(self) < self.capacity:
                self.queues[rank].append(item)
                return True
            for lower in range(rank):
                try:
                    self.queues[lower].pop()
                except IndexError:
                    continue
                self._drops.add("buffer_full", lower)
                self.queues[rank].append(item)
                return True
            if rank == CRITICAL and len(self) < self.critical_capacity:
                self.queues[rank].append(item)
                return True
            self._drops.add("buffer_full", rank)
            return False

    def head_seq(self) -> int | None:
        """The smallest sequence number still buffered, or None when empty."""
        heads = []
        for q in self.queues:
            try:
                heads.append(q[0][0])
            except IndexError:
                continue
        return min(heads) if heads else None

    def drain(self, limit: int) -> list[tuple[int, Item]]:
        """Removes up to `limit` items in emission order, as `(rank, item)` pairs."""
        queues = self.queues
        nonempty = [rank for rank, q in enumerate(queues) if q]
        out: list[tuple[int, Item]] = []
        if not nonempty:
            return out
        if len(nonempty) == 1:
            rank = nonempty[0]
            pop = queues[rank].popleft
            try:
                for _ in range(limit):
                    out.append((rank, pop()))  # noqa: PERF401 (keep what was popped if a shed empties the deque)
            except IndexError:
                pass
            return out
        while len(out) < limit:
            best_rank = -1
            best_seq = 0
            for rank in nonempty:
                try:
                    seq = queues[rank][0][0]
                except IndexError:
                    continue
                if best_rank < 0 or seq < best_seq:
                    best_rank, best_seq = rank, seq
            if best_rank < 0:
                break
            try:
                out.append((best_rank, queues[best_rank].popleft()))
            except IndexError:
                # A concurrent shed took it; look again.
                continue
        if len(self) < self.capacity:
            self.shedding = False
        return out
