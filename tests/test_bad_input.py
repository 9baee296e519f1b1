"""Bad input gets a clear 4xx JSON error, never a 5xx, and nothing is half-written."""

from __future__ import annotations

import json

import pytest

from tests.conftest import chat_message


async def _nothing_stored(hub):
    for name in ("messages", "conversations", "contacts"):
        assert await hub.db[name].count_documents({}) == 0, name


@pytest.mark.parametrize(
    "body,fragment",
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "body"),
        (json.dumps({"sender": {"id": "x"}, "text": "hi"}).encode(), "external_id"),
        (json.dumps({"external_id": "e1", "text": "hi"}).encode(), "sender"),
        (json.dumps({"external_id": "e1", "sender": {"id": ""}, "text": "hi"}).encode(), "sender.id"),
        (json.dumps({"external_id": 5, "sender": {"id": "x"}, "text": "hi"}).encode(), "external_id"),
        (json.dumps({"external_id": "e1", "sender": {"id": "x"}, "text": ["a"]}).encode(), "text"),
        (json.dumps({"external_id": "e1", "sender": {"id": "x"}, "text": "  "}).encode(), "text"),
        (
            json.dumps(
                {"external_id": "e1", "sender": {"id": "x"}, "text": "a", "sent_at": "yesterday"}
            ).encode(),
            "sent_at",
        ),
        ("\udcff".encode("utf-8", "surrogatepass"), "not valid JSON"),
    ],
)
async def test_malformed_chat_payloads_are_400(hub, body, fragment):
    resp = await hub.chat(body)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "bad_payload" and fragment in error["message"]
    await _nothing_stored(hub)


@pytest.mark.parametrize("signature", [None, "", "sha256=00", "sha1=abc", "garbage"])
async def test_missing_or_wrong_signature_is_401(hub, signature):
    headers = {"X-Hub-Signature-256": signature} if signature is not None else {}
    resp = await hub.client.post("/webhooks/chat", data=json.dumps(chat_message()), headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "bad_signature"
    await _nothing_stored(hub)


async def test_signature_with_another_secret_is_401(hub):
    resp = await hub.chat(chat_message(), secret="someone-elses-secret")
    assert resp.status == 401
    await _nothing_stored(hub)


async def test_chat_channel_off_without_secret(make_hub):
    hub = await make_hub(chat_secret=None)
    resp = await hub.chat(chat_message())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "channel_disabled"


async def test_body_over_one_mebibyte_is_413(hub):
    resp = await hub.chat(chat_message("x" * (1024 * 1024 + 10)))
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "request_entity_too_large"
    await _nothing_stored(hub)


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic abc", "nonsense"])
async def test_bad_tokens_are_401(hub, header):
    status, body = await hub.call("GET", "/api/v1/conversations", headers={"Authorization": header})
    assert status == 401 and body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/api/v1/conversations/{missing}", None),
        ("GET", "/api/v1/conversations/not-an-id", None),
        ("GET", "/api/v1/conversations/{missing}/messages", None),
        ("POST", "/api/v1/conversations/{missing}/messages", {"text": "hi"}),
        ("PATCH", "/api/v1/conversations/{missing}", {"status": "open"}),
        ("GET", "/api/v1/contacts/{missing}", None),
        ("PATCH", "/api/v1/contacts/not-an-id", {"name": "x"}),
        ("POST", "/api/v1/contacts/{missing}/merge", {"other_id": "{missing}"}),
        ("GET", "/api/v1/nowhere", None),
    ],
)
async def test_unknown_ids_are_404(hub, method, path, body):
    admin = await hub.login("admin")
    missing = "0123456789abcdef01234567"
    payload = json.loads(json.dumps(body).replace("{missing}", missing)) if body else None
    status, response = await hub.call(method, path.replace("{missing}", missing), admin, json=payload)
    assert status == 404 and response["error"]["message"]


@pytest.mark.parametrize(
    "method,path,raw,status,code",
    [
        ("PATCH", "/api/v1/conversations/{id}", b"{oops", 400, "bad_json"),
        ("PATCH", "/api/v1/conversations/{id}", b'{"status": "closed"}', 422, "invalid"),
        ("PATCH", "/api/v1/conversations/{id}", b'{"priority": 3}', 422, "invalid"),
        ("PATCH", "/api/v1/conversations/{id}", b'{"colour": "red"}', 422, "invalid"),
        ("PATCH", "/api/v1/conversations/{id}", b'{"status": "snoozed"}', 422, "invalid"),
        (
            "PATCH",
            "/api/v1/conversations/{id}",
            b'{"assignee_id": "0123456789abcdef01234567"}',
            422,
            "invalid",
        ),
        ("POST", "/api/v1/conversations/{id}/messages", b'{"text": ""}', 422, "invalid"),
        ("POST", "/api/v1/conversations/{id}/messages", b"", 422, "invalid"),
        ("POST", "/api/v1/contacts", b'{"emails": ["not-an-email"]}', 422, "invalid"),
        ("POST", "/api/v1/contacts", b'{"phones": ["12"]}', 422, "invalid"),
        (
            "POST",
            "/api/v1/users",
            b'{"email": "a@b.example", "password": "short", "role": "agent"}',
            422,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/users",
            b'{"email": "a@b.example", "password": "longenough", "role": "boss"}',
            422,
            "invalid",
        ),
        ("POST", "/api/v1/auth/login", b'{"email": 1}', 422, "invalid"),
        ("GET", "/api/v1/conversations?limit=0", None, 400, "bad_query"),
        ("GET", "/api/v1/conversations?limit=abc", None, 400, "bad_query"),
        ("GET", "/api/v1/conversations?cursor=%%%", None, 400, "bad_cursor"),
        ("GET", "/api/v1/conversations?cursor=WyJ4Il0", None, 400, "bad_cursor"),
        ("GET", "/api/v1/conversations?status=closed", None, 422, "invalid"),
        ("GET", "/api/v1/conversations?q=!", None, 422, "invalid"),
        ("GET", "/api/v1/audit?target_type=settings&target_id=x", None, 400, "bad_query"),
        ("DELETE", "/api/v1/conversations/{id}", None, 405, "method_not_allowed"),
    ],
)
async def test_invalid_requests_are_rejected_without_changes(hub, method, path, raw, status, code):
    admin = await hub.login("admin")
    ack = await (await hub.chat(chat_message())).json()
    before = await hub.db.conversations.find_one({})
    messages_before = await hub.db.messages.count_documents({})
    got, response = await hub.call(
        method, path.replace("{id}", ack["conversation_id"]), admin, data=raw,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert (got, response["error"]["code"]) == (status, code), response
    assert response["error"]["message"]
    assert await hub.db.conversations.find_one({}) == before
    assert await hub.db.messages.count_documents({}) == messages_before
    assert await hub.db.users.count_documents({}) == 1
