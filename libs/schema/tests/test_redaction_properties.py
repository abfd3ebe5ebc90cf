"""Property tests: no generated secret shape survives, wherever it hides in an event or a dead letter.

Each strategy makes a secret of one shape and says which part of it is the secret material. The
material is then placed in an event (a nested value, a list item, a key's value, metadata), the
event is encoded as ingest encodes it and redacted through the hot path (prefilter, then walk), and
the material must be gone; also from the dead-letter form of the same bytes cut short.
"""

from __future__ import annotations

import string
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from swarmscope_schema.redaction import DEFAULT_REDACT_KEYS, QUANTITY_WORDS, Redactor, key_parts
from swarmscope_schema.redaction.dead_letters import redact_payload

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
REDACTOR = Redactor()
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def text_of(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def with_digit(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.tuples(text_of(alphabet, low, high), st.sampled_from(string.digits)).map(lambda t: t[0] + t[1])


# (the whole string as it appears, the material that must not survive)
Shape = tuple[str, str]


def _whole(prefix: str, body: st.SearchStrategy[str]) -> st.SearchStrategy[Shape]:
    return body.map(lambda b: (prefix + b, prefix + b))


def _private_key() -> st.SearchStrategy[Shape]:
    def build(kind: str, lines: list[str], ended: bool) -> Shape:
        body = "\n".join(lines)
        armor = f"-----BEGIN {kind}PRIVATE KEY-----"
        end = f"\n-----END {kind}PRIVATE KEY-----" if ended else ""
        return f"{armor}\n{body}{end}", body

    return st.builds(
        build,
        st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "DSA ", "ENCRYPTED "]),
        st.lists(text_of(ALNUM + "+/", 24, 64), min_size=1, max_size=4),
        st.booleans(),
    )


def _url() -> st.SearchStrategy[Shape]:
    return st.builds(
        lambda scheme, user, password, host: (f"{scheme}://{user}:{password}@{host}/db", password),
        st.sampled_from(["postgres", "postgresql", "mysql", "redis", "amqp", "https", "mongodb+srv"]),
        text_of(ALNUM + "._-", 0, 12),
        with_digit(ALNUM + "!$%*._~-", 6, 24),
        st.sampled_from(["db", "db.internal:5432", "10.0.0.7"]),
    )


def _bearer() -> st.SearchStrategy[Shape]:
    return st.builds(
        lambda header, scheme, token: (f"{header}: {scheme} {token}", token),
        st.sampled_from(["Authorization", "authorization", "Proxy-Authorization"]),
        st.sampled_from(["Bearer", "bearer", "Basic", "Token"]),
        with_digit(ALNUM + "._~+/-", 8, 40),
    )


def _secret_key() -> st.SearchStrategy[str]:
    """A key the rule must call a secret: a secret word among other parts, any case and separator."""
    word = st.sampled_from([k for k in DEFAULT_REDACT_KEYS if "_" not in k] + ["api_key", "private_key"])
    part = st.sampled_from(["db", "user", "service", "x", "openai", "aws", "prod", "primary", "2"])
    sep = st.sampled_from(["_", "-", ".", ""])

    def build(before: list[str], secret: str, after: list[str], separator: str, case: str) -> str:
        parts = [*before, *secret.split("_"), *after]
        if case == "upper":
            return separator.join(p.upper() for p in parts) if separator else "_".join(parts).upper()
        if case == "camel" or not separator:
            return parts[0] + "".join(p.capitalize() for p in parts[1:])
        return separator.join(parts)

    return st.builds(
        build,
        st.lists(part, max_size=2),
        word,
        st.lists(part, max_size=1),
        sep,
        st.sampled_from(["lower", "upper", "camel"]),
    )


def _key_value() -> st.SearchStrategy[Shape]:
    forms = [
        "{k}={v}",
        "{k}: {v}",
        "export {k}={v}",
        '{{"{k}": "{v}"}}',
        "{{'{k}': '{v}'}}",
        "--{k} {v}",
        "{k} = '{v}'",
        '[("{k}", "{v}")]',
    ]
    return st.builds(
        lambda form, key, value: (form.format(k=key, v=value), value),
        st.sampled_from(forms),
        _secret_key().filter(lambda k: "-" not in k[:1]),
        with_digit(ALNUM + "._~+/", 6, 30),
    )


