"""The value rules: secrets inside strings, as regular expressions shared with the TypeScript SDK.

Where the shapes come from: the regex plugins of Yelp's detect-secrets (AWS, GitHub, GitLab, Slack,
Stripe, SendGrid, PyPI, npm, Twilio, Mailchimp, Discord, Telegram, Square, Azure storage, JWT,
private keys, credentials in URLs), widened where their form misses today's keys (OpenAI and
Anthropic `sk-…` project keys, fine-grained GitHub tokens), plus gitleaks' Google and Hugging Face
keys. detect-secrets' entropy and keyword plugins are left out on purpose: entropy flags every hash,
ULID and UUID a trace is made of, and keywords are the key rule's job (with its whole-part matching).
Its scanner itself is not used at run time: it works line by line in Python regexes, far over the
~2 µs a clean event may cost, and its patterns would not reach TypeScript. The test suite runs it
against these patterns (libs/schema/tests/test_detect_secrets_parity.py).

Every pattern is valid, with the same meaning, in RE2 (which runs it here: linear time whatever a
producer sends), Python `re` and JavaScript `RegExp`: no look-around, no back-references, no inline
flags, `\\b` and classes written out in ASCII. Flags: `i` (case-insensitive) only. A counted run
(`{20,}`) only follows a rare literal (`sk-`): one that could start anywhere in high-entropy text
(a key of `{1,128}` characters) makes RE2's DFA run out of memory and fall back to a ~500x slower
matcher, so keys and values are unbounded (`+`).

Two kinds, applied to a string in the order listed, each to the output of the one before:
- `secret`: the match is a secret. With a capture group, only group 1 is replaced
  (`Bearer [REDACTED]`, `postgres://u:[REDACTED]@h`); without one, the whole match.
- `key_value`: a `key: value` fragment (`password=hunter2`, `"api_key": "…"`, `--token abc`).
  `pattern` matches a key and its separator, group 1 the key, judged by the key rule (keys.py).
  When it is a secret, `value` is matched right where that match ends (anchored there) and its
  group 1 replaced; the search goes on after the value. Otherwise it goes on after the separator,
  so `note: token=abc` still finds `token`.
An empty group, or one that is already `[REDACTED]`, is left as it is (and not counted).

`anchor` is used only by the Python prefilter: an RE2 pattern that the JSON encoding of any string
a rule would change must contain (escapes included: a tab is `\\t` there). It lets a clean event
skip every rule after one scan of its encoded bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PatternKind = Literal["secret", "key_value"]


@dataclass(frozen=True, slots=True)
class ValuePattern:
    """One value rule."""

    name: str
    pattern: str
    kind: PatternKind = "secret"
    flags: str = ""
    # Prefilter anchor (RE2, over encoded JSON bytes); key_value rules use the key rule's anchors.
    anchor: str = ""
    source: str = ""
    # key_value rules: `pattern` is before + (key+) + after; `value` is matched where it ends.
    value: str = ""
    before: str = ""
    key: str = ""
    after: str = ""

    def key_value_pattern(self, words: str) -> str:
        """`pattern` narrowed to keys that contain one of `words` (an alternation): the same secrets
        found, without stopping at every `a=`, which is what keeps hostile text linear here."""
        return f"{self.before}({self.key}*(?i:{words}){self.key}*){self.after}"


def _key_value(name: str, *, before: str, key: str, after: str, value: str, flags: str = "") -> ValuePattern:
    return ValuePattern(
        name,
        f"{before}({key}+){after}",
        kind="key_value",
        flags=flags,
        value=value,
        before=before,
        key=key,
        after=after,
    )


_DS = "detect-secrets"
# Schemes that may stand between a header name and its credentials; kept, so a reader sees which.
_SCHEME = r"(?:(?:bearer|basic|digest|token|negotiate)[ \t]+)?"
# Characters that end an unquoted value (whitespace, quotes, separators, braces). Brackets do not:
# `Bearer [REDACTED]` must read as an already redacted value, not as the secret `Bearer`.
_BARE_VALUE = r"[^ \t\r\n\f\v\"'&,;<>{}()\\]+"

VALUE_PATTERNS: tuple[ValuePattern, ...] = (
    # Multi-line blocks first, before any rule could cut them: the body goes, the armor stays.
    ValuePattern(
        "private_key_block",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----([\s\S]*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
        anchor=r"PRIVATE KEY",
        source=f"{_DS} PrivateKeyDetector (the whole block, also when truncated)",
    ),
    ValuePattern(
        "putty_private_key",
        r"PuTTY-User-Key-File-[0-9]+:[\s\S]*?Private-Lines:[ \t]*[0-9]+\r?\n([A-Za-z0-9+/=\r\n]+)",
        anchor=r"PuTTY-User-Key-File-",
        source=f"{_DS} PrivateKeyDetector",
    ),
    # A cookie header's value is the whole rest of its line (`a=1; b=2`), not one token.
    ValuePattern(
        "cookie_header",
        r"\b(?:set-)?cookie\\?[\"']?[ \t]*:[ \t]*\\?[\"']?([^ \t\r\n\"'\\[][^\r\n\"'\\]*)",
        flags="i",
        anchor=r"(?i:cookie)",
    ),
    # `key: value` fragments, judged by the key rule: JSON text, escaped JSON text, Python reprs,
    # assignments and headers, pairs, command-line flags. A key in text has no space or control
    # character (an object's keys, walked as structure, may have any).
    _key_value(
        "key_value_json",
        before=r"\"",
        key=r"[^\"\\\x00-\x20]",
        after=r"\"[ \t]*:[ \t]*\"",
        value=_SCHEME + r"((?:[^\"\\]|\\.)*)",
        flags="i",
    ),
    _key_value(
        "key_value_json_number",
        before=r"\"",
        key=r"[^\"\\\x00-\x20]",
        after=r"\"[ \t]*:[ \t]*",
        value=r"(-?[0-9][0-9A-Za-z.+-]*)",
    ),
    _key_value(
        "key_value_escaped_json",
        before=r"\\\"",
        key=r"[^\"\\\x00-\x20]",
        after=r"\\\"[ \t]*:[ \t]*\\\"",
        value=_SCHEME + r"((?:[^\"\\]|\\[^\"])*)",
        flags="i",
    ),
    _key_value(
        "key_value_single_quoted",
        before=r"'",
        key=r"[^'\\\x00-\x20]",
        after=r"'[ \t]*:[ \t]*'",
        value=_SCHEME + r"([^'\r\n]*)",
        flags="i",
    ),
    _key_value(
        "key_value_assignment",
        before="",
        key=r"[A-Za-z0-9_.-]",
        after=r"[ \t]*[:=][ \t]*",
        value=_SCHEME + r"[\"']?(" + _BARE_VALUE + ")",
        flags="i",
    ),
    _key_value(
        "key_value_pair",
        before=r"[\[(][ \t]*[\"']",
        key=r"[^\"'\\\x00-\x20]",
        after=r"[\"'][ \t]*,[ \t]*[\"']",
        value=_SCHEME + r"([^\"'\r\n]*)",
        flags="i",
    ),
    # The same pair inside JSON text that was never parsed (a truncated dead letter): `(\"k\", \"v\")`.
    _key_value(
        "key_value_escaped_pair",
        before=r"[\[(][ \t]*\\[\"']",
        key=r"[^\"'\\\x00-\x20]",
        after=r"\\[\"'][ \t]*,[ \t]*\\[\"']",
        value=_SCHEME + r"((?:[^\"'\\\r\n]|\\[^\"'])*)",
        flags="i",
    ),
    _key_value(
        "key_value_flag",
        before=r"(?:^|[ \t])--?",
        key=r"[A-Za-z0-9_-]",
        after=r"[ \t]+",
        value=r"(\"[^\"\r\n]*\"?|'[^'\r\n]*'?|[^ \t\r\n\"'-][^ \t\r\n\"']*)",
    ),
    # Credentials by shape, wherever they stand.
    ValuePattern(
        "curl_user",
        r"(?:^|[ \t])(?:-u|--user)[ \t]+[\"']?[^ \t\r\n\"':]*:([^ \t\r\n\"']+)",
        anchor=r"(?:-u|--user)(?: |\\t)",
        source="curl's -u user:password",
    ),
    ValuePattern(
        "bearer_token",
        r"\bbearer[ \t]+([A-Za-z]*[0-9._~+/-][A-Za-z0-9._~+/-]*=*)",
        flags="i",
        anchor=r"(?i:bearer)",
        source="RFC 6750 token68",
    ),
    ValuePattern(
        "url_credentials",
        r"[A-Za-z][A-Za-z0-9+.-]*://[^ \t\r\n\f\v:/?#@\"'<>\[\]]*:([^ \t\r\n\f\v/?#@\"'<>\[\]]+)@",
        anchor=r"://[^ @\"]*@",
        source=f"{_DS} BasicAuthDetector (any password character, an empty user)",
    ),
    ValuePattern(
        "json_web_token",
        r"\beyJ[A-Za-z0-9_=-]{4,}\.[A-Za-z0-9_=-]{4,}(?:\.[A-Za-z0-9_+/=-]*)?",
        anchor=r"eyJ",
        source=f"{_DS} JwtTokenDetector",
    ),
    ValuePattern(
        "aws_access_key_id",
        r"\b(?:A3T[A-Z0-9]|AKIA|ABIA|ACCA|ASIA)[A-Z0-9]{16}\b",
        anchor=r"A3T|AKIA|ABIA|ACCA|ASIA",
        source=f"{_DS} AWSKeyDetector",
    ),
    ValuePattern(
        "aws_secret_access_key",
        r"aws[^\r\n]{0,20}?(?:key|pwd|pw|password|pass|token)[^\r\n]{0,20}?[\"']([0-9a-zA-Z/+]{40})[\"']",
        flags="i",
        anchor=r"(?i:aws)",
        source=f"{_DS} AWSKeyDetector",
    ),
    ValuePattern(
        "openai_anthropic_key",
        r"\bsk-[A-Za-z0-9_-]{20,}",
        anchor=r"sk-",
        source=f"{_DS} OpenAIDetector, widened to sk-proj-, sk-ant-api03- and other sk- keys",
    ),
    ValuePattern(
        "github_token",
        r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        anchor=r"gh[pousr]_|github_pat_",
        source=f"{_DS} GitHubTokenDetector, plus fine-grained tokens",
    ),
    ValuePattern(
        "gitlab_token",
        r"\b(?:(?:glpat|gldt|glft|glsoat|glrt|glcbt|glptt|glagent|gloas|glimt)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
        anchor=r"gl[a-z]+-|GR1348941",
        source=f"{_DS} GitLabTokenDetector",
    ),
    ValuePattern(
        "slack_token",
        r"\bxox[abposr]-(?:[0-9]+-)+[a-z0-9]+",
        flags="i",
        anchor=r"(?i:xox)",
        source=f"{_DS} SlackDetector",
    ),
    ValuePattern(
        "slack_webhook",
        r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
        flags="i",
        anchor=r"(?i:hooks\.slack\.com)",
        source=f"{_DS} SlackDetector",
    ),
    ValuePattern(
        "stripe_key",
        r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}",
        anchor=r"k_live_|k_test_",
        source=f"{_DS} StripeDetector, test keys too",
    ),
    ValuePattern(
        "sendgrid_key",
        r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        anchor=r"SG\.",
        source=f"{_DS} SendGridDetector",
    ),
    ValuePattern(
        "pypi_token",
        r"\bpypi-AgE[A-Za-z0-9_-]{50,}",
        anchor=r"pypi-AgE",
        source=f"{_DS} PypiTokenDetector",
    ),
    ValuePattern(
        "npm_token",
        r"\bnpm_[A-Za-z0-9]{36}\b",
        anchor=r"npm_",
        source=f"{_DS} NpmDetector",
    ),
    ValuePattern(
        "google_api_key",
        r"\bAIza[0-9A-Za-z_-]{35}",
        anchor=r"AIza",
        source="gitleaks gcp-api-key",
    ),
    ValuePattern(
        "huggingface_token",
        r"\bhf_[A-Za-z0-9]{34,}",
        anchor=r"hf_",
        source="gitleaks huggingface-access-token",
    ),
    ValuePattern(
        "twilio_key",
        r"\b(?:AC|SK)[a-z0-9]{32}\b",
        anchor=r"(?:AC|SK)[a-z0-9]{32}",
        source=f"{_DS} TwilioKeyDetector",
    ),
    ValuePattern(
        "mailchimp_key",
        r"\b[0-9a-z]{32}-us[0-9]{1,2}\b",
        anchor=r"-us[0-9]",
        source=f"{_DS} MailchimpDetector",
    ),
    ValuePattern(
        "discord_bot_token",
        r"\b[MNO][A-Za-z0-9_-]+\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}",
        # Unbounded, not {23,25}: over random text a counted anchor makes RE2's DFA run out of memory.
        anchor=r"[MNO][A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.",
        source=f"{_DS} DiscordBotTokenDetector (any first-part length: a counted run there exhausts "
        "RE2's DFA on random text)",
    ),
    ValuePattern(
        "telegram_bot_token",
        r"\b[0-9]{8,10}:[A-Za-z0-9_-]{35}",
        anchor=r"[0-9]{8}:[A-Za-z0-9_-]{35}",
        source=f"{_DS} TelegramBotTokenDetector",
    ),
    ValuePattern(
        "square_oauth_secret",
        r"\bsq0(?:csp|atp)-[0-9A-Za-z_-]{22,43}",
        anchor=r"sq0",
        source=f"{_DS} SquareOAuthDetector",
    ),
    ValuePattern(
        "azure_storage_key",
        r"AccountKey=([A-Za-z0-9+/=]{88})",
        anchor=r"AccountKey=",
        source=f"{_DS} AzureStorageKeyDetector",
    ),
)
