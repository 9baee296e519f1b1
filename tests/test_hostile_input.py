"""An attacker's inputs, each once seen to crash something: every one now gets a clear 4xx (or
is stored safely, for mail), and property-based tests look for the next one."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from email.message import EmailMessage

import bson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from channels.email.parse import parse as parse_mail
from tests.conftest import CHAT_SECRET, LATIN1_MAIL, chat_message, nested_mail, post_email

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize(
    "fields",
    [
        {"sent_at": "9999-12-31T23:59:59-14:00"},
        {"sent_at": "0001-01-01T00:00:00+14:00"},
        {"attachments": [{"name": "big.bin", "size": 2**63}]},
        {"text": "lone \ud800 surrogate"},
    ],
    ids=["sent-at-9999", "sent-at-0001", "size-2^63", "lone-surrogate"],
)
async def test_hostile_chat_payloads_are_400(hub, fields):
    resp = await hub.chat(json.dumps(chat_message() | fields).encode())
    assert resp.status == 400, await resp.text()
    assert await hub.db.messages.count_documents({}) == 0


async def test_a_body_nested_1000_deep_is_400(hub):
    body = json.dumps(chat_message())[:-1] + ', "extra": ' + '{"a": ' * 1000 + "{}" + "}" * 1000 + "}"
    resp = await hub.chat(body.encode())
    assert resp.status == 400 and "nested" in (await resp.json())["error"]["message"]


async def test_an_integer_over_python_s_digit_limit_is_400_even_in_an_ignored_field(hub):
    body = json.dumps(chat_message())[:-1] + ', "ignored": ' + "9" * 5000 + "}"
    resp = await hub.chat(body.encode())
    assert resp.status == 400


@pytest.mark.parametrize("path", ["/webhooks/chat", "/webhooks/email"])
async def test_a_non_ascii_signature_header_is_401(hub, path):
    resp = await hub.client.post(path, data=b"{}", headers={"X-Hub-Signature-256": "sha256=\u00e9"})
    assert resp.status == 401


async def test_mail_with_a_raw_8_bit_header_is_stored_and_readable(hub):
    resp = await post_email(hub, LATIN1_MAIL)
    assert resp.status == 201, await resp.text()
    message = await hub.db.messages.find_one({})
    assert message["sender"]["name"] == "José" and message["subject"] == "Señal"


async def test_mail_the_parser_cannot_take_apart_is_kept_as_damaged(hub):
    resp = await post_email(hub, nested_mail())
    assert resp.status == 201, await resp.text()
    message = await hub.db.messages.find_one({})
    assert "error" in message["flags"]


async def test_a_year_9999_date_header_falls_back_to_the_time_received(hub):
    raw = (
        b"From: a@example.com\r\nDate: Fri, 31 Dec 9999 23:59:59 -1400\r\n"
        b"Message-ID: <y9999@x.y>\r\n\r\nhi\r\n"
    )
    resp = await post_email(hub, raw)
    assert resp.status == 201, await resp.text()
    message = await hub.db.messages.find_one({})
    assert abs(message["sent_at"] - message["created_at"]) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "path,status",
    [
        ("/api/v1/contacts?limit=%C2%B2", 400),
        ("/api/v1/leads?min_score=%C2%B2", 400),
        ("/api/v1/reports/summary?from=0001-01-01&to=0001-01-02", 400),
        ("/api/v1/reports/summary?from=9999-12-30&to=9999-12-31", 400),
        ("/api/v1/reports/summary?from=2000-01-01&to=2099-01-01", 400),
    ],
)
async def test_hostile_query_values_are_4xx(hub, path, status):
    token = await hub.login("admin")
    assert (await hub.call("GET", path, token))[0] == status


@pytest.mark.parametrize(
    "attributes",
    [{"plan": 2**63}, {"$where": "1"}, {"a.b": 1}, {"deep": {"x": 1}}, {"n": float("inf")}],
    ids=["int-2^63", "dollar-key", "dotted-key", "nested", "infinity"],
)
async def test_contact_attributes_are_checked_on_create_and_edit(hub, attributes):
    token = await hub.login("admin")
    body = json.dumps({"name": "Ann", "attributes": attributes}, allow_nan=True)
    headers = {"Content-Type": "application/json"}
    status, _ = await hub.call("POST", "/api/v1/contacts", token, data=body, headers=headers)
    assert status in (400, 422)
    status, contact = await hub.call("POST", "/api/v1/contacts", token, json={"name": "Bo"})
    assert status == 201
    status, _ = await hub.call(
        "PATCH", f"/api/v1/contacts/{contact['id']}", token, data=body, headers=dict(headers)
    )
    assert status in (400, 422)


async def test_an_unsubscribe_link_with_a_non_ascii_signature_is_refused(hub):
    status, body = await hub.call("GET", "/unsubscribe?c=x&s=%C3%A9")
    assert status == 403 and body["error"]["code"] == "bad_link"


async def test_a_token_in_the_query_string_works_only_on_the_websocket(hub):
    token = await hub.login("agent")
    status, _ = await hub.call("GET", f"/api/v1/conversations?access_token={token}")
    assert status == 401
    ws = await hub.client.ws_connect(f"/api/v1/stream?access_token={token}")
    assert not ws.closed
    await ws.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    payload=st.fixed_dictionaries(
        {"external_id": json_values, "sender": json_values, "text": json_values},
        optional={"sent_at": json_values, "attachments": json_values, "thread_id": json_values},
    )
)
async def test_any_signed_chat_body_gets_a_clean_answer(hub, payload):
    resp = await hub.chat(json.dumps(payload).encode())
    assert resp.status in (200, 201, 400), await resp.text()


@FUZZ
@given(raw=st.binary(max_size=2000))
async def test_any_signed_bytes_to_the_email_webhook_get_a_clean_answer(hub, raw):
    resp = await post_email(hub, raw, secret=CHAT_SECRET)
    assert resp.status in (200, 201, 400), await resp.text()


header_text = st.one_of(
    st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    # An encoded word may decode to anything, line breaks included.
    st.one_of(
        st.text(max_size=30),
        st.lists(st.sampled_from(["a", "中", " ", "\r\n", "\n", "\t"]), max_size=8).map("".join),
    ).map(lambda t: b"=?utf-8?b?" + base64.b64encode(t.encode("utf-8", "surrogatepass")) + b"?="),
)


@FUZZ
@given(
    sender=header_text,
    subject=header_text,
    date=header_text,
    body=st.binary(max_size=500),
    content_type=st.sampled_from([b"text/plain", b"text/html", b"multipart/mixed", b"x/\xff"]),
)
@example(  # a line break hidden in an encoded word ("a\r\na"), always tried
    sender=b"=?utf-8?b?YQ0KYQ==?= <ann@example.com>",
    subject=b"=?utf-8?b?YQ0KYQ==?=",
    date=b"x",
    body=b"",
    content_type=b"text/plain",
)
def test_the_mail_parser_never_raises_and_its_result_is_storable(sender, subject, date, body, content_type):
    raw = (
        b"From: " + sender + b"\r\nSubject: " + subject + b"\r\nDate: " + date
        + b"\r\nContent-Type: " + content_type + b"\r\n\r\n" + body
    )  # fmt: skip
    message = parse_mail(raw)
    for header in (message.subject, message.sender.name):  # one line each, as a reply needs them
        assert not set(header or "") & {"\r", "\n"}
    bson.encode(
        {
            "text": message.text,
            "subject": message.subject,
            "sender": vars(message.sender),
            "email": message.email,
            "route": message.route,
            "sent_at": message.sent_at,
            "attachments": [vars(a) for a in message.attachments],
        }
    )


def test_a_readable_mail_still_reads_as_before():
    mail = EmailMessage()
    mail["From"] = "Ann <ann@example.com>"
    mail["Subject"] = "Where is my parcel?"
    mail.set_content("It never arrived.")
    message = parse_mail(mail.as_bytes())
    assert (message.sender.email, message.text, "error" in message.flags) == (
        "ann@example.com",
        "It never arrived.",
        False,
    )


def strict_json(text: str):
    """JSON as the standard has it: no Infinity or NaN (browsers' JSON.parse refuses them)."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))


async def _deal(hub) -> str:
    contact = await hub.services.contacts.create({"name": "Buyer"})
    deal = {"title": "Big one", "stage": "new", "open": True, "value": 100.0, "currency": "EUR",
            "owner_id": None, "contact_id": contact["_id"], "pipeline": "default"}  # fmt: skip
    return str((await hub.db.deals.insert_one(deal)).inserted_id)


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": Infinity}',
        b'{"value": NaN}',
        b'{"value": -Infinity}',
        b'{"value": 1e400}',
        b'{"value": 1e308}',
        b'{"value": -5}',
        b'{"value": 0.001}',
        b'{"currency": "1$#"}',
        b'{"currency": "ABC"}',
        b'{"currency": "XXX"}',
    ],
)
async def test_money_is_a_bounded_decimal_in_a_real_currency(hub, body):
    deal_id, manager = await _deal(hub), await hub.login("manager")
    headers = {"Content-Type": "application/json"}
    status, error = await hub.call("PATCH", f"/api/v1/deals/{deal_id}", manager, data=body, headers=headers)
    assert status in (400, 422), error
    deal = await hub.db.deals.find_one({})
    assert (deal["value"], deal["currency"]) == (100.0, "EUR")