SHAPES: st.SearchStrategy[Shape] = st.one_of(
    _whole("sk-ant-api03-", text_of(B64URL, 20, 90)),
    _whole("sk-proj-", text_of(B64URL, 20, 90)),
    _whole("sk-", text_of(ALNUM, 20, 60)),
    _whole("AKIA", text_of(string.ascii_uppercase + string.digits, 16, 16)),
    _whole("ASIA", text_of(string.ascii_uppercase + string.digits, 16, 16)),
    st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]).flatmap(
        lambda p: _whole(p, text_of(ALNUM, 36, 60))
    ),
    _whole("github_pat_", text_of(ALNUM + "_", 22, 82)),
    _whole("glpat-", text_of(B64URL, 20, 50)),
    st.builds(
        lambda a, b, c: (f"xoxb-{a}-{b}-{c}",) * 2,
        text_of(string.digits, 6, 13),
        text_of(string.digits, 6, 13),
        text_of(ALNUM, 8, 32),
    ),
    _whole("sk_live_", text_of(ALNUM, 24, 99)),
    _whole("rk_test_", text_of(ALNUM, 24, 99)),
    st.builds(lambda a, b: (f"SG.{a}.{b}",) * 2, text_of(B64URL, 22, 22), text_of(B64URL, 43, 43)),
    _whole("AIza", text_of(B64URL, 35, 35)),
    _whole("hf_", text_of(ALNUM, 34, 40)),
    _whole("npm_", text_of(ALNUM, 36, 36)),
    _whole("pypi-AgEIcHlwaS5vcmc", text_of(B64URL, 70, 120)),
    st.builds(
        lambda a, b, c: (f"eyJ{a}.eyJ{b}.{c}",) * 2,
        text_of(B64URL, 4, 40),
        text_of(B64URL, 4, 60),
        text_of(B64URL, 0, 43),
    ),
    _private_key(),
    _url(),
    _bearer(),
    _key_value(),
)
# Text around a secret: words and punctuation that cannot glue onto it.
SURROUNDING = st.lists(
    st.sampled_from(["the", "log:", "ran", "->", "(", ")", "\n", "\t", "ok;", "«é»"]), max_size=5
).map(" ".join)


def _place(where: int, text: str) -> dict[str, Any]:
    data: dict[str, Any] = {"tool": "Bash", "exit_code": 0, "input_tokens": 12}
    metadata: dict[str, Any] = {"tags": ["t"]}
    if where == 0:
        data["result"] = text
    elif where == 1:
        data["args"] = {"steps": [{"cmd": text}, "echo"]}
    elif where == 2:
        data["lines"] = ["start", text, "end"]
    else:
        metadata["note"] = text
    return {
        "id": "e1",
        "timestamp": 1.0,
        "session_id": "s1",
        "agent_id": "a1",
        "type": "tool_call",
        "data": data,
        "metadata": metadata,
    }


@PROPERTY
@given(SHAPES, SURROUNDING, SURROUNDING, st.integers(0, 3))
def test_no_secret_shape_survives_an_event(shape: Shape, before: str, after: str, where: int) -> None:
    text, material = shape
    assume(material not in before + after)
    event = _place(where, f"{before} {text} {after}")
    encoded, count = REDACTOR.redact_encoded(event, orjson.dumps(event))
    assert count >= 1
    assert material.encode() not in encoded
    # The JSON escape of the material (a private key's newlines) must be gone too.
    assert orjson.dumps(material)[1:-1] not in encoded
    assert b'"input_tokens":12' in encoded


@PROPERTY
@given(SHAPES, SURROUNDING, st.integers(0, 3), st.integers(1, 30))
def test_no_secret_shape_survives_a_truncated_dead_letter(
    shape: Shape, before: str, where: int, cut: int
) -> None:
    text, material = shape
    assume(material not in before)
    event = _place(where, f"{before} {text}")
    encoded = orjson.dumps(event)
    # Cut after the secret: an event that arrived truncated.
    end = encoded.index(orjson.dumps(text)[1:-1]) + len(orjson.dumps(text)) - 2
    payload = encoded[: end + cut]
    redacted, _ = redact_payload(REDACTOR, payload)
    assert orjson.dumps(material)[1:-1] not in redacted


@PROPERTY
@given(_secret_key(), with_digit(ALNUM, 4, 20))
def test_secret_keys_are_found_as_keys_and_in_text(key: str, value: str) -> None:
    parts = key_parts(key)
    assume(parts[0] not in QUANTITY_WORDS and parts[-1] not in QUANTITY_WORDS)
    assert REDACTOR.is_secret(key)
    event = {"data": {key: value, "nested": [{"k": [key, value]}], "log": f"{key}={value} done"}}
    encoded, count = REDACTOR.redact_encoded(event, orjson.dumps(event))
    assert count == 3
    assert value.encode() not in encoded


@PROPERTY
@given(st.text(max_size=300))
def test_redaction_is_idempotent_on_any_text(text: str) -> None:
    once, _ = REDACTOR.redact_text(text)
    twice, count = REDACTOR.redact_text(once)
    assert (twice, count) == (once, 0)


@PROPERTY
@given(st.binary(max_size=400))
def test_any_bytes_make_a_dead_letter(payload: bytes) -> None:
    """Bad input always gets an answer and loses nothing but secrets: never an exception."""
    redacted, count = redact_payload(REDACTOR, payload)
    if count == 0:
        assert redacted == payload
