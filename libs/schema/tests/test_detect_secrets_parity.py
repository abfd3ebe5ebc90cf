"""What detect-secrets' regex plugins find in a line, the redactor removes (the real detector runs).

The plugins are the ones patterns.py follows. Left out, as patterns.py says: the entropy and keyword
plugins (a trace is made of hashes and ids; keys are the key rule's job), the private-key plugin (it
reports the `BEGIN … PRIVATE KEY` armor, which is kept on purpose: the key body is what goes),
Artifactory (its `AP…` password shape matches ordinary words) and the plugins that need a keyword
context of their own (IBM, SoftLayer, Cloudant).
"""

from __future__ import annotations

import base64
import json
import string

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope_schema.redaction import Redactor

PLUGINS: list[RegexBasedDetector] = [
    AWSKeyDetector(),
    AzureStorageKeyDetector(),
    BasicAuthDetector(),
    DiscordBotTokenDetector(),
    GitHubTokenDetector(),
    GitLabTokenDetector(),
    JwtTokenDetector(),
    MailchimpDetector(),
    NpmDetector(),
    OpenAIDetector(),
    PypiTokenDetector(),
    SendGridDetector(),
    SlackDetector(),
    SquareOAuthDetector(),
    StripeDetector(),
    TelegramBotTokenDetector(),
    TwilioKeyDetector(),
]
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
REDACTOR = Redactor()


def _t(alphabet: str, size: int, high: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=high or size)


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _jwt(subject: str, signature: str) -> str:
    # Formally valid (the plugin decodes both JSON parts), as a real token is.
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'sub': subject})}.{signature}"


# Lines in the shapes the plugins look for, as they appear in logs, configs and commands.
LINES = st.one_of(
    st.builds(lambda k: f"aws_access_key_id = AKIA{k}", _t(string.ascii_uppercase + string.digits, 16)),
    st.builds(lambda k: f'aws_secret_access_key: "{k}"', _t(ALNUM + "/+", 40)),
    st.builds(
        lambda k: f"DefaultEndpointsProtocol=https;AccountName=x;AccountKey={k};",
        _t(ALNUM + "+/", 86).map(lambda s: s + "=="),
    ),
    st.builds(
        lambda u, p: f"git clone https://{u}:P{p}@git.example.com/r.git",
        _t(string.ascii_lowercase, 1, 12),
        _t(ALNUM + "_~.-", 8, 20),
    ),
    st.builds(
        lambda a, b, c: f"bot {a}.{b}.{c} ready",
        _t("MNO", 1).flatmap(lambda m: _t(B64URL, 23, 25).map(lambda r: m + r)),
        _t(B64URL, 6),
        _t(B64URL, 27),
    ),
    st.builds(
        lambda p, k: f"GITHUB_TOKEN {p}_{k}",
        st.sampled_from(["ghp", "gho", "ghu", "ghs", "ghr"]),
        _t(ALNUM + "_", 36),
    ),
    st.builds(
        lambda p, k: f"token {p}-{k}",
        st.sampled_from(["glpat", "gldt", "glft", "glsoat", "glrt"]),
        _t(B64URL, 20, 50),
    ),
    st.builds(lambda sub, sig: f"Authorization: {_jwt(sub, sig)}", _t(ALNUM, 4, 30), _t(B64URL, 16, 43)),
    st.builds(
        lambda k, n: f"mailchimp {k}-us{n}",
        _t(string.ascii_lowercase + string.digits, 32),
        _t(string.digits, 1, 2),
    ),
    st.builds(lambda k: f"//registry.npmjs.org/:_authToken=npm_{k}", _t(ALNUM, 36)),
    st.builds(lambda a, b: f"OPENAI sk-{a}T3BlbkFJ{b}", _t(ALNUM, 20), _t(ALNUM, 20)),
    st.builds(lambda k: f"password = pypi-AgEIcHlwaS5vcmc{k}", _t(B64URL, 70, 90)),
    st.builds(lambda a, b: f"SENDGRID SG.{a}.{b}", _t(B64URL, 22), _t(B64URL, 43)),
    st.builds(
        lambda a, b: f"slack xoxb-{a}-{b}",
        _t(string.digits, 5, 12),
        _t(string.ascii_lowercase + string.digits, 10, 30),
    ),
    st.builds(lambda k: f"square sq0csp-{k}", _t(ALNUM + "-_", 43)),
    st.builds(lambda p, k: f"stripe {p}k_live_{k}", st.sampled_from(["s", "r"]), _t(ALNUM, 24)),
    st.builds(lambda n, k: f"telegram {n}:{k}", _t(string.digits, 8, 10), _t(B64URL, 35)),
    st.builds(
        lambda p, k: f"twilio {p}{k}",
        st.sampled_from(["AC", "SK"]),
        _t(string.ascii_lowercase + string.digits, 32),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_every_secret_detect_secrets_finds_is_redacted(line: str) -> None:
    found = {secret for plugin in PLUGINS for secret in plugin.analyze_string(line) if secret}
    # Every line is one the detector flags: otherwise this test would prove nothing.
    assert found, line
    redacted, _ = REDACTOR.redact_text(line)
    leaked = {secret for secret in found if secret in redacted}
    assert not leaked, f"{line!r} → {redacted!r}"
