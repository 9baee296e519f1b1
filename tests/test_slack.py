"""Slack with the real slack-bolt and slack-sdk: signed requests, a local Web API fake."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from channels import slack
from tests.conftest import chat_message, eventually
from tests.fake_telegram import FakeTelegram
from tests.test_telegram import SECRET as TG_SECRET
from tests.test_telegram import TOKEN as TG_TOKEN
from tests.test_telegram import post as post_telegram
from tests.test_telegram import update as telegram_update

SIGNING_SECRET = "slack-signing-secret"
INBOX = "CINBOX"


@pytest.fixture
async def slack_hub(make_hub, fake_slack):
    hub = await make_hub(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{fake_slack.base_url}/api/",
    )
    hub.fake = fake_slack
    return hub


async def signed(
    hub,
    path: str,
    body: bytes,
    *,
    content_type: str,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    headers: dict | None = None,
):
    ts = str(timestamp or int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    all_headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
        **(headers or {}),
    }
    return await hub.client.post(path, data=body, headers=all_headers)


async def event(hub, payload: dict, **kwargs):
    envelope = {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event_id": f"Ev{time.time_ns()}",
    }
    body = json.dumps({**envelope, "event": payload}).encode()
    return await signed(hub, "/webhooks/slack/events", body, content_type="application/json", **kwargs)


async def command(hub, text: str, user: str):
    body = urllib.parse.urlencode(
        {
            "command": "/hub",
            "text": text,
            "user_id": user,
            "channel_id": "CSTAFF",
            "team_id": "T1",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "1",
        }
    ).encode()
    return await signed(
        hub, "/webhooks/slack/commands", body, content_type="application/x-www-form-urlencoded"
    )


def dm(user: str, text: str, ts: str = "1700000100.000100") -> dict:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": f"D{user}",
        "user": user,
        "text": text,
        "ts": ts,
    }


async def test_url_verification_and_signatures(slack_hub):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    response = await signed(slack_hub, "/webhooks/slack/events", body, content_type="application/json")
    assert response.status == 200 and "abc123" in await response.text()
    wrong = await signed(
        slack_hub, "/webhooks/slack/events", body, content_type="application/json", secret="nope"
    )
    assert wrong.status == 401 and (await wrong.json())["error"]["code"] == "bad_signature"
    stale = await signed(
        slack_hub,
        "/webhooks/slack/events",
        body,
        content_type="application/json",
        timestamp=int(time.time()) - 3600,
    )
    assert stale.status == 401
    unsigned = await slack_hub.client.post("/webhooks/slack/commands", data=b"command=/hub&text=help")
    assert unsigned.status == 401


async def test_customer_dm_is_a_conversation_and_retries_store_once(slack_hub):
    hub = slack_hub
    hub.fake.profiles["UCUST"] = {"real_name": "Kari Customer", "email": "kari@example.no"}
    first = await event(hub, dm("UCUST", "Hi, can I change my plan?"))
    assert first.status == 200
    retried = await event(
        hub,
        dm("UCUST", "Hi, can I change my plan?"),
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retried.status == 200
    [message] = await hub.db.messages.find({}).to_list(None)
    assert message["channel"] == "slack" and message["text"] == "Hi, can I change my plan?"
    contact = await hub.db.contacts.find_one({})
    assert contact["name"] == "Kari Customer" and contact["emails"] == ["kari@example.no"]

    agent = await hub.login("agent")
    await hub.call(
        "POST",
        f"/api/v1/conversations/{message['conversation_id']}/messages",
        agent,
        json={"text": "Sure, which plan?"},
    )
    posted = await eventually(lambda: asyncio.sleep(0, hub.fake.sent("chat.postMessage")))
    assert posted[0]["channel"] == "DUCUST" and posted[0]["text"] == "Sure, which plan?"


async def test_text_crosses_slack_as_typed_and_never_as_markup(make_hub, fake_slack):
    """Slack sends `&`, `<` and `>` as entities and reads `<...>` as markup (`<!channel>`
    notifies a whole channel): the hub stores what people typed and sends text as text."""
    hub = await make_hub(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{fake_slack.base_url}/api/",
        slack_inbox_channel=INBOX,
    )
    fake_slack.profiles["UCUST"] = {"real_name": "Kari Customer", "email": "kari@example.no"}
    await event(
        hub,
        dm(
            "UCUST",
            "Is 2 &lt; 3 &amp;&amp; 5 &gt; 4? See <https://shop.example/o?id=7&amp;x=1|my order>, <@U42|ada>",
        ),
    )
    stored = await eventually(lambda: hub.db.messages.find_one({"channel": "slack"}))
    assert stored["text"] == "Is 2 < 3 && 5 > 4? See my order (https://shop.example/o?id=7&x=1), @ada"

    agent = await hub.login("agent")
    await hub.call("POST", f"/api/v1/conversations/{stored['conversation_id']}/messages", agent,
                   json={"text": "Yes & see <https://example.com|our docs>, <!channel>"})  # fmt: skip
    [reply] = await eventually(
        lambda: asyncio.sleep(0, [p for p in fake_slack.sent("chat.postMessage") if p["channel"] == "DUCUST"])
    )
    assert reply["text"] == "Yes &amp; see &lt;https://example.com|our docs&gt;, &lt;!channel&gt;"

    await hub.chat(
        chat_message("<!here> refund now", sender={"id": "c1", "name": "<!channel>", "email": None})
    )
    [mirrored] = await eventually(
        lambda: asyncio.sleep(
            0,
            [
                p
                for p in fake_slack.sent("chat.postMessage")
                if p["channel"] == INBOX and "refund" in p["text"]
            ],
        )
    )
    assert (
        "<!" not in mirrored["text"]
        and "from &lt;!channel&gt;:\n&lt;!here&gt; refund now" in mirrored["text"]
    )


@given(st.text())
def test_what_the_hub_sends_slack_reads_back_as_sent(text):
    assert slack.typed(slack.escaped(text)) == text


async def test_staff_dms_are_not_customer_conversations(slack_hub):
    hub = slack_hub
    await hub.login("agent", email="agent.smith@acme.example")
    hub.fake.profiles["USTAFF"] = {"real_name": "Agent Smith", "email": "agent.smith@acme.example"}
    await event(hub, dm("USTAFF", "hello bot"))
    assert await hub.db.messages.count_documents({}) == 0
    assert "You are staff here" in hub.fake.sent("chat.postMessage")[-1]["text"]


async def test_slash_commands_for_managers_with_chart_and_linking(slack_hub):
    hub = slack_hub
    await hub.login("manager", email="boss@acme.example")
    hub.fake.profiles["UBOSS"] = {"real_name": "Boss", "email": "boss@acme.example"}
    hub.fake.profiles["UCUST"] = {"real_name": "Customer", "email": "c@example.com"}
    await event(hub, dm("UCUST", "one message"))

    response = await command(hub, "stats today", "UBOSS")
    assert response.status == 200
    text = await response.text()
    assert "Stats for today (UTC), all channels" in text and "Messages: 1 in" in text
    await command(hub, "stats week", "UBOSS")
    assert hub.fake.sent("files.completeUploadExternal") and hub.fake.uploads[0].startswith(b"\x89PNG")

    refused = await command(hub, "stats today", "UCUST")
    assert "Sorry, numbers are for managers" in await refused.text()

    # A reply quoting a customer (the longest wait, with its last message) quotes them as text.
    await event(hub, dm("UCUST", "&lt;!channel&gt; anyone?", ts="1700000200.000200"))
    await eventually(lambda: hub.db.messages.find_one({"text": "<!channel> anyone?"}))
    await hub.db.conversations.update_many(
        {}, {"$set": {"waiting_since": datetime.now(UTC) - timedelta(hours=2)}}
    )
    waiting = await (await command(hub, "sla", "UBOSS")).text()
    assert "&lt;!channel&gt; anyone?" in waiting and "<!channel>" not in waiting

    manager = await hub.login("manager")
    _, code = await hub.call("POST", "/api/v1/auth/link-code", manager)
    linked = await command(hub, f"link {code['code']}", "UOTHER")
    assert "Linked to manager-" in await linked.text()
    assert "Stats for today" in await (await command(hub, "stats today", "UOTHER")).text()


async def test_inbox_channel_round_trip_telegram_customer_slack_agent(make_hub, fake_slack):
    telegram = await FakeTelegram().start()
    try:
        hub = await make_hub(
            slack_bot_token="xoxb-test",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=f"{fake_slack.base_url}/api/",
            slack_inbox_channel=INBOX,
            telegram_token=TG_TOKEN,
            telegram_secret=TG_SECRET,
            telegram_api_url=telegram.base_url,
        )
        await hub.login("agent", email="ada@acme.example")
        fake_slack.profiles["UADA"] = {"real_name": "Ada", "email": "ada@acme.example"}

        await post_telegram(hub, telegram_update(chat_id=321, text="My tent arrived torn"))
        parent = await eventually(
            lambda: asyncio.sleep(
                0, [p for p in fake_slack.sent("chat.postMessage") if p["channel"] == INBOX]
            )
        )
        assert (
            "New conversation on telegram" in parent[0]["text"]
            and "My tent arrived torn" in parent[0]["text"]
        )
        conversation = await eventually(
            lambda: hub.db.conversations.find_one({"mirrors.slack": {"$exists": True}})
        )
        thread_ts = conversation["mirrors"]["slack"]

        await post_telegram(hub, telegram_update(chat_id=321, text="Photo coming"))
        reply_in_thread = await eventually(
            lambda: asyncio.sleep(
                0, [p for p in fake_slack.sent("chat.postMessage") if p.get("thread_ts") == thread_ts]
            )
        )
        assert "Photo coming" in reply_in_thread[0]["text"]

        await event(
            hub,
            {
                "type": "message",
                "channel": INBOX,
                "user": "UADA",
                "text": "We will send a new one today: <https://track.example/?id=1&amp;c=2>",
                "ts": "1700000200.000001",
                "thread_ts": thread_ts,
            },
        )
        sent = await eventually(lambda: asyncio.sleep(0, telegram.sent("sendMessage")))
        # As the agent typed it: Slack's link markup and entities are not the customer's business.
        assert sent[0]["text"] == "We will send a new one today: https://track.example/?id=1&c=2"
        assert sent[0]["chat_id"] == 321

        await event(
            hub,
            {
                "type": "message",
                "channel": INBOX,
                "user": "UADA",
                "text": "note: refund approved by Lee",
                "ts": "1700000201.000001",
                "thread_ts": thread_ts,
            },
        )
        note = await eventually(lambda: hub.db.messages.find_one({"kind": "note"}))
        assert note["text"] == "refund approved by Lee" and str(note["sender"]["id"]) == str(
            (await hub.db.users.find_one({"email": "ada@acme.example"}))["_id"]
        )
        assert len(telegram.sent("sendMessage")) == 1  # the note never reached the customer
    finally:
        await telegram.stop()


async def test_qualified_leads_reach_their_reps_on_the_stream_and_by_slack_dm(make_hub, fake_slack):
    hub = await make_hub(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{fake_slack.base_url}/api/",
        nlp_worker=True,
    )
    # One rep linked Slack with a code; the other is found on Slack by the same email.
    linked = await hub.login("sales", email="rep.linked@acme.example")
    await hub.db.users.update_one({"email": "rep.linked@acme.example"}, {"$set": {"links.slack": "UREP1"}})
    await hub.login("sales", email="rep.mail@acme.example")
    fake_slack.profiles["UREP2"] = {"real_name": "Rep Two", "email": "rep.mail@acme.example"}
    async with hub.client.ws_connect("/api/v1/stream", headers={"Authorization": f"Bearer {linked}"}) as ws:
        assert (await ws.receive_json())["type"] == "ready"
        inquiry = "We are 40 agents with a EUR 60k budget, go live in Q2, can we book a demo?"
        for buyer in ("Jo Buyer", "Kai Buyer"):
            await hub.chat(chat_message(inquiry, sender={"id": buyer, "name": buyer, "email": None}))
        while (event := await asyncio.wait_for(ws.receive_json(), 30))["type"] != "notification.created":
            pass
    assert event["data"]["kind"] == "lead.assigned" and "score" in event["data"]["text"]

    async def dms():
        sent = {m["channel"]: m["text"] for m in fake_slack.sent("chat.postMessage")}
        return sent if {"UREP1", "UREP2"} <= set(sent) else None

    sent = await eventually(dms, timeout=30)
    assert sent["UREP1"].startswith("New qualified lead for you: Jo Buyer, score")
    assert sent["UREP2"].startswith("New qualified lead for you: Kai Buyer, score")


@pytest.mark.parametrize("body", [b"[]", b"null", b"1", b'"x"'])
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/webhooks/slack/events", "application/json"),
        ("/webhooks/slack/events", "application/octet-stream"),  # events are JSON whatever is said
        ("/webhooks/slack/commands", "application/json"),
    ],
)
async def test_a_body_that_is_no_json_object_is_refused_before_and_after_the_signature(
    slack_hub, path, content_type, body
):
    """The signature is checked first, on the raw bytes (a JSON array answered 500 before it);
    a signed body that is no object is a 400."""
    unsigned = await slack_hub.client.post(path, data=body, headers={"Content-Type": content_type})
    assert unsigned.status == 401, await unsigned.text()
    resp = await signed(slack_hub, path, body, content_type=content_type)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == "bad_payload"


async def test_bytes_that_are_no_text_cannot_carry_a_slack_signature(slack_hub):
    for path in ("/webhooks/slack/events", "/webhooks/slack/commands"):
        resp = await slack_hub.client.post(path, data=b"\xff\xfe{}", headers={"X-Slack-Signature": "v0=x"})
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "bad_signature"


async def test_a_signed_request_while_slack_is_unreachable_is_503_so_slack_retries(make_hub):
    hub = await make_hub(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url="http://127.0.0.1:9/api/",
    )
    body = urllib.parse.urlencode({"command": "/hub", "text": "stats today", "user_id": "U1"}).encode()
    resp = await signed(
        hub, "/webhooks/slack/commands", body, content_type="application/x-www-form-urlencoded"
    )
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "channel_unavailable"
