"""The widget's websocket protocol, spoken by a plain websocket client: identities, limits,
bad frames, and what a visitor may and may not see."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid

import aiohttp
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels import webchat
from tests.conftest import eventually

SECRET = "widget-secret"


@pytest.fixture
async def widget_hub(make_hub):
    return await make_hub(widget_secret=SECRET, widget_new_per_minute=5)


async def _connect(hub, **hello):
    ws = await hub.client.ws_connect("/widget/ws")
    await ws.send_json({"type": "hello", **hello})
    welcome = await ws.receive_json(timeout=5)
    return ws, welcome


async def _say(ws, text: str, client_id: str | None = None) -> dict:
    client_id = client_id or uuid.uuid4().hex
    await ws.send_json({"type": "message", "client_id": client_id, "text": text})
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame["type"] in ("ack", "error"):
            return frame


async def test_token_continues_the_conversation_and_resends_dedupe(widget_hub):
    ws, welcome = await _connect(widget_hub)
    assert welcome["messages"] == [] and welcome["verified"] is False
    ack = await _say(ws, "Hello from the website", client_id="c1c1c1c1")
    again = await _say(ws, "Hello from the website", client_id="c1c1c1c1")  # resent after a reconnect
    assert ack["type"] == "ack" and again["id"] == ack["id"]
    await ws.close()

    ws, welcome = await _connect(widget_hub, token=welcome["token"])
    assert [m["text"] for m in welcome["messages"]] == ["Hello from the website"]
    assert await widget_hub.db.messages.count_documents({}) == 1
    await ws.close()


async def test_visitor_sees_replies_but_never_notes(widget_hub):
    agent = await widget_hub.login("agent")
    ws, welcome = await _connect(widget_hub)
    ack = await _say(ws, "Is the store open on Sunday?")
    message = await widget_hub.db.messages.find_one({})
    conversation = str(message["conversation_id"])
    await widget_hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                          json={"text": "internal: regular customer", "private": True})  # fmt: skip
    await widget_hub.call("PATCH", f"/api/v1/conversations/{conversation}", agent, json={"priority": "low"})
    await widget_hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                          json={"text": "Yes, 10 to 4."})  # fmt: skip
    pushed = []
    while not pushed or pushed[-1]["direction"] != "out":
        frame = await ws.receive_json(timeout=5)
        if frame["type"] == "message":
            pushed.append(frame["message"])
    assert [(m["direction"], m["text"]) for m in pushed][-1] == ("out", "Yes, 10 to 4.")
    assert pushed[-1]["author"] == "Agent User"
    assert all("internal" not in m["text"] for m in pushed)
    await ws.close()

    ws, again = await _connect(widget_hub, token=welcome["token"])
    assert [m["text"] for m in again["messages"]] == ["Is the store open on Sunday?", "Yes, 10 to 4."]
    ws2, since = await _connect(widget_hub, token=welcome["token"], since=ack["id"])
    assert [m["text"] for m in since["messages"]] == ["Yes, 10 to 4."]
    delivery = await eventually(lambda: widget_hub.db.messages.find_one({"delivery.status": "sent"}))
    assert delivery["channel"] == "webchat"
    await ws.close()
    await ws2.close()


async def test_verified_user_is_one_contact_on_every_device_and_forgery_is_ignored(widget_hub):
    good = webchat.user_hash(SECRET, "acct-991")
    phone, phone_hello = await _connect(widget_hub, user_id="acct-991", user_hash=good)
    laptop, laptop_hello = await _connect(widget_hub, user_id="acct-991", user_hash=good)
    assert phone_hello["verified"] and laptop_hello["verified"]
    assert phone_hello["token"] != laptop_hello["token"]
    first = await _say(phone, "from my phone")
    second = await _say(laptop, "from my laptop")
    one, two = [await widget_hub.db.messages.find_one({"_id": ObjectId(a["id"])}) for a in (first, second)]
    assert one["conversation_id"] == two["conversation_id"]

    forged, forged_hello = await _connect(widget_hub, user_id="acct-991", user_hash="0" * 64)
    assert forged_hello["verified"] is False and forged_hello["messages"] == []
    tampered, tampered_hello = await _connect(widget_hub, token=_tampered(phone_hello["token"]))
    assert tampered_hello["token"] != phone_hello["token"] and tampered_hello["messages"] == []
    for ws in (phone, laptop, forged, tampered):
        await ws.close()


def _tampered(token: str) -> str:
    """The same token with its signature's last digit changed."""
    return token[:-1] + ("0" if token[-1] != "0" else "1")