async def test_money_within_bounds_is_kept_and_every_answer_stays_json(hub):
    deal_id, manager = await _deal(hub), await hub.login("manager")
    status, deal = await hub.call("PATCH", f"/api/v1/deals/{deal_id}", manager,
                                  json={"value": 1234567.89, "currency": "cny"})  # fmt: skip
    assert status == 200 and (deal["value"], deal["currency"]) == (1234567.89, "CNY")
    # A number JSON cannot hold, stored before these checks, reads back as null.
    await hub.db.deals.update_one({}, {"$set": {"value": float("inf")}})
    async with hub.client.get("/api/v1/deals", headers={"Authorization": f"Bearer {manager}"}) as resp:
        assert resp.status == 200
        [listed] = strict_json(await resp.text())["items"]
    assert listed["value"] is None


async def test_a_session_is_opened_from_a_json_body_only(hub):
    """A cross-site form may post text/plain without asking: it must not sign a browser in."""
    await hub.services.users.create("victim@example.com", "correct-horse-1", "agent")
    body = json.dumps({"email": "victim@example.com", "password": "correct-horse-1"})
    resp = await hub.client.post("/api/v1/auth/session", data=body, headers={"Content-Type": "text/plain"})
    assert resp.status == 415 and "Set-Cookie" not in resp.headers
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"


def test_a_sender_with_a_quoted_local_part_is_not_taken_as_an_address():
    raw = (
        b'From: "q\\"x,bcc: y@evil.example"@example.com\r\nTo: "a,b"@example.com, ok@example.com\r\n'
        b"Subject: hi\r\nMessage-ID: <quoted@example.com>\r\n\r\nHello"
    )
    message = parse_mail(raw)
    assert message.sender.email is None and message.flags["error"] == "no readable From: header"
    assert message.email["to"] == ["ok@example.com"]
    assert parse_mail(raw.replace(b'"q\\"x,bcc: y@evil.example"', b"ann")).sender.email == "ann@example.com"


async def _raw_request(hub, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(hub.client.host, hub.client.port)
    writer.write(head)
    await writer.drain()
    return reader, writer


async def test_a_body_that_never_arrives_is_answered_408_and_the_connection_closed(make_hub):
    hub = await make_hub(http_body_seconds=0.5)
    head = (
        b"POST /webhooks/chat HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n{"
    )
    connections = [await _raw_request(hub, head) for _ in range(20)]
    for reader, writer in connections:
        answer = await asyncio.wait_for(reader.read(), 10)  # the hub closes: read() ends
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"body_timeout"' in answer
        writer.close()
