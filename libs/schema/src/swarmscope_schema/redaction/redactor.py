"""The redactor: the key rule and the value rules applied to events, JSON values, strings and bytes.

What is replaced (CONTRACT "Data handling (v1.1)"; the same walk the TypeScript SDK does):
- an object's entry whose key is a secret (keys.py): its value, whatever it is, becomes `[REDACTED]`;
- a header pair `["Authorization", "…"]` (an array of two items, the first a string naming a secret,
  the second not an object or array): the second item;
- a `{"name": "X-Api-Key", "value": "…"}` object (exactly two entries, `value` and one of `name`,
  `key`, `header`, in any letter case): the value;
- every other string: the value rules (patterns.py), which replace only the secret part.
In an event, the envelope (`id`, `session_id`, `type`, …) is the event's identity and never touched;
`data`, `metadata` and `performance` are walked; any other top-level key is judged like any key.

Cost: a clean event is decided by one RE2 scan of its encoded bytes (`may_hold_secrets`) against the
anchors of every rule; only an event that hits is walked. Every regex here is RE2, linear in its
input whatever a producer sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import re2  # type: ignore[import-untyped]

from swarmscope_schema.redaction.keys import DEFAULT_REDACT_KEYS, REDACTED, KeyMatcher
from swarmscope_schema.redaction.patterns import VALUE_PATTERNS, ValuePattern

# Envelope fields that the contract defines (and a stored event's `seq`): identifiers, never secrets.
ENVELOPE_FIELDS = frozenset(
    {
        "id",
        "timestamp",
        "session_id",
        "agent_id",
        "type",
        "phase",
        "span_id",
        "agent_seq",
        "received_at",
        "seq",
    }
)
# Sections whose contents are redacted; the section names themselves are never judged.
EVENT_SECTIONS = frozenset({"data", "metadata", "performance"})
# `{"name": "Authorization", "value": "…"}`: the entries naming the value (compared lower-case).
NAME_FIELDS = frozenset({"name", "key", "header"})
VALUE_FIELD = "value"
_REDACTED_BYTES = REDACTED.encode()
_MAX_MEM = 64 << 20
# No rule changes a string shorter than this (`k=v` with a one-letter secret key).
MIN_TEXT_LENGTH = 3


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: ValuePattern
    source: str  # what `regex` is compiled from (for key_value rules, narrowed to the secret words)
    regex: Any  # re2._Regexp
    value: Any = None  # key_value rules: the value, matched where `regex`'s match ends


def _latin1(case_sensitive: bool = True) -> Any:
    # Rules run on bytes, byte for byte (any bytes, even invalid UTF-8, as a dead letter may hold):
    # every pattern is ASCII, so it means the same as on text, and offsets need no conversion.
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    # Room for the DFA's states (RE2's default is 8 MiB) on text that keeps many matches open.
    options.max_mem = _MAX_MEM
    options.case_sensitive = case_sensitive
    return options


def _compiled(pattern: str, flags: str) -> Any:
    return re2.compile(pattern.encode("ascii"), _latin1("i" not in flags))


def _rule(pattern: ValuePattern, words: str) -> _Rule:
    if pattern.kind == "secret":
        return _Rule(pattern, pattern.pattern, _compiled(pattern.pattern, pattern.flags))
    source = pattern.key_value_pattern(words)
    return _Rule(
        pattern, source, _compiled(source, pattern.flags), value=_compiled(pattern.value, pattern.flags)
    )


def _flagged(pattern: str, flags: str) -> str:
    return f"(?i:{pattern})" if "i" in flags else f"(?:{pattern})"


def _key_anchors(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """Prefilter anchors for secret keys, one per place the key rule looks (named on each line):
    those of the structure (object keys, pairs) and those of `key: value` fragments in text.

    A key part is followed, in the key's text, by anything but a lower-case letter (keys.py splits
    there), so `token` may be followed by `_count`, `Key`, `"` but not by `s` (`input_tokens`).
    """
    alternation = "|".join(sorted(set(words)))
    if not alternation:
        return [], []
    word = f"(?i:{alternation})"
    in_string = r'(?:[^"\\]|\\.)*'  # JSON string content, as orjson writes it
    after = r'(?:(?:[^a-z"\\]|\\.)' + in_string + ")?"
    spaces = r"(?: |\\t)*"

    def key_chars(quotes: str) -> str:
        # The rest of a key in text (patterns.py: no quote, backslash, space or control character).
        return rf"(?:[^a-z{quotes}\\\x00-\x20][^{quotes}\\\x00-\x20]*)?"

    structure = [
        word + after + '":',  # an object's key
        r'\["' + in_string + word + after + '",',  # a pair's name: ["Authorization", …]
        r'"(?i:name|key|header)":"' + in_string + word + after + '"[,}]',  # {"name": …, "value": …}
    ]
    text = [
        word + key_chars('"') + r'\\+"' + spaces + ":",  # \"key\": … (JSON text in a string)
        word + key_chars("'") + "'" + spaces + ":",  # 'key': … in text
        word + r"(?:[A-Z0-9_.-][A-Za-z0-9_.-]*)?" + spaces + "[:=]",  # key=…, Header: … in text
        word + key_chars("\"'") + r"(?:\\+\"|')" + spaces + ",",  # ("X-Api-Key", …) in text
        "-[A-Za-z0-9_-]*" + word + r"(?:[A-Z0-9_-][A-Za-z0-9_-]*)?(?: |\\t)",  # --password …
    ]
    return structure, text


class Redactor:
    """Replaces secrets by `[REDACTED]`: by key (keys.py) and, in strings, by value (patterns.py).

    `keys` are the key patterns (empty: no key rule); `values=False` turns every string rule off.
    Stateless apart from the key rule's bounded memo: one instance serves a whole process.
    """

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        *,
        values: bool = True,
        patterns: Iterable[ValuePattern] = VALUE_PATTERNS,
    ) -> None:
        self.keys = KeyMatcher(keys)
        self.is_secret = self.keys.is_secret
        rules = [
            p
            for p in patterns
            if values and (p.kind == "secret" or (p.kind == "key_value" and self.keys.enabled))
        ]
        words = "|".join(sorted(set(self.keys.anchor_words())))
        self._rules = tuple(_rule(p, words) for p in rules)
        self._screen: Any = None
        if self._rules:
            screen = re2.Set.SearchSet(_latin1())
            for rule in self._rules:
                screen.Add(_flagged(rule.source, rule.pattern.flags).encode("ascii"))
            screen.Compile()
            self._screen = screen
        structure, text = _key_anchors(self.keys.anchor_words()) if self.keys.enabled else ([], [])
        if not self._rules:
            text = []
        text += [p.anchor for p in rules if p.kind == "secret"]
        # Two entries: which one hits says whether strings need the value rules, or only the
        # structure the key rule (an event whose only suspect is `token_count` is walked by key).
        self._prefilter: Any = None
        self._text_entry = -1
        if structure or text:
            prefilter = re2.Set.SearchSet(_latin1())
            for index, anchors in enumerate((structure, text)):
                if anchors:
                    prefilter.Add("|".join(f"(?:{a})" for a in anchors).encode("ascii"))
                    if index == 1:
                        self._text_entry = 1 if structure else 0
            prefilter.Compile()
            self._prefilter = prefilter

    @property
    def enabled(self) -> bool:
        """False when neither the key rule nor any value rule is on."""
        return self._prefilter is not None

    def may_hold_secrets(self, encoded: bytes) -> bool:
        """False only when the JSON text `encoded` (as orjson writes it) holds nothing to redact.

        A necessary condition, not a sufficient one: True means "walk it".
        """
        return self._prefilter is not None and self._prefilter.Match(encoded) is not None

    def _suspects(self, encoded: bytes) -> tuple[bool, bool]:
        """(walk at all, scan its strings too) for the JSON text `encoded`."""
        if self._prefilter is None:
            return False, False
        hits = self._prefilter.Match(encoded)
        if hits is None:
            return False, False
        return True, self._text_entry in hits

    def redact_text(self, text: str) -> tuple[str, int]:
        """`text` with the value rules applied, and how many secrets were replaced."""
        if self._screen is None or len(text) < MIN_TEXT_LENGTH:
            return text, 0
        raw = text.encode("utf-8", "surrogatepass")
        hits = self._screen.Match(raw)
        if hits is None:
            return text, 0
        redacted, count = self._apply_rules(raw, hits)
        if not count:
            return text, 0
        try:
            return redacted.decode("utf-8", "surrogatepass"), count
        except UnicodeDecodeError:  # a rule cut a character (it should not): keep the rest readable
            return redacted.decode("utf-8", "replace"), count

    def redact_bytes(self, raw: bytes) -> tuple[bytes, int]:
        """Text bytes (any encoding, even invalid UTF-8) with the value rules applied; and how many."""
        if self._screen is None or len(raw) < MIN_TEXT_LENGTH:
            return raw, 0
        hits = self._screen.Match(raw)
        return (raw, 0) if hits is None else self._apply_rules(raw, hits)

    def _apply_rules(self, raw: bytes, hits: list[int]) -> tuple[bytes, int]:
        total = 0
        for index in sorted(hits):
            rule = self._rules[index]
            if rule.pattern.kind == "key_value":
                raw, count = self._replace_values(rule, raw)
            else:
                raw, count = _replace_secrets(rule.regex, raw)
            total += count
        return raw, total

    def _replace_values(self, rule: _Rule, raw: bytes) -> tuple[bytes, int]:
        # Keys and separators are found in one pass; only a secret key's value is matched, so a
        # text of `a=a=a=…` or `token_count=…` stays linear (a value is never scanned twice).
        pieces: list[bytes] = []
        last = resume = count = 0
        is_secret = self.is_secret
        for match in rule.regex.finditer(raw):
            if match.start() < resume:
                if resume >= len(raw):
                    break
                continue  # inside a value already replaced
            key_start, key_end = match.span(1)
            if not is_secret(raw[key_start:key_end].decode("utf-8", "replace")):
                continue
            value = rule.value.match(raw, match.end())
            if value is None:
                continue
            start, end = value.span(1)
            resume = value.end()
            if start < 0 or start == end or raw[start:end] == _REDACTED_BYTES:
                continue
            pieces += (raw[last:start], _REDACTED_BYTES)
            last = end
            count += 1
        if not count:
            return raw, 0
        pieces.append(raw[last:])
        return b"".join(pieces), count

    def redact(self, value: Any, *, text: bool = True) -> int:
        """Redacts a JSON object or array in place, at any depth; returns how many were replaced.

        Iterative, not recursive: a producer may nest as deep as the JSON parser allows. Strings are
        immutable, so a bare string is left alone: use `redact_text`. `text=False` leaves strings
        unscanned (the prefilter found nothing the value rules could change).
        """
        if not isinstance(value, (dict, list)):
            return 0
        count = 0
        stack: list[dict[str, Any] | list[Any]] = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if len(node) == 2:
                    count += self._name_value_pair(node)
                for key, child in node.items():
                    if self.is_secret(key if isinstance(key, str) else str(key)):
                        if child != REDACTED:
                            node[key] = REDACTED
                            count += 1
                    elif text and isinstance(child, str):
                        new, found = self.redact_text(child)
                        if found:
                            node[key] = new
                            count += found
                    elif isinstance(child, (dict, list)):
                        stack.append(child)
            else:
                if (
                    len(node) == 2
                    and isinstance(node[0], str)
                    and not isinstance(node[1], (dict, list))
                    and self.is_secret(node[0])
                ):
                    if node[1] != REDACTED:
                        node[1] = REDACTED
                        count += 1
                    continue
                for index, child in enumerate(node):
                    if text and isinstance(child, str):
                        new, found = self.redact_text(child)
                        if found:
                            node[index] = new
                            count += found
                    elif isinstance(child, (dict, list)):
                        stack.append(child)
        return count

    def _name_value_pair(self, node: dict[str, Any]) -> int:
        value_key = name = None
        for key, child in node.items():
            lowered = key.lower() if isinstance(key, str) else ""
            if lowered == VALUE_FIELD:
                value_key = key
            elif lowered in NAME_FIELDS and isinstance(child, str):
                name = child
        if value_key is None or name is None or not self.is_secret(name) or node[value_key] == REDACTED:
            return 0
        node[value_key] = REDACTED
        return 1

    def redact_encoded(self, event: dict[str, Any], encoded: bytes) -> tuple[bytes, int]:
        """`encoded` (orjson's encoding of `event`) with the event's secrets redacted; and how many.

        The hot path: one prefilter scan; only an event that may hold a secret is walked (in place)
        and, when something was replaced, encoded again.
        """
        walk, text = self._suspects(encoded)
        if not walk:
            return encoded, 0
        count = self.redact_event(event, text=text)
        return (orjson.dumps(event), count) if count else (encoded, 0)

    def redact_event(self, event: dict[str, Any], *, text: bool = True) -> int:
        """Redacts an event dict in place (envelope untouched); returns how many were replaced."""
        count = 0
        for key, value in event.items():
            if key in ENVELOPE_FIELDS:
                continue
            if key not in EVENT_SECTIONS and self.is_secret(key):
                if value != REDACTED:
                    event[key] = REDACTED
                    count += 1
            elif isinstance(value, str):
                if text:
                    new, found = self.redact_text(value)
                    if found:
                        event[key] = new
                        count += found
            else:
                count += self.redact(value, text=text)
        return count


def _replace_secrets(regex: Any, raw: bytes) -> tuple[bytes, int]:
    pieces: list[bytes] = []
    last = count = 0
    grouped = regex.groups > 0
    for match in regex.finditer(raw):
        start, end = match.span(1) if grouped and match.start(1) >= 0 else match.span()
        secret = raw[start:end]
        if not secret or secret == _REDACTED_BYTES:
            continue
        pieces += (raw[last:start], _REDACTED_BYTES)
        last = end
        count += 1
    if not count:
        return raw, 0
    pieces.append(raw[last:])
    return b"".join(pieces), count
