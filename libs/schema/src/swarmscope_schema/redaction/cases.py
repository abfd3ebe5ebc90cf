"""Inputs and the outputs the rule must give, written by hand: the rule's executable specification.

Both SDKs and ingest run these (Python: libs/schema/tests/test_redaction_cases.py; TypeScript: from
docs/contract/redaction-cases.json), so a change of behaviour in one of them fails in both places.
`kind` is `value` (a JSON value walked by `Redactor.redact`, or a string given to `redact_text`) or
`event` (`Redactor.redact_event`); `count` is how many secrets were replaced. Every case uses the
default keys. The secrets below are made up, in the shapes real ones have.
"""

from __future__ import annotations

from typing import Any

R = "[REDACTED]"
_JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----"


def _case(name: str, kind: str, given: Any, expected: Any, count: int) -> dict[str, Any]:
    return {"name": name, "kind": kind, "input": given, "output": expected, "count": count}


CASES: tuple[dict[str, Any], ...] = (
    # The key rule, widened (issue 12 item 3).
    _case(
        "widened secret keys",
        "value",
        {
            "pwd": "a1",
            "pass": "b2",
            "passphrase": "c3",
            "auth": "d4",
            "credentials": {"user": "ann", "key": "k5"},
            "password_used": "e6",
        },
        {"pwd": R, "pass": R, "passphrase": R, "auth": R, "credentials": R, "password_used": R},
        6,
    ),
    _case(
        "keys that only look like secrets",
        "value",
        {
            "input_tokens": 4210,
            "output_tokens": 1180,
            "token_count": 5390,
            "max_tokens": 4096,
            "author": "ann",
            "authority": "ca",
            "passenger": "bob",
            "bypass": True,
            "tokenizer": "bpe",
            "password_length": 12,
            "keyword": "rate",
        },
        {
            "input_tokens": 4210,
            "output_tokens": 1180,
            "token_count": 5390,
            "max_tokens": 4096,
            "author": "ann",
            "authority": "ca",
            "passenger": "bob",
            "bypass": True,
            "tokenizer": "bpe",
            "password_length": 12,
            "keyword": "rate",
        },
        0,
    ),
    _case(
        "case and separators do not matter",
        "value",
        {"DB-PASSWORD": "x1", "X-Auth-Token": "x2", "apiKey": "x3", "Client.Secret": "x4", "ACCESS TOKEN": 5},
        {"DB-PASSWORD": R, "X-Auth-Token": R, "apiKey": R, "Client.Secret": R, "ACCESS TOKEN": R},
        5,
    ),
    _case(
        "whatever is under a secret key goes, at any depth",
        "value",
        {"steps": [{"config": {"secret": {"id": 1, "k": [1, 2]}, "retries": 3}}]},
        {"steps": [{"config": {"secret": R, "retries": 3}}]},
        1,
    ),
    # A pair in JSON text that was never parsed: a truncated dead letter's escaped quotes.
    _case(
        "a pair inside escaped JSON text",
        "value",
        'x [(\\"password\\", \\"0000000\\")] and [(\\"token\\", \\"a\\\\tb\\")]',
        'x [(\\"password\\", \\"[REDACTED]\\")] and [(\\"token\\", \\"[REDACTED]\\")]',
        2,
    ),
    # Header pairs (issue 12 item 3).
    _case(
        "header pairs as lists",
        "value",
        {"headers": [["Authorization", "Bearer 0a1b2c3d4e5f"], ["Accept", "application/json"]]},
        {"headers": [["Authorization", R], ["Accept", "application/json"]]},
        1,
    ),
    _case(
        "headers as name and value",
        "value",
        {"headers": [{"name": "X-Api-Key", "value": "k-778899"}, {"name": "Accept", "value": "json"}]},
        {"headers": [{"name": "X-Api-Key", "value": R}, {"name": "Accept", "value": "json"}]},
        1,
    ),
    _case(
        "environment variables as name and value",
        "value",
        {"env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"Name": "LOG_LEVEL", "Value": "debug"}]},
        {"env": [{"name": "DB_PASSWORD", "value": R}, {"Name": "LOG_LEVEL", "Value": "debug"}]},
        1,
    ),
    # Secrets inside strings: only the secret part goes.
    _case(
        "curl with a bearer header",
        "value",
        "curl -H 'Authorization: Bearer 0a1b2c3d.e4f5' https://api.example.com/v1",
        "curl -H 'Authorization: Bearer [REDACTED]' https://api.example.com/v1",
        1,
    ),
    _case(
        "a basic authorization header line",
        "value",
        "GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nAccept: */*",
        "GET / HTTP/1.1\r\nAuthorization: Basic [REDACTED]\r\nAccept: */*",
        1,
    ),
    _case(
        "a cookie header keeps nothing of its value",
        "value",
        "Cookie: session=9f8e7d; theme=dark",
        "Cookie: [REDACTED]",
        1,
    ),
    _case(
        "a bearer token in prose",
        "value",
        "retrying with bearer 9f8e7d6c5b4a after a 401",
        "retrying with bearer [REDACTED] after a 401",
        1,
    ),
    _case("a JSON web token", "value", f"token was {_JWT}.", "token was [REDACTED].", 1),
    _case(
        "provider API keys",
        "value",
        [
            "ANTHROPIC key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "OpenAI sk-proj-AbCdEfGhIjKlMnOpQrSt0123456789",
            "aws AKIAIOSFODNN7EXAMPLE",
            "github ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "github github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "gitlab glpat-AbCdEfGhIjKlMnOpQrSt",
            "slack xoxb-1234567890-0987654321-AbCdEfGhIjKl",
            "stripe sk_live_AbCdEfGhIjKlMnOpQrSt0123",
            "google AIzaSyA-AbCdEfGhIjKlMnOpQrStUvWxYz01234",
            "huggingface hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
            "npm npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        ],
        [
            "ANTHROPIC key [REDACTED]",
            "OpenAI [REDACTED]",
            "aws [REDACTED]",
            "github [REDACTED]",
            "github [REDACTED]",
            "gitlab [REDACTED]",
            "slack [REDACTED]",
            "stripe [REDACTED]",
            "google [REDACTED]",
            "huggingface [REDACTED]",
            "npm [REDACTED]",
        ],
        11,
    ),
    _case(
        "a private key block keeps its armor",
        "value",
        {"file": f"key.pem:\n{_PEM}\n"},
        {"file": "key.pem:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\n"},
        1,
    ),
    _case(
        "a private key cut short",
        "value",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]",
        1,
    ),
    _case(
        "passwords in URLs",
        "value",
        ["postgres://app:s3cr3t@db:5432/app", "redis://:p4ss@cache:6379/0", "https://example.com/a@b"],
        [
            "postgres://app:[REDACTED]@db:5432/app",
            "redis://:[REDACTED]@cache:6379/0",
            "https://example.com/a@b",
        ],
        2,
    ),
    _case(
        "key and value fragments in text",
        "value",
        [
            "DB_PASSWORD=hunter2 ./migrate.sh",
            "password: hunter2",
            '{"api_key": "k-123", "model": "m"}',
            "{'token': 'abc123', 'n': 1}",
            "mysql --password hunter2 app",
            "curl -u admin:s3cr3t https://x.example",
            "note: token=abc123",
            'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
            "headers=[('X-Api-Key', 'k-123'), ('Accept', 'json')]",
            'payload: "{\\"password\\": \\"hunter2\\"}"',
        ],
        [
            "DB_PASSWORD=[REDACTED] ./migrate.sh",
            "password: [REDACTED]",
            '{"api_key": "[REDACTED]", "model": "m"}',
            "{'token': '[REDACTED]', 'n': 1}",
            "mysql --password [REDACTED] app",
            "curl -u admin:[REDACTED] https://x.example",
            "note: token=[REDACTED]",
            'aws_secret_access_key = "[REDACTED]"',
            "headers=[('X-Api-Key', '[REDACTED]'), ('Accept', 'json')]",
            'payload: "{\\"password\\": \\"[REDACTED]\\"}"',
        ],
        10,
    ),
    _case(
        "text that only looks like secrets",
        "value",
        [
            "the token bucket refills at 10 tokens per second",
            "max_tokens=4096 input_tokens: 10",
            "Basic setup done; author: Ann",
            "see task-1234567890abcdefghijklmno",
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "01JDX3Q8Z5K2M4N6P8R0S2T4V6",
        ],
        [
            "the token bucket refills at 10 tokens per second",
            "max_tokens=4096 input_tokens: 10",
            "Basic setup done; author: Ann",
            "see task-1234567890abcdefghijklmno",
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "01JDX3Q8Z5K2M4N6P8R0S2T4V6",
        ],
        0,
    ),
    _case(
        "redacting twice changes nothing more",
        "value",
        {"password": R, "log": "Authorization: Bearer [REDACTED]", "pair": ["token", R]},
        {"password": R, "log": "Authorization: Bearer [REDACTED]", "pair": ["token", R]},
        0,
    ),
    # Events: the envelope is the event's identity.
    _case(
        "an event: envelope kept, sections walked, extra top-level keys judged",
        "event",
        {
            "id": "e1",
            "session_id": "s1",
            "agent_id": "a1",
            "type": "tool_call",
            "span_id": "sp1",
            "data": {"tool": "Bash", "args": {"cmd": "psql postgresql://u:pw@db/app"}},
            "metadata": {"session_token": "t0k", "tags": ["x"]},
            "performance": {"token_count": 15},
            "client_secret": "top-level extra",
        },
        {
            "id": "e1",
            "session_id": "s1",
            "agent_id": "a1",
            "type": "tool_call",
            "span_id": "sp1",
            "data": {"tool": "Bash", "args": {"cmd": "psql postgresql://u:[REDACTED]@db/app"}},
            "metadata": {"session_token": R, "tags": ["x"]},
            "performance": {"token_count": 15},
            "client_secret": R,
        },
        3,
    ),
)
