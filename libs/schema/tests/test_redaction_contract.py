"""docs/contract/redaction.json lists the rules, each meaning the same in RE2, Python and JavaScript."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import re2  # type: ignore[import-untyped]

from swarmscope_schema.redaction import VALUE_PATTERNS
from swarmscope_schema.redaction.cases import CASES
from swarmscope_schema.redaction.contract import redaction_document

# Beside the cases' strings: texts that exercise the edges of the patterns.
EXTRA_TEXTS = [
    "Authorization: Bearer abc.def-123 and more",
    "x-api-key: 12345; token = 'quoted value' --token t0k --verbose file",
    '{"password":"a\\"b","n":1} \\"secret\\": \\"x\\"',
    "ftp://:pw@host https://user:p@ss@host/x redis://h:6379/0",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\nabc\n-----END PGP PRIVATE KEY BLOCK-----",
    "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 2\nAAAA\nBBBB\nPrivate-MAC: ff",
    "AccountKey=" + "A" * 88 + " SG." + "a" * 22 + "." + "b" * 43,
    "ACabcdef0123456789abcdef0123456789 0123456789:" + "A" * 35,
    "MTAxMjM0NTY3ODkwMTIzNDU2.Gh1234.abcdefghijklmnopqrstuvwxyz0 sq0csp-" + "a" * 43,
    "0123456789abcdef0123456789abcdef-us12 pypi-AgEIcHlwaS5vcmc" + "x" * 60,
    "post to https://hooks.slack.com/services/T0123ABCD/B0123ABCD/AbCdEfGhIjKlMnOpQrStUvWx now",
]


def _texts() -> list[str]:
    texts: list[str] = list(EXTRA_TEXTS)

    def collect(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for child in value.values():
                collect(child)
        elif isinstance(value, list):
            for child in value:
                collect(child)

    for case in CASES:
        collect(case["input"])
    return [t for t in texts if t.isascii()]


def test_document_lists_every_pattern_in_order() -> None:
    names = [p["name"] for p in redaction_document()["value_patterns"]]
    assert names == [p.name for p in VALUE_PATTERNS]
    assert len(set(names)) == len(names)
    for p in redaction_document()["value_patterns"]:
        assert set(p["flags"]) <= {"i"}
        assert p["kind"] in ("secret", "key_value")


def _spans_re2(pattern: str, flags: str, text: str) -> list[list[int]]:
    options = re2.Options()
    options.case_sensitive = "i" not in flags
    regex = re2.compile(pattern, options)
    out = []
    for m in regex.finditer(text):
        g1 = list(m.span(1)) if regex.groups else [-1, -1]
        out.append([*m.span(), *g1])
    return out


def _spans_python(pattern: str, flags: str, text: str) -> list[list[int]]:
    regex = re.compile(pattern, (re.IGNORECASE if "i" in flags else 0) | re.ASCII)
    out = []
    for m in regex.finditer(text):
        g1 = list(m.span(1)) if regex.groups else [-1, -1]
        out.append([*m.span(), *g1])
    return out


_NODE_SCRIPT = r"""
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = input.patterns.map((p) => {
  const re = new RegExp(p.pattern, p.flags + "gd");
  return input.texts.map((t) =>
    Array.from(t.matchAll(re), (m) => [
      m.indices[0][0], m.indices[0][1],
      ...(m.indices[1] ? m.indices[1] : [-1, -1]),
    ]),
  );
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_patterns_match_the_same_spans_in_re2_python_and_javascript() -> None:
    """RE2 runs the patterns here, JavaScript in the TypeScript SDK; Python `re` must accept them.

    `$` is the one construct read differently by Python (before a final newline), so Python is
    compared on texts without one.
    """
    texts = _texts()
    patterns = redaction_document()["value_patterns"]
    result = subprocess.run(
        ["node", "-e", _NODE_SCRIPT],
        input=json.dumps({"patterns": patterns, "texts": texts}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    javascript = json.loads(result.stdout)
    matched = 0
    for p, js_spans in zip(patterns, javascript, strict=True):
        for text, js in zip(texts, js_spans, strict=True):
            ours = _spans_re2(p["pattern"], p["flags"], text)
            assert ours == js, f"{p['name']} on {text!r}: RE2 {ours} JavaScript {js}"
            if not text.endswith("\n"):
                assert _spans_python(p["pattern"], p["flags"], text) == ours, f"{p['name']} on {text!r}"
            matched += bool(ours)
    assert matched >= len(patterns)  # the texts exercise the patterns, not only their misses


def test_every_pattern_matches_something_in_the_texts() -> None:
    texts = _texts()
    for p in VALUE_PATTERNS:
        assert any(_spans_re2(p.pattern, p.flags, t) for t in texts), f"{p.name} is never exercised"
