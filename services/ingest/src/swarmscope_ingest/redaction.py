"""Redaction of secrets by key name, in place, before an event is stored or streamed.

Which keys hold secrets is decided by `swarmscope_schema.redaction` (one rule for the SDK and ingest;
its docstring states it). This module applies it to a canonical event dict in place, since ingest
owns the dict it just decoded: matching is iterative through objects and arrays in `data`,
`metadata`, `performance` and any extra top-level field; the envelope fields (`id`, `session_id`,
`type`, …) are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swarmscope_schema.redaction import REDACTED, KeyMatcher

__all__ = ["REDACTED", "Redactor"]

# Envelope fields that the contract defines; they are identifiers and never secrets.
_ENVELOPE = frozenset(
    {"id", "timestamp", "session_id", "agent_id", "type", "phase", "span_id", "agent_seq", "received_at"}
)
# Sections whose contents are redacted by key; the section names themselves are never secrets.
_SECTIONS = frozenset({"data", "metadata", "performance"})


class Redactor:
    """Replaces the values of secret-named keys, per the module's rule."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._matcher = KeyMatcher(patterns)
        self.is_secret = self._matcher.is_secret

    @property
    def enabled(self) -> bool:
        return self._matcher.enabled

    def redact_event(self, event: dict[str, Any]) -> int:
        """Redacts a canonical event dict in place; returns how many values were replaced."""
        if not self._matcher.enabled:
            return 0
        replaced = 0
        for key, value in event.items():
            if key in _ENVELOPE:
                continue
            if key in _SECTIONS:
                if isinstance(value, (dict, list)):
                    replaced += self.redact(value)
                continue
            # An extra top-level field a producer added: judged by its own name like any other key.
            if self.is_secret(key):
                event[key] = REDACTED
                replaced += 1
            elif isinstance(value, (dict, list)):
                replaced += self.redact(value)
        return replaced

    def redact(self, value: dict[str, Any] | list[Any]) -> int:
        """Redacts a JSON object or array in place, at any depth; returns how many values were replaced.

        Iterative, not recursive: a producer may nest as deep as the JSON parser allows.
        """
        replaced = 0
        stack: list[dict[str, Any] | list[Any]] = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, child in node.items():
                    if self.is_secret(key):
                        node[key] = REDACTED
                        replaced += 1
                    elif isinstance(child, (dict, list)):
                        stack.append(child)
            else:
                stack.extend(child for child in node if isinstance(child, (dict, list)))
        return replaced
