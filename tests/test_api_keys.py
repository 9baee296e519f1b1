"""API keys for integrations: made by admins with scopes, shown once and stored hashed, allowed
exactly their scopes' routes, named as the actor of what they change, limited per minute,
and dead once revoked or expired."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from tests.conftest import chat_message


async def make_key(hub, admin: str, scopes: list[str], **extra) -> dict:
    status, key = await hub.call(
        "POST", "/api/v1/api-keys", admin, json={"name": "shop sync", "scopes": scopes} | extra
    )
    assert status == 201, key
    return key


async def test_a_key_does_what_its_scopes_allow_and_nothing_else(hub):
    admin = await hub.login("admin")
    ack = await (await hub.chat(chat_message())).json()
    key = await make_key(hub, admin, ["contacts:read", "messages:send"])
    assert key["key"].startswith("hubk_") and key["scopes"] == ["contacts:read", "messages:send"]
    stored = await hub.db.api_keys.find_one({"_id": ObjectId(key["id"])})
    assert stored["key_hash"] == hashlib.sha256(key["key"].encode()).hexdigest()
    assert key["key"] not in str(stored)

    assert (await hub.call("GET", "/api/v1/contacts", key["key"]))[0] == 200
    assert (await hub.call("GET", f"/api/v1/contacts/{ack['contact_id']}", key["key"]))[0] == 200
    status, error = await hub.call(
        "PATCH", f"/api/v1/contacts/{ack['contact_id']}", key["key"], json={"company": "Acme"}
    )
    assert status == 403 and "contacts:write" in error["error"]["message"]
    assert (await hub.call("GET", "/api/v1/tickets", key["key"]))[0] == 403
    assert (await hub.call("GET", "/api/v1/api-keys", key["key"]))[0] == 403  # never a person's powers
    assert (await hub.call("GET", "/api/v1/audit", key["key"]))[0] == 403

    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"
    status, reply = await hub.call("POST", path, key["key"], json={"text": "Your order shipped today."})
    assert status == 201 and reply["sender"]["name"] == "API key shop sync"
    [entry] = await hub.db.audit.find({"action": "conversation.reply"}).to_list(None)
    assert entry["actor_kind"] == "api_key" and entry["actor_name"] == "API key shop sync"
    assert entry["actor_id"] == ObjectId(key["id"])
    listed = (await hub.call("GET", "/api/v1/api-keys", admin))[1]["items"]
    assert listed[0]["last_used_at"] is not None and "key_hash" not in listed[0] and "key" not in listed[0]


async def test_a_revoked_or_expired_key_no_longer_works(hub):
    admin = await hub.login("admin")
    key = await make_key(hub, admin, ["contacts:read"])
    later = await make_key(hub, admin, ["contacts:read"], expires_in_days=1)
    assert (await hub.call("DELETE", f"/api/v1/api-keys/{key['id']}", admin))[0] == 200
    assert (await hub.call("GET", "/api/v1/contacts", key["key"]))[0] == 401
    await hub.db.api_keys.update_one(
        {"_id": ObjectId(later["id"])}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    assert (await hub.call("GET", "/api/v1/contacts", later["key"]))[0] == 401
    assert (await hub.call("GET", "/api/v1/contacts", "hubk_forged_key"))[0] == 401


async def test_only_admins_make_keys_and_only_with_known_scopes(hub):
    admin, manager = await hub.login("admin"), await hub.login("manager")
    body = {"name": "x", "scopes": ["contacts:read"]}
    assert (await hub.call("POST", "/api/v1/api-keys", manager, json=body))[0] == 403
    status, _ = await hub.call("POST", "/api/v1/api-keys", admin, json={"name": "x", "scopes": ["root"]})
    assert status == 422
    assert (await hub.call("POST", "/api/v1/api-keys", admin, json={"name": "x", "scopes": []}))[0] == 422


async def test_a_key_is_limited_per_minute(make_hub):
    hub = await make_hub(api_key_requests_per_minute=3)
    admin = await hub.login("admin")
    key = await make_key(hub, admin, ["contacts:read"])
    for _ in range(3):
        assert (await hub.call("GET", "/api/v1/contacts", key["key"]))[0] == 200
    async with hub.client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {key['key']}"}) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "60"
