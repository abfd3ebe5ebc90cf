"""swarmscope's contract as code: events, taxonomy, aliases, NATS names, codec, API models."""

from swarmscope_schema.events import EventMetadata, Performance, StoredEvent, TraceEvent
from swarmscope_schema.taxonomy import EventType

__all__ = ["EventMetadata", "EventType", "Performance", "StoredEvent", "TraceEvent"]
