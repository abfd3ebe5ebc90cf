"""Redaction of secrets by key name, before an event is stored or streamed.

The rule (documented in the README, tested in test_redaction.py):

- A key is split into lower-case parts at `_`, `-`, `.`, spaces and other punctuation, and at camelCase
  boundaries: `x-api-key` → x, api, key; `refreshToken` → refresh, token; `APIKey` → api, key.
  A pattern is split the same way.
- A key matches a pattern when the pattern's parts occur in the key's parts, consecutively and whole:
  `token` matches `token`, `access_token`, `X-Auth-Token`, `refreshToken`; `api_key` matches `apiKey`
  and `OPENAI_API_KEY`. Whole parts, not substrings, so `input_tokens`, `output_tokens`, `max_tokens`
  and `tokenizer` are not secrets (`tokens` is not the part `token`).
- A key whose first or last part is a quantity word (`count`, `total`, `limit`, `length`, `size`,
  `usage`, `max`, …) names a measure of the thing, not the thing: `token_count`, `password_length`,
  `max_token` are kept.
- The value of a matching key, whatever its type (a string, a number, a whole object), becomes
  `"[REDACTED]"`. Matching is recursive through objects and arrays in `data`, `metadata`,
  `performance` and any extra top-level field; the envelope fields (`id`, `session_id`, `type`, …)
  are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"

# Envelope fields that the contract defines; they are identifiers and never secrets.
_ENVELOPE = frozenset(
    {"id", "timestamp", "session_id", "agent_id", "type", "phase", "span_id", "agent_seq", "received_at"}
)
# Sections whose contents are redacted by key; the section names themselves are never secrets.
_SECTIONS = frozenset({"data", "metadata", "performance"})

QUANTITY_WORDS = frozenset(
    {
        "count",
        "counts",
        "total",
        "totals",
        "limit",
        "limits",
        "length",
        "len",
        "size",
        "usage",
        "used",
        "budget",
        "remaining",
        "max",
        "min",
        "rate",
        "ttl",
    }
)

_CHUNKS = re.compile(r"[^A-Za-z0-9]+")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Bound the memo of key decisions: keys repeat across events, but a hostile producer could send
# unbounded distinct keys.
_MEMO_LIMIT = 50_000


def key_parts(key: str) -> tuple[str, ...]:
    """The lower-case parts of a key, split at punctuation and camelCase boundaries."""
    parts: list[str] = []
    for chunk in _CHUNKS.split(key):
        if chunk:
            parts.extend(p.lower() for p in _CAMEL_PARTS.findall(chunk))
    return tuple(parts)


def _contains_run(parts: tuple[str, ...], run: tuple[str, ...]) -> bool:
    width = len(run)
    return any(parts[i : i + width] == run for i in range(len(parts) - width + 1))


class Redactor:
    """Replaces the values of secret-named keys, per the module's rule."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns = tuple(p for p in (key_parts(pattern) for pattern in patterns) if p)
        self._memo: dict[str, bool] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._patterns)

    def is_secret(self, key: str) -> bool:
        """True when the value under `key` must be redacted."""
        known = self._memo.get(key)
        if known is not None:
            return known
        parts = key_parts(key)
        secret = (
            bool(parts)
            and parts[0] not in QUANTITY_WORDS
            and parts[-1] not in QUANTITY_WORDS
            and any(_contains_run(parts, pattern) for pattern in self._patterns)
        )
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = secret
        return secret

    def redact_event(self, event: dict[str, Any]) -> int:
        """Redacts a canonical event dict in place; returns how many values were replaced."""
        if not self._patterns:
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
