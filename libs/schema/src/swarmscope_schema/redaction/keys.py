"""The key rule: which keys hold secrets (CONTRACT "Data handling"), defined once for every producer.

Agents redact before an event leaves the process (the SDKs) and ingest redacts again before anything
is stored or streamed; all must agree on what a secret is, so the rule lives here (and reaches the
TypeScript SDK as docs/contract/redaction.json).

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
- The value of a matching key, whatever its type (a string, a number, a whole object: everything
  under `credentials`), becomes `"[REDACTED]"`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# The contract's defaults (password, secret, token, api_key, authorization, cookie) plus the spellings
# of the same secrets that a whole-part match would otherwise miss (`apikey` is one part, `cookies` is
# not `cookie`, `pwd` is not `password`).
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "cookie",
    "cookies",
    "private_key",
)

# `used` is not one: `password_used` is the password that was used.
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
        "budget",
        "num",
        "remaining",
        "max",
        "min",
        "rate",
        "ttl",
    }
)

_CHUNKS = re.compile(r"[^A-Za-z0-9]+")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Keys repeat across events, so decisions are memoized; the memo is bounded because a hostile
# producer could send unbounded distinct keys.
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
    first = run[0]
    return any(parts[i] == first and parts[i : i + width] == run for i in range(len(parts) - width + 1))


class KeyMatcher:
    """Decides, per the module's rule, whether the value under a key is a secret."""

    def __init__(self, patterns: Iterable[str] = DEFAULT_REDACT_KEYS) -> None:
        self._patterns = tuple(p for p in (key_parts(pattern) for pattern in patterns) if p)
        self._memo: dict[str, bool] = {}

    @property
    def enabled(self) -> bool:
        """False when no pattern is configured (redaction off)."""
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

    def anchor_words(self) -> tuple[str, ...]:
        """The longest part of each pattern: a key that matches the pattern contains it whole."""
        return tuple(max(pattern, key=len) for pattern in self._patterns)
