"""Where replay reads recorded events: the small interface it needs from the store.

Replay owns no events; it asks the store (`StoreEventSource`) and, in unit tests, an in-memory
fake (`swarmscope_dev.replay.MemoryEventSource`). One contract test runs against both.
Events are stored-event dicts (the canonical event plus `seq`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

MAX_PAGE = 5000  # EventsQuery.limit's upper bound

StoredEventDict = dict[str, Any]


class EventSource(Protocol):
    """The store operations replay depends on."""

    async def events(
        self,
        session_id: str,
        *,
        after_seq: int = 0,
        until_seq: int | None = None,
        limit: int = MAX_PAGE,
        order: Literal["asc", "desc"] = "asc",
        span_id: str | None = None,
        to_ts: float | None = None,
    ) -> list[StoredEventDict]:
        """One page: the session's events with after_seq < seq ≤ until_seq (and the filters), at
        most `limit`, ascending or descending by seq."""

    async def event(self, session_id: str, event_id: str) -> StoredEventDict | None:
        """One event by its id, or None."""

    async def session_bounds(self, session_id: str) -> tuple[int, int] | None:
        """(event count, last seq) of a session, or None when the store has no such session."""

    async def covers(self, seq: int) -> bool:
        """True once the source holds every event of the log up to `seq` (so a page ending
        before `seq` is complete, and a state folded from it is final)."""

    async def event_seqs(self, ids: dict[str, list[str]]) -> dict[str, dict[str, int]]:
        """The seq each event id (by session) is held at; ids not held are left out."""


async def iter_pages(
    source: EventSource,
    session_id: str,
    *,
    after_seq: int = 0,
    until_seq: int | None = None,
    page_size: int = MAX_PAGE,
) -> AsyncIterator[list[StoredEventDict]]:
    """Pages of a session's events after `after_seq` up to `until_seq`, ascending.

    A range of at most `page_size` events costs exactly one request; more, one per page.
    """
    cursor = after_seq
    while until_seq is None or cursor < until_seq:
        page = await source.events(session_id, after_seq=cursor, until_seq=until_seq, limit=page_size)
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        cursor = int(page[-1]["seq"])


async def events_between(
    source: EventSource, session_id: str, after_seq: int, until_seq: int | None
) -> list[StoredEventDict]:
    """Every event of the session with after_seq < seq ≤ until_seq, ascending."""
    out: list[StoredEventDict] = []
    async for page in iter_pages(source, session_id, after_seq=after_seq, until_seq=until_seq):
        out.extend(page)
    return out


async def previous_event(source: EventSource, session_id: str, seq: int) -> StoredEventDict | None:
    """The session's last event before `seq`."""
    if seq <= 1:
        return None
    page = await source.events(session_id, until_seq=seq - 1, limit=1, order="desc")
    return page[0] if page else None


async def last_event(source: EventSource, session_id: str) -> StoredEventDict | None:
    """The session's last event."""
    page = await source.events(session_id, limit=1, order="desc")
    return page[0] if page else None
