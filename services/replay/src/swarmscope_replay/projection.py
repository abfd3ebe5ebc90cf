"""What part of `state` / `event` an expression can read, so only that part is handed to CEL.

Handing a value to the CEL evaluator converts it whole, every time: a state with a thousand tasks
costs milliseconds per evaluation, while `state.tasks["T3"].status` needs one task. A variable can
only be reached through its identifier, so every place the identifier occurs is found, and the
chain of literal selections after it (`.name` or `["name"]`, not a method call) is the path it
reads. Anything else after the identifier (an index that is not a string literal, an operator,
`.?` optional selection, the end of the text) stops the chain and the whole prefix is kept. Every
occurrence counts, also one inside a string literal or a field of another variable named the
same: that can only keep more than needed, never less, so the projection is exact for the
expression while usually tiny.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

Path = tuple[str, ...]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SELECT = re.compile(
    r"\s*(?:\.\s*(?P<field>"
    + _IDENT
    + r")(?![A-Za-z0-9_])(?!\s*\()|\[\s*(?:\"(?P<dq>[^\"\\\n]*)\"|'(?P<sq>[^'\\\n]*)')\s*\])"
)


def referenced_paths(sources: Iterable[str], variable: str) -> list[Path] | None:
    """The paths under `variable` the expressions can read: [] when they never mention it, None
    when one of them may read it whole."""
    occurrence = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(variable) + r"(?![A-Za-z0-9_])")
    paths: list[Path] = []
    for source in sources:
        for match in occurrence.finditer(source):
            path: list[str] = []
            position = match.end()
            while True:
                step = _SELECT.match(source, position)
                if step is None:
                    break
                name = step.group("field")
                if name is None:
                    name = step.group("dq") if step.group("dq") is not None else step.group("sq")
                path.append(name)
                position = step.end()
            if not path:
                return None
            paths.append(tuple(path))
    return _minimal(paths)


def _minimal(paths: list[Path]) -> list[Path]:
    """Drops paths under another path (the shorter one already keeps them)."""
    out: list[Path] = []
    for path in sorted(set(paths), key=len):
        if not any(path[: len(kept)] == kept for kept in out):
            out.append(path)
    return out


def project(value: Any, paths: list[Path] | None) -> Any:
    """The smallest value with everything `paths` reach in `value` (None: the whole value)."""
    if paths is None:
        return value
    out: dict[str, Any] = {}
    for path in paths:
        _copy_path(value, out, path)
    return out


def _copy_path(source: Any, target: dict[str, Any], path: Path) -> None:
    head, rest = path[0], path[1:]
    if not isinstance(source, Mapping) or head not in source:
        return
    if not rest:
        target[head] = source[head]
        return
    child = source[head]
    if not isinstance(child, Mapping):
        # Selecting into a non-map fails in CEL whether or not we copy it; keep it as it is.
        target[head] = child
        return
    existing = target.get(head)
    if not isinstance(existing, dict) or existing is child:
        existing = {}
        target[head] = existing
    _copy_path(child, existing, rest)
