"""What a state answer carries (v1.1): the bounded view, pages of a collection, the whole state.

- The bounded view is SystemState with each growing collection (swarmscope_schema.state) cut to
  its newest `limit` items, and `view.collections` saying, per collection present, how many items
  the state has (`count`), how many the view carries (`included`) and, for a list, the position of
  the first one (`offset`). A collection with at most `limit` items is carried whole, so the view
  of a small session is its whole state plus the `view` key.
- A page is part of one collection in a stable order (maps by key, lists by position), filtered
  or not; its cursor is a position in that order, so a page asked for again at the same seq is the
  same page, and the pages of a collection join back into it exactly.
- The whole state is streamed as JSON pieces, a growing collection a few hundred items at a time,
  so its answer never needs one buffer of its full size.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from swarmscope_replay.chunked import collection_value
from swarmscope_schema.requests import ErrorCode, StatePageQuery
from swarmscope_schema.state import STATE_COLLECTIONS, StateCollection
from swarmscope_service.request_reply import ServiceError

State = dict[str, Any]
PIECE_BYTES = 256 * 1024


def _recency(collection: StateCollection) -> Callable[[tuple[str, Any]], tuple[int, str]]:
    fields = collection.recency

    def key(item: tuple[str, Any]) -> tuple[int, str]:
        value = item[1]
        newest = 0
        if isinstance(value, Mapping):
            for name in fields:
                seq = value.get(name)
                if isinstance(seq, int) and not isinstance(seq, bool) and seq > newest:
                    newest = seq
        return newest, item[0]

    return key


def bounded_view(state: Mapping[str, Any], limit: int) -> State:
    """The state with each growing collection cut to its newest `limit` items, and `view`."""
    out: State = dict(state)
    if isinstance(out.get("session"), dict):
        out["session"] = dict(out["session"])
    described: dict[str, dict[str, int]] = {}
    for collection in STATE_COLLECTIONS.values():
        value = collection_value(state, collection)
        if value is None:
            continue
        count = len(value)
        if collection.kind == "list":
            kept: Any = value[count - limit :] if limit and count > limit else (value if limit else [])
            described[collection.name] = {"count": count, "included": len(kept), "offset": count - len(kept)}
        else:
            if count <= limit:
                kept = value
            else:
                newest = heapq.nlargest(limit, value.items(), key=_recency(collection))
                kept = dict(sorted(newest))
            described[collection.name] = {"count": count, "included": len(kept)}
        _put(out, collection.path, kept)
    out["view"] = {"kind": "bounded", "limit": limit, "collections": described}
    return out


def _put(state: State, path: Sequence[str], value: Any) -> None:
    if len(path) == 1:
        state[path[0]] = value
    else:
        state[path[0]][path[1]] = value


def parse_cursor(cursor: str | None) -> int | None:
    """A page cursor: a position (decimal, 0-based)."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit():
        raise ServiceError(ErrorCode.BAD_REQUEST, f"cursor {cursor!r} is not a position")
    return int(cursor)


def _matches_agent(collection: StateCollection, agent: str) -> Callable[[Any], bool]:
    fields = collection.agent_fields

    def matches(value: Any) -> bool:
        if not isinstance(value, Mapping):
            return False
        for name in fields:
            field = value.get(name)
            if field == agent or (isinstance(field, list) and agent in field):
                return True
        return False

    return matches


def _field_equals(field: str, wanted: str) -> Callable[[Any, Any], bool]:
    def test(_: Any, value: Any) -> bool:
        return isinstance(value, Mapping) and value.get(field) == wanted

    return test


