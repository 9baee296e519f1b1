"""Schemathesis against our own OpenAPI document: whatever a client sends to any route,
signed in as an admin or not at all, the hub answers without a 5xx. Every channel's webhook is
on, and also gets valid JSON of every type, signed and not. Bounded to a minute or two; run
with HUB_FUZZ_EXAMPLES=500 for a deeper search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from channels.base import hmac_sha256_signature
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, CHAT_SECRET, serve_env
from tests.mail_peers import free_port

ADMIN = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "50"))
SLACK_SECRET, TELEGRAM_SECRET = "fuzz-slack-secret", "fuzz-telegram-secret"
# Nothing listens on the discard port: the channels are on, their clouds unreachable.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory):
    data, port = tmp_path_factory.mktemp("fuzz-hub"), free_port()
    env = serve_env(
        data, port, HUB_WIDGET_SECRET="fuzz-widget", HUB_NLP_WORKER="off", HUB_LOG_LEVEL="CRITICAL",
        HUB_SLACK_BOT_TOKEN="xoxb-fuzz", HUB_SLACK_SIGNING_SECRET=SLACK_SECRET,
        HUB_SLACK_API_URL=f"{UNREACHABLE}/api/", HUB_TELEGRAM_TOKEN="1:fuzz",
        HUB_TELEGRAM_SECRET=TELEGRAM_SECRET, HUB_TELEGRAM_API_URL=UNREACHABLE,
    )  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "hub", "serve"], env=env, cwd=data)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(60)


@pytest.fixture(scope="module")
def admin_headers(hub_url):
    token = requests.post(f"{hub_url}/api/v1/auth/login", json=ADMIN, timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(hub_url):
    return schemathesis.openapi.from_url(f"{hub_url}/api/openapi.json")


def test_no_route_answers_5xx(api_schema, hub_url, admin_headers):
    """Each operation in turn, with cases generated from its schema (schemathesis's pytest
    plugin does not run on this pytest; its Hypothesis strategies do)."""
    # /webhooks/email takes raw RFC 5322 bytes, which schemathesis cannot generate; it has its
    # own property-based tests (tests/test_hostile_input.py).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations = [op for op in operations if op.path != "/webhooks/email"]
    assert len(operations) > 30
    for operation in operations:

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def no_5xx(case) -> None:
            for headers in (admin_headers, {}):
                response = case.call(base_url=hub_url, headers=headers, timeout=30)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )

        no_5xx()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
WEBHOOKS = ("/webhooks/chat", "/webhooks/slack/events", "/webhooks/slack/commands", "/webhooks/telegram")


def _signed(path: str, body: bytes) -> dict[str, str]:
    """The headers each channel's sender would add to `body`."""
    if path == "/webhooks/chat":
        return {"X-Hub-Signature-256": hmac_sha256_signature(CHAT_SECRET, body)}
    if path.startswith("/webhooks/slack/"):
        ts = str(int(time.time()))
        signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    return {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


@pytest.mark.parametrize("path", WEBHOOKS)
def test_a_webhook_answers_json_that_is_no_object_with_a_4xx_signed_or_not(api_schema, hub_url, path):
    """A JSON array, string, number or null is no channel's payload: refused before the
    signature is looked at, and a 400 once it is (Slack's answered 500 either way)."""
    assert path in {operation.ok().path for operation in api_schema.get_all_operations()}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(value=json_values.filter(lambda v: not isinstance(v, dict)))
    def refused(value) -> None:
        body = json.dumps(value).encode()
        headers = {"Content-Type": "application/json"}
        unsigned = requests.post(f"{hub_url}{path}", data=body, headers=headers, timeout=30)
        assert unsigned.status_code in (401, 403), (value, unsigned.status_code, unsigned.text[:300])
        signed = requests.post(
            f"{hub_url}{path}", data=body, headers=headers | _signed(path, body), timeout=30
        )
        assert signed.status_code == 400, (value, signed.status_code, signed.text[:300])

    refused()
