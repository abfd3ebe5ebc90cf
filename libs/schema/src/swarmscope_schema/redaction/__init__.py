"""Redaction of secrets, defined once: the key rule (keys.py), the value rules (patterns.py), the
redactor that applies both to events, values, text and bytes (redactor.py), dead letters
(dead_letters.py), and the files the TypeScript SDK reads (contract.py → docs/contract/)."""

from swarmscope_schema.redaction.keys import (
    DEFAULT_REDACT_KEYS,
    QUANTITY_WORDS,
    REDACTED,
    KeyMatcher,
    key_parts,
)
from swarmscope_schema.redaction.patterns import VALUE_PATTERNS, ValuePattern
from swarmscope_schema.redaction.redactor import ENVELOPE_FIELDS, EVENT_SECTIONS, Redactor

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "ENVELOPE_FIELDS",
    "EVENT_SECTIONS",
    "QUANTITY_WORDS",
    "REDACTED",
    "VALUE_PATTERNS",
    "KeyMatcher",
    "Redactor",
    "ValuePattern",
    "key_parts",
]
