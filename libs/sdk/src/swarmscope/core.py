"""The state one tracer's emitters share: identity, counters, buffer, selection and the publisher.

Kept apart from the emitters so that `tracer.agent("cod-1")` views share one buffer, one connection
and one id space.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from swarmscope.buffer import PRIORITY_RANK, DropCounter, EventBuffer
from swarmscope.context import CURRENT_SPAN, SpanContext
from swarmscope.encoding import EventEncoder, dumps
from swarmscope.selective import ResourceProbe, Selector
from swarmscope_schema.aliases import ALIASES
from swarmscope_schema.events import CUSTOM_TYPE_PATTERN, NAME_PATTERN
from swarmscope_schema.taxonomy import REQUIRED_FIELDS, is_custom_type

if TYPE_CHECKING:
    from swarmscope.publisher import Publisher

log = logging.getLogger("swarmscope")

_NAME = re.compile(NAME_PATTERN)
_KNOWN_CACHE_LIMIT = 10_000

# Sink of the in-memory mode: (priority rank, sequence number, event).
Sink = Callable[[int, int, dict[str, Any]], None]
Clock = Callable[[], float]


class TracerCore:
    """Shared state of a tracer; see the module docstring. Not part of the public API."""

    # Slots: the caller's path reads a dozen of these per event.
    __slots__ = (
        "_warned_closed",
        "agent_seqs",
        "batch_size",
        "buffer",
        "capacity",
        "clock",
        "closed",
        "counter",
        "default_agent",
        "default_rank",
        "drops",
        "encoder",
        "known_agents",
        "known_types",
        "measure",
        "message_counter",
        "probe",
        "publisher",
        "queues",
        "retention",
        "selective",
        "selector",
        "session_id",
        "sink",
        "tag",
        "tags",
    )

    def __init__(
        self,
        *,
        session_id: str,
        default_agent: str | None,
        buffer: EventBuffer,
        drops: DropCounter,
        selector: Selector,
        encoder: EventEncoder,
        probe: ResourceProbe,
        clock: Clock | None,
        rng: random.Random | None,
        tags: tuple[str, ...],
        retention: float | None,
        default_priority: str,
        measure: bool,
    ) -> None:
        check_name("session_id", session_id)
        if default_agent is not None:
            check_name("agent_id", default_agent)
        if default_priority not in PRIORITY_RANK:
            raise ValueError(f"priority must be one of {list(PRIORITY_RANK)}, got {default_priority!r}")
        self.session_id = session_id
        self.default_agent = default_agent
        self.buffer = buffer
        self.queues = buffer.queues
        self.capacity = buffer.capacity
        # Set by the tracer to the publisher's max_batch: the buffer size that triggers a flush.
        self.batch_size = -1
        self.drops = drops
        self.selector = selector
        self.selective = selector.active
        self.encoder = encoder
        self.probe = probe
        self.clock = clock
        self.measure = measure
        source = rng if rng is not None else random.SystemRandom()
        self.tag = f"{source.getrandbits(32):08x}"
        self.counter = itertools.count()
        self.message_counter = itertools.count(1)
        self.agent_seqs: dict[str, itertools.count[int]] = {}
        self.known_agents: set[str] = set()
        self.known_types: set[str] = set()
        self.tags = list(tags)
        self.retention = retention
        self.default_rank = PRIORITY_RANK[default_priority]
        self.closed = False
        self._warned_closed = False
        # Set by the tracer: where events go (the publisher's buffer, or a sink in memory mode).
        self.sink: Sink | None = None
        self.publisher: Publisher | None = None

    def context(self) -> SpanContext | None:
        """The enclosing span of this tracer's session, if any."""
        ctx = CURRENT_SPAN.get()
        if ctx is not None and ctx.session_id != self.session_id:
            return None
        return ctx

    def new_message_id(self) -> str:
        """A message id unique in the session (`m-<tracer tag>-<n>`)."""
        return f"m-{self.tag}-{next(self.message_counter)}"

    def set_pressure(self, pressure: bool) -> None:
        self.selector.pressure = pressure
        self.selective = self.selector.active

    def admission(
        self, event_type: str, phase: str, priority: str | None, agent: str | None, ctx: SpanContext | None
    ) -> str | None:
        """None if selective tracing keeps this event, else the reason it is left out (and counted)."""
        if not self.selective:
            return None
        rank = self.rank(priority)
        reason = self.selector.check(event_type, phase, rank, agent, None if ctx is None else ctx.sampled)
        if reason is not None:
            self.drops.add(reason, rank)
        return reason

    def rank(self, priority: str | None) -> int:
        if priority is None:
            return self.default_rank
        rank = PRIORITY_RANK.get(priority)
        if rank is None:
            raise ValueError(f"priority must be one of {list(PRIORITY_RANK)}, got {priority!r}")
        return rank

    def check_agent(self, agent_id: str) -> None:
        check_name("agent_id", agent_id)
        if len(self.known_agents) < _KNOWN_CACHE_LIMIT:
            self.known_agents.add(agent_id)

    def check_other_type(
        self, event_type: str, data: Mapping[str, Any] | None, agent_id: str | None
    ) -> str | None:
        """Validates a type outside the taxonomy (an alias or `custom.<name>`).

        Returns the agent id a Claude-Flow payload names (`agentId`) when none was given, since
        ingest takes the agent from there too and the subject must agree with the body.
        """
        if event_type in ALIASES:
            if agent_id is None and data is not None:
                named = data.get("agentId")
                if isinstance(named, str) and _NAME.match(named):
                    return named
            return agent_id
        if event_type in self.known_types:
            return agent_id
        if not isinstance(event_type, str):
            raise TypeError(f"event type must be a string, got {type(event_type).__name__}")
        if is_custom_type(event_type) and CUSTOM_TYPE_PATTERN.match(event_type):
            if len(self.known_types) < _KNOWN_CACHE_LIMIT:
                self.known_types.add(event_type)
            return agent_id
        raise ValueError(
            f"unknown event type {event_type!r}: use a type of the taxonomy (swarmscope.EventType), "
            "a Claude-Flow alias (e.g. 'task:created') or 'custom.<name>'"
        )

    def warn_closed(self, rank: int) -> None:
        self.drops.add("closed", rank)
        if not self._warned_closed:
            self._warned_closed = True
            log.warning("swarmscope: event emitted after the tracer was closed; dropped and counted")


def check_name(field: str, value: Any) -> None:
    """Raises ValueError unless `value` is a valid session or agent id (CONTRACT §1)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{field} must match [A-Za-z0-9_-]{{1,128}}, got {value!r}")
    if value == "_":
        raise ValueError(f"{field} '_' is reserved (it is the subject token of session-level events)")


def missing_required(event_type: str, data: Mapping[str, Any] | None) -> None:
    """Raises ValueError naming the required payload fields (CONTRACT §2) that `data` lacks."""
    required = REQUIRED_FIELDS.get(event_type, ())
    missing = [key for key in required if data is None or key not in data]
    if missing:
        raise ValueError(f"{event_type} events require data fields {missing} (CONTRACT §2)")


def wire_copy(event: dict[str, Any], encoder: EventEncoder) -> dict[str, Any]:
    """The event exactly as it would travel: redacted, truncated if asked, through JSON."""
    result: dict[str, Any] = orjson.loads(dumps(encoder.prepare(event)))
    return result