def _matcher(collection: StateCollection, query: StatePageQuery) -> Callable[[Any, Any], bool] | None:
    """A test on (key, value) for the page's filters, or None when there is none."""
    for name in ("agent", "prefix", "status", "kind"):
        if getattr(query, name) is not None and name not in collection.filters:
            raise ServiceError(ErrorCode.BAD_REQUEST, f"{collection.name} pages cannot be filtered by {name}")
    tests: list[Callable[[Any, Any], bool]] = []
    if query.prefix is not None:
        prefix = query.prefix
        tests.append(lambda key, _: isinstance(key, str) and key.startswith(prefix))
    if query.agent is not None:
        agent = _matches_agent(collection, query.agent)
        tests.append(lambda _, value: agent(value))
    for wanted, field in ((query.status, collection.status_field), (query.kind, collection.kind_field)):
        if wanted is not None and field is not None:
            tests.append(_field_equals(field, wanted))
    if query.q:
        needle = query.q.lower().encode()
        tests.append(lambda key, value: needle in orjson.dumps([key, value]).lower())
    if not tests:
        return None
    return lambda key, value: all(test(key, value) for test in tests)


def sorted_keys(mapping: Mapping[str, Any]) -> list[str]:
    """A map collection's page order: its keys by code point."""
    return sorted(mapping)


def collection_page(
    state: Mapping[str, Any],
    query: StatePageQuery,
    keys_of: Callable[[str, Mapping[str, Any]], Sequence[str]] = lambda _, m: sorted_keys(m),
) -> State:
    """One page of a collection of `state`: `{items: [{key, value}], next_cursor, count, …}`.

    `keys_of(collection name, mapping)` gives a map's keys in page order (a cache may keep them
    for the next page of the same state).
    """
    collection = STATE_COLLECTIONS[query.collection]
    value = collection_value(state, collection)
    empty: Any = {} if collection.kind == "map" else []
    value = empty if value is None else value
    count = len(value)
    keys: Sequence[Any] = keys_of(collection.name, value) if collection.kind == "map" else range(count)
    matcher = _matcher(collection, query)
    step = 1 if query.order == "asc" else -1
    start = parse_cursor(query.cursor)
    position = (0 if step == 1 else count - 1) if start is None else start
    if start is not None and step == -1:
        position = min(position, count - 1)
    items: list[dict[str, Any]] = []
    while 0 <= position < count and len(items) < query.limit:
        key = keys[position]
        item = value[key]
        if matcher is None or matcher(key, item):
            items.append({"key": key, "value": item})
        position += step
    return {
        "session_id": state.get("session_id"),
        "seq": state.get("seq"),
        "collection": collection.name,
        "count": count,
        "order": query.order,
        "items": items,
        "next_cursor": str(position) if 0 <= position < count else None,
    }


async def whole_state_pieces(state: Mapping[str, Any]) -> AsyncIterator[bytes]:
    """The state's JSON in pieces of about PIECE_BYTES (or one item, when an item is bigger):
    joined, exactly `orjson.dumps(state)` parsed back (key order aside, which JSON objects do not
    have)."""
    buffer = bytearray()
    for piece in _encode(state, ()):
        buffer += piece
        if len(buffer) >= PIECE_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


_STREAMED = frozenset(c.path for c in STATE_COLLECTIONS.values())
_ON_THE_WAY = frozenset(c.path[:i] for c in STATE_COLLECTIONS.values() for i in range(len(c.path)))


def _encode(value: Any, path: tuple[str, ...]) -> Iterator[bytes]:
    """JSON bytes of `value`; the growing collections item by item, so pieces can be cut."""
    if path in _STREAMED and isinstance(value, dict):
        yield b"{"
        for index, (key, item) in enumerate(value.items()):
            yield (b"," if index else b"") + orjson.dumps(key) + b":" + orjson.dumps(item)
        yield b"}"
    elif path in _STREAMED and isinstance(value, list):
        yield b"["
        for index, item in enumerate(value):
            yield (b"," if index else b"") + orjson.dumps(item)
        yield b"]"
    elif path in _ON_THE_WAY and isinstance(value, dict):
        yield b"{"
        for index, (key, item) in enumerate(value.items()):
            yield (b"," if index else b"") + orjson.dumps(key) + b":"
            yield from _encode(item, (*path, key) if isinstance(key, str) else ("",))
        yield b"}"
    else:
        yield orjson.dumps(value)