async def test_an_email_typed_by_an_anonymous_visitor_is_a_claim_not_an_identity(widget_hub):
    """Typing a customer's address into the widget must not put the visitor's messages under
    that customer: the address stays on the visitor's own contact, marked unverified."""
    await widget_hub.chat(
        {"external_id": "c-1", "sender": {"id": "crm-7", "email": "dana@example.com"}, "text": "hi from chat"}
    )
    ws, _ = await _connect(widget_hub)
    await ws.send_json({"type": "identify", "email": "Dana@Example.com", "name": "Dana"})
    await _say(ws, "send me Dana's invoices")
    dana = await widget_hub.db.contacts.find_one({"emails": "dana@example.com"})
    assert {i["channel"] for i in dana["identities"]} == {"chat"}
    visitor = await widget_hub.db.contacts.find_one({"identities.channel": "webchat"})
    assert visitor["_id"] != dana["_id"]
    assert visitor["emails"] == [] and visitor["unverified_emails"] == ["dana@example.com"]
    agent = await widget_hub.login("agent")
    status, shown = await widget_hub.call("GET", f"/api/v1/contacts/{visitor['_id']}", agent)
    assert status == 200 and shown["unverified_emails"] == ["dana@example.com"]
    await ws.close()


async def test_a_user_the_host_site_vouches_for_joins_their_profile_by_email(widget_hub):
    await widget_hub.chat(
        {"external_id": "c-2", "sender": {"id": "crm-8", "email": "eve@example.com"}, "text": "hi from chat"}
    )
    user_hash = webchat.user_hash(SECRET, "shop-user-8")
    ws, welcome = await _connect(widget_hub, user_id="shop-user-8", user_hash=user_hash)
    assert welcome["verified"] is True
    await ws.send_json({"type": "identify", "email": "eve@example.com", "name": "Eve"})
    await _say(ws, "hi from the website")
    contacts = await widget_hub.db.contacts.find({}).to_list(None)
    assert len(contacts) == 1
    assert {i["channel"] for i in contacts[0]["identities"]} == {"chat", "webchat"}
    await ws.close()


async def test_a_visitor_token_signature_is_no_user_hash(widget_hub):
    """Tokens and user hashes are signed with different keys: a visitor cannot present their
    own token's signature as the host site's vouching for `visitor:<id>`."""
    ws, welcome = await _connect(widget_hub)
    visitor_id, _, signature = welcome["token"].partition(".")
    await ws.close()
    ws, forged = await _connect(widget_hub, user_id=f"visitor:{visitor_id}", user_hash=signature)
    assert forged["verified"] is False
    await ws.close()


@pytest.mark.parametrize(
    "hello",
    [
        {"type": "hello", "token": 12345},
        {"type": "hello", "user_id": ["x"], "user_hash": "ab"},
        {"type": "hello", "user_id": "u-1", "user_hash": "\u00e9\u00e9"},
        {"type": "hello", "since": {"$gt": ""}},
        {"type": "message", "client_id": "abcdefgh", "text": "hi"},  # the first frame must be hello
        [1, 2, 3],
    ],
)
async def test_a_malformed_hello_gets_an_error_frame_and_a_clean_close(widget_hub, hello):
    ws = await widget_hub.client.ws_connect("/widget/ws")
    await ws.send_json(hello)
    if "\u00e9" in str(hello):  # a non-ASCII user hash is simply not verified
        welcome = await ws.receive_json(timeout=5)
        assert welcome["type"] == "welcome" and welcome["verified"] is False
    else:
        error = await ws.receive_json(timeout=5)
        assert error["type"] == "error" and error["message"].startswith("hello:")
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4400
    await ws.close()


async def test_a_visitor_may_send_only_so_many_messages_a_minute(make_hub):
    hub = await make_hub(widget_secret=SECRET, widget_messages_per_minute=3)
    ws, _ = await _connect(hub)
    answers = [(await _say(ws, f"message {n}"))["type"] for n in range(5)]
    assert answers == ["ack", "ack", "ack", "error", "error"]
    assert await hub.db.messages.count_documents({}) == 3
    await ws.close()


