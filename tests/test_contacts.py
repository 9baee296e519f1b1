"""Contacts through the API: create, edit, search, and merge without losing anything."""

from __future__ import annotations

from bson import ObjectId

from tests.conftest import chat_message


async def test_create_edit_and_search_contacts(hub):
    agent = await hub.login("agent")
    status, contact = await hub.call(
        "POST", "/api/v1/contacts", agent,
        json={"name": "Grace Hopper", "emails": ["Grace@Navy.example"], "phones": ["+1 415 555 0100"],
              "company": "US Navy"},
    )  # fmt: skip
    assert status == 201
    assert contact["emails"] == ["grace@navy.example"] and contact["phones"] == ["+14155550100"]

    status, updated = await hub.call(
        "PATCH", f"/api/v1/contacts/{contact['id']}", agent, json={"attributes": {"plan": "enterprise"}}
    )
    assert (
        status == 200
        and updated["attributes"] == {"plan": "enterprise"}
        and updated["name"] == "Grace Hopper"
    )

    for q in ("grac", "hopper", "navy", "14155"):
        status, found = await hub.call("GET", f"/api/v1/contacts?q={q}", agent)
        assert [c["id"] for c in found["items"]] == [contact["id"]], q
    status, found = await hub.call("GET", "/api/v1/contacts?q=lovelace", agent)
    assert found["items"] == []

    # A customer writing with that email joins the same profile.
    ack = await (await hub.chat(chat_message(sender={"id": "chat-77", "email": "grace@navy.example"}))).json()
    assert ack["contact_id"] == contact["id"]

    status, clash = await hub.call("POST", "/api/v1/contacts", agent, json={"emails": ["grace@navy.example"]})
    assert status == 409 and "merge" in clash["error"]["message"]
    assert await hub.db.audit.count_documents({"action": {"$in": ["contact.create", "contact.update"]}}) == 2


async def test_merge_moves_conversations_identities_and_history(hub):
    agent = await hub.login("agent")
    one = await (
        await hub.chat(chat_message("from chat", sender={"id": "c-1", "email": "jo@example.com"}))
    ).json()
    two = await (await hub.chat(chat_message("from app", sender={"id": "c-2", "email": "jo.work@example.com",
                                                                  "name": "Jo"}))).json()  # fmt: skip
    assert one["contact_id"] != two["contact_id"]

    status, merged = await hub.call(
        "POST", f"/api/v1/contacts/{one['contact_id']}/merge", agent, json={"other_id": two["contact_id"]}
    )
    assert status == 200
    assert merged["emails"] == ["jo@example.com", "jo.work@example.com"]
    assert {i["external_id"] for i in merged["identities"]} == {"c-1", "c-2"}
    assert merged["moved_conversations"] == 1

    status, gone = await hub.call("GET", f"/api/v1/contacts/{two['contact_id']}", agent)
    assert gone["merged_into"] == one["contact_id"] and gone["identities"] == []
    assert {i["external_id"] for i in gone["merged_identities"]} == {"c-2"}

    status, inbox = await hub.call("GET", f"/api/v1/conversations?contact_id={one['contact_id']}", agent)
    assert {c["id"] for c in inbox["items"]} == {one["conversation_id"], two["conversation_id"]}
    assert await hub.db.messages.count_documents({"contact_id": ObjectId(one["contact_id"])}) == 2

    # The merged identity keeps writing: it lands on the surviving contact, same conversation.
    later = await (await hub.chat(chat_message("me again", sender={"id": "c-2"}))).json()
    assert later["contact_id"] == one["contact_id"] and later["conversation_id"] == two["conversation_id"]
    message = await hub.db.messages.find_one({"_id": ObjectId(later["id"])})
    assert str(message["contact_id"]) == one["contact_id"]

    status, listed = await hub.call("GET", "/api/v1/contacts", agent)
    assert [c["id"] for c in listed["items"]] == [one["contact_id"]]
    status, _ = await hub.call(
        "POST", f"/api/v1/contacts/{one['contact_id']}/merge", agent, json={"other_id": two["contact_id"]}
    )
    assert status == 409
    status, _ = await hub.call(
        "POST", f"/api/v1/contacts/{one['contact_id']}/merge", agent, json={"other_id": one["contact_id"]}
    )
    assert status == 422
    assert await hub.db.audit.count_documents({"action": "contact.merge"}) == 1
