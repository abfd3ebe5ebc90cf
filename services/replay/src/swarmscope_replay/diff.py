"""What changed between two states: paths added, removed and changed.

Maps are compared key by key and lists index by index, recursively; a subtree that appears or
disappears is one change at its root. Subtrees shared by both states (the reducer's structural
sharing) are skipped without being walked. The number of changes is capped; `truncated` says so.
"""

from __future__ import annotations

from typing import Any

MAX_CHANGES = 5000

PathKey = str | int


def _same_scalar(a: Any, b: Any) -> bool:
    # 1, 1.0 and True are equal in Python, but a change of type is a change of state.
    return type(a) is type(b) and a == b


def diff_states(before: Any, after: Any, *, limit: int = MAX_CHANGES) -> tuple[list[dict[str, Any]], bool]:
    """The changes from `before` to `after` as dicts {path, op, before, after}; and whether the
    list was cut at `limit`."""
    changes: list[dict[str, Any]] = []
    truncated = _walk(before, after, [], changes, limit)
    return changes, truncated


def _walk(a: Any, b: Any, path: list[PathKey], out: list[dict[str, Any]], limit: int) -> bool:
    if a is b:
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if key not in b:
                if _emit(out, limit, [*path, key], "removed", value, None):
                    return True
            elif _walk(value, b[key], [*path, key], out, limit):
                return True
        for key, value in b.items():
            if key not in a and _emit(out, limit, [*path, key], "added", None, value):
                return True
        return False
    if isinstance(a, list) and isinstance(b, list):
        common = min(len(a), len(b))
        for index in range(common):
            if _walk(a[index], b[index], [*path, index], out, limit):
                return True
        for index in range(common, len(a)):
            if _emit(out, limit, [*path, index], "removed", a[index], None):
                return True
        for index in range(common, len(b)):
            if _emit(out, limit, [*path, index], "added", None, b[index]):
                return True
        return False
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)) or not _same_scalar(a, b):
        return _emit(out, limit, path, "changed", a, b)
    return False


def _emit(
    out: list[dict[str, Any]], limit: int, path: list[PathKey], op: str, before: Any, after: Any
) -> bool:
    if len(out) >= limit:
        return True
    out.append({"path": list(path), "op": op, "before": before, "after": after})
    return False
