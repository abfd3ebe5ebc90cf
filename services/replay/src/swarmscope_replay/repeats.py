"""Replay folds each event once by (session_id, id), inside and after TRACES's duplicate window.

TRACES drops a repeat of an event (same `Nats-Msg-Id: <session>:<id>`) published within its
duplicate window. A repeat published later — a producer retrying after a long outage, an export
imported again into its own session, a producer reusing an id — reaches TRACES with a new seq. The
store keeps the copy it commits first and skips the others; replay must fold exactly the events
the store holds, so before a batch is folded it asks the store where it holds the batch's ids
(one request per batch, StoreOp.EVENT_SEQS):

- held at this seq: this is the stored copy → fold it;
- held at another seq: a repeat (or the store kept a later copy) → skip it here;
- not held yet: the store has not committed it. An earlier copy, if any, was stored in TRACES at
  least one window before this one (else TRACES would have dropped this one), so once the store
  has committed every seq up to that horizon, "not held" means new → fold it. The store is
  normally far past a horizon two minutes back; otherwise the batch waits for it (bounded, then
  retried).

The horizon comes from the TRACES timestamps of the deliveries seen (one checkpoint per batch);
before any is known it is the event's own seq, i.e. the batch waits until the store has caught up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from swarmscope_replay.event_source import EventSource
from swarmscope_service.consumer import Delivery, RetryableError

log = logging.getLogger(__name__)

NS = 1_000_000_000
# TRACES timestamps come from the stream leader's clock: leaders of a cluster may differ a little.
CLOCK_SKEW_NS = 5 * NS
POLL_SECONDS = 0.05


class RepeatFilter:
    """Drops events the store does not hold at their own seq (see the module docstring)."""

    def __init__(self, source: EventSource, window_seconds: float, *, wait: float = 10.0) -> None:
        self._source = source
        self._window_ns = int(window_seconds * NS)
        self._wait = wait
        self._checkpoints: deque[tuple[int, int]] = deque()  # (TRACES timestamp ns, seq), ascending

    def observe(self, deliveries: Sequence[Delivery]) -> None:
        """Records where the log stood in time (the first timestamped delivery of a batch)."""
        for delivery in deliveries:
            if delivery.timestamp_ns:
                if not self._checkpoints or delivery.stream_seq > self._checkpoints[-1][1]:
                    self._checkpoints.append((delivery.timestamp_ns, delivery.stream_seq))
                break
        # Checkpoints older than twice the window are never a horizon again.
        if self._checkpoints:
            oldest_useful = self._checkpoints[-1][0] - 2 * self._window_ns - CLOCK_SKEW_NS
            while len(self._checkpoints) > 1 and self._checkpoints[1][0] < oldest_useful:
                self._checkpoints.popleft()

    def horizon(self, seq: int, timestamp_ns: int) -> int:
        """A seq such that every earlier copy of an event stored at (`seq`, `timestamp_ns`) is at or
        below it: just before the first checkpoint younger than one window before the event."""
        if timestamp_ns:
            limit = timestamp_ns - self._window_ns + CLOCK_SKEW_NS
            for checkpoint_ns, checkpoint_seq in self._checkpoints:
                if checkpoint_ns > limit:
                    return min(checkpoint_seq, seq) - 1
        return seq - 1

    async def keep(
        self, by_session: dict[str, list[dict[str, Any]]], timestamps: dict[int, int]
    ) -> dict[str, list[dict[str, Any]]]:
        """The events to fold, by session, in their order: repeats removed. `timestamps` maps a
        seq to its TRACES timestamp (ns) where known."""
        asked = {sid: [str(e.get("id")) for e in events] for sid, events in by_session.items()}
        deadline = time.monotonic() + self._wait
        undecided = {sid: list(range(len(events))) for sid, events in by_session.items()}
        keep: dict[str, set[int]] = {sid: set() for sid in by_session}
        while True:
            held = await self._held({sid: [asked[sid][i] for i in idx] for sid, idx in undecided.items()})
            waiting: dict[str, list[int]] = {}
            for session_id, indexes in undecided.items():
                events = by_session[session_id]
                stored = held.get(session_id, {})
                for index in indexes:
                    event = events[index]
                    seq = int(event["seq"])
                    at = stored.get(asked[session_id][index])
                    if at is not None:
                        if at == seq:
                            keep[session_id].add(index)
                    elif await self._source.covers(self.horizon(seq, timestamps.get(seq, 0))):
                        keep[session_id].add(index)
                    else:
                        waiting.setdefault(session_id, []).append(index)
            if not waiting:
                break
            if time.monotonic() >= deadline:
                raise RetryableError(
                    "waiting for the store to commit the events an earlier copy could be among"
                )
            await asyncio.sleep(POLL_SECONDS)
            undecided = waiting
        out: dict[str, list[dict[str, Any]]] = {}
        for session_id, events in by_session.items():
            kept = [event for index, event in enumerate(events) if index in keep[session_id]]
            if kept:
                out[session_id] = kept
        return out

    async def _held(self, ids: dict[str, list[str]]) -> dict[str, dict[str, int]]:
        try:
            return await self._source.event_seqs(ids)
        except Exception as exc:
            raise RetryableError(f"the store cannot say which events it holds: {exc}") from exc
