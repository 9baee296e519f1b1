"""Bulk actions on the inbox: one request changes many conversations, or none of them."""

from __future__ import annotations

from bson import ObjectId

from tests.conftest import chat_message


async def _conversations(hub, count: int) -> list[str]:
    ids = []
    for n in range(count):
        ack = await (
            await hub.chat(chat_message(f"question {n}", sender={"id": f"c-{n}", "name": f"C {n}"}))
        ).json()
        ids.append(ack["conversation_id"])
    return ids


async def test_one_request_resolves_labels_and_assigns_many(hub):
    agent = await hub.login("agent")
    me = (await hub.call("GET", "/api/v1/auth/me", agent))[1]["id"]
    first, second, untouched = await _conversations(hub, 3)
    assert (await hub.call("PATCH", f"/api/v1/conversations/{first}", agent, json={"labels": ["vip"]}))[
        0
    ] == 200
    status, body = await hub.call("POST", "/api/v1/conversations/bulk", agent,
                                  json={"ids": [first, second, first], "add_labels": ["Shipping"],
                                        "assignee_id": me, "status": "resolved"})  # fmt: skip
    assert status == 200
    assert [c["id"] for c in body["items"]] == [first, second]
    assert [c["labels"] for c in body["items"]] == [["shipping", "vip"], ["shipping"]]
    assert all(c["status"] == "resolved" and c["assignee_id"] == me for c in body["items"])
    assert (await hub.call("GET", f"/api/v1/conversations/{untouched}", agent))[1]["status"] == "open"
    trail = await hub.db.audit.find({"action": "conversation.update"}).to_list(None)
    assert sorted(str(entry["target_id"]) for entry in trail).count(first) == 2  # the PATCH and the bulk
    assert {str(entry["target_id"]) for entry in trail} == {first, second}


async def test_a_bulk_action_that_cannot_be_made_everywhere_changes_none(hub):
    agent, sales = await hub.login("agent"), await hub.login("sales")
    first, second = await _conversations(hub, 2)
    unknown = str(ObjectId())
    status, body = await hub.call("POST", "/api/v1/conversations/bulk", agent,
                                  json={"ids": [first, unknown, second], "status": "resolved"})  # fmt: skip
    assert status == 404 and unknown in body["error"]["message"]
    status, _ = await hub.call("POST", "/api/v1/conversations/bulk", agent,
                               json={"ids": [first, second], "status": "snoozed"})  # fmt: skip
    assert status == 422  # snoozed needs snoozed_until
    assert (await hub.call("POST", "/api/v1/conversations/bulk", agent, json={"ids": []}))[0] == 422
    assert (await hub.call("POST", "/api/v1/conversations/bulk", agent, json={"ids": ["x" * 30]}))[0] == 404
    big = {"ids": [first] * 101, "status": "resolved"}
    assert (await hub.call("POST", "/api/v1/conversations/bulk", agent, json=big))[0] == 422
    assert (await hub.call("POST", "/api/v1/conversations/bulk", sales, json={"ids": [first]}))[0] == 403
    for conversation in (first, second):
        assert (await hub.call("GET", f"/api/v1/conversations/{conversation}", agent))[1]["status"] == "open"
    assert await hub.db.audit.count_documents({}) == 0
