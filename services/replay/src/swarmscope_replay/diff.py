"""What changed between two states: paths added, removed and changed, in a stable order, paged.

Maps are compared key by key (keys in code point order) and lists index by index, recursively; a
subtree that appears or disappears is one change at its root. Subtrees shared by both states (the
reducer's structural sharing) are skipped without being walked. The order depends only on the two
states, so a page of changes (`skip`, `limit`) asked again is the same page, and the pages of a
diff join back into all of it (v1.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

MAX_CHANGES = 5000

PathKey = str | int
Change = dict[str, Any]


def _same_scalar(a: Any, b: Any) -> bool:
    # 1, 1.0 and True are equal in Python, but a change of type is a change of state.
    return type(a) is type(b) and a == b


def diff_states(before: Any, after: Any, *, limit: int = MAX_CHANGES) -> tuple[list[Change], bool]:
    """The first `limit` changes from `before` to `after` as dicts {path, op, before, after}; and
    whether there are more."""
    changes, more = diff_page(before, after, skip=0, limit=limit)
    return changes, more


def diff_page(
    before: Any, after: Any, *, skip: int, limit: int, under: tuple[str, ...] = ()
) -> tuple[list[Change], bool]:
    """Changes `skip` to `skip + limit` of the diff (only those inside `under`, a path from the
    root); and whether more follow."""
    a, b = _at(before, under), _at(after, under)
    walk = _walk(a, b, list(under))
    page = list(islice(walk, skip, skip + limit))
    more = next(walk, None) is not None
    return page, more


_ABSENT = object()


def _at(state: Any, path: tuple[str, ...]) -> Any:
    node = state
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _ABSENT
        node = node[key]
    return node


def _walk(a: Any, b: Any, path: list[PathKey]) -> Iterator[Change]:
    if a is b:
        return
    if a is _ABSENT or b is _ABSENT:
        if a is not _ABSENT:
            yield _change(path, "removed", a, None)
        elif b is not _ABSENT:
            yield _change(path, "added", None, b)
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            yield from _walk(a.get(key, _ABSENT), b.get(key, _ABSENT), [*path, key])
        return
    if isinstance(a, list) and isinstance(b, list):
        common = min(len(a), len(b))
        for index in range(common):
            yield from _walk(a[index], b[index], [*path, index])
        for index in range(common, len(a)):
            yield _change([*path, index], "removed", a[index], None)
        for index in range(common, len(b)):
            yield _change([*path, index], "added", None, b[index])
        return
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)) or not _same_scalar(a, b):
        yield _change(path, "changed", a, b)


def _change(path: list[PathKey], op: str, before: Any, after: Any) -> Change:
    return {"path": list(path), "op": op, "before": before, "after": after}