async def test_bad_frames_get_an_error_and_the_socket_stays_usable(widget_hub):
    ws, _ = await _connect(widget_hub)
    await ws.send_str("{not json")
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    too_long = await _say(ws, "x" * (webchat.MAX_TEXT + 1))
    assert too_long["type"] == "error" and "text" in too_long["message"]
    await ws.send_json({"type": "dance"})
    assert "unknown frame type" in (await ws.receive_json(timeout=5))["message"]
    await ws.send_json({"type": "message", "client_id": "bad id!", "text": "hi"})
    assert "client_id" in (await ws.receive_json(timeout=5))["message"]
    assert (await _say(ws, "still here"))["type"] == "ack"
    await ws.send_str("y" * 20_000)  # over the frame limit: the hub hangs up
    # The echo of "still here" (sent to every tab of the visitor) may still be on its way.
    while (closing := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
        assert closing.json()["type"] == "message"
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert await widget_hub.db.messages.count_documents({}) == 1


async def test_new_visitors_are_rate_limited_per_address(widget_hub):
    sockets = [await _connect(widget_hub) for _ in range(5)]
    ws = await widget_hub.client.ws_connect("/widget/ws")
    await ws.send_json({"type": "hello"})
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4429
    # A returning visitor with a token is not a new conversation and is let in.
    returning, hello = await _connect(widget_hub, token=sockets[0][1]["token"])
    assert hello["type"] == "welcome"
    for socket, _ in [*sockets, (returning, None)]:
        await socket.close()


async def test_widget_is_off_without_a_secret(hub):
    status, body = await hub.call("GET", "/widget.js")
    assert status == 404 and body["error"]["code"] == "channel_disabled"


class ErrorRecords(logging.Handler):
    """Collects what the hub logs at error level or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_records():
    handler = ErrorRecords()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


async def _server_errors(hub) -> list[str]:
    """The 5xx answers counted, once every widget socket's handler has finished."""

    async def all_closed():
        _, metrics = await hub.call("GET", "/metrics")
        return "hub_widget_clients 0.0" in metrics and metrics

    metrics = await eventually(all_closed)
    return [line for line in metrics.splitlines() if 'status="5xx"' in line]


async def test_a_hello_over_the_frame_limit_is_a_clean_close_not_an_error(widget_hub, error_records):
    ws = await widget_hub.client.ws_connect("/widget/ws")
    await ws.send_json({"type": "hello", "token": "x" * (17 * 1024)})
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await ws.close()
    assert await _server_errors(widget_hub) == []
    assert [r.getMessage() for r in error_records] == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
frame_fields = ("token", "since", "user_id", "user_hash", "client_id", "text", "email", "name")
frames = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["hello", "message", "identify", "viewing", "dance", ""])},
        optional=dict.fromkeys(frame_fields, json_values | st.text(alphabet="abcdef0123", min_size=8)),
    ).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=64),
)


@pytest.fixture
async def open_widget_hub(make_hub):
    """A hub that lets any number of new visitors in."""
    return await make_hub(widget_secret=SECRET, widget_new_per_minute=1_000_000)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(sequence=st.lists(frames, min_size=1, max_size=4))
async def test_any_frames_get_answers_or_a_clean_close_never_an_error(
    open_widget_hub, error_records, sequence
):
    hub = open_widget_hub
    ws = await hub.client.ws_connect("/widget/ws")
    for frame in sequence:
        if ws.closed:
            break
        await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        with contextlib.suppress(TimeoutError):
            answer = await ws.receive(timeout=0.3)
            if answer.type == aiohttp.WSMsgType.TEXT:
                assert answer.json()["type"] in ("welcome", "ack", "error", "message")
    await ws.close()
    fresh, welcome = await _connect(hub)  # the hub still serves visitors
    assert welcome["type"] == "welcome"
    await fresh.close()
    assert await _server_errors(hub) == []
    assert [r.getMessage() for r in error_records] == []


async def test_a_file_an_agent_sends_reaches_the_visitor_as_a_signed_link(widget_hub):
    agent = await widget_hub.login("agent")
    ws, _ = await _connect(widget_hub)
    await _say(ws, "Can I see the size chart?")
    message = await widget_hub.db.messages.find_one({})
    conversation = str(message["conversation_id"])
    png = {"name": "sizes.png", "content_type": "image/png"}
    status, uploaded = await widget_hub.upload(agent, conversation, b"\x89PNG sizes", **png)
    assert status == 201
    await widget_hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                          json={"text": "Here it is", "attachments": [uploaded["id"]]})  # fmt: skip
    while (frame := await ws.receive_json(timeout=5))["type"] != "message" or frame["message"][
        "direction"
    ] != "out":
        pass
    [file] = frame["message"]["attachments"]
    assert file["name"] == "sizes.png" and file["content_type"] == "image/png"
    async with widget_hub.client.get(file["url"]) as resp:
        assert resp.status == 200 and await resp.read() == b"\x89PNG sizes"
    forged = file["url"].replace("/0?", "/1?")
    assert (await widget_hub.client.get(forged)).status == 404
    assert (await widget_hub.client.get(file["url"].split("?")[0] + "?sig=00")).status == 404
    await ws.close()
