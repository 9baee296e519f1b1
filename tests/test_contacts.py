"""Contacts through the API: create, edit, search, and merge without losing anything."""

from __future__ import annotations

from datetime import UTC, datetime

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


async def test_merge_moves_tickets_leads_deals_and_enrolments_too(hub):
    """The whole relationship follows the customer; where only one may stay (an open lead, one
    enrolment per campaign) the surviving contact's stays and the other's is folded in."""
    manager = await hub.login("manager")
    keep = await (await hub.chat(chat_message("hi", sender={"id": "keep", "email": "keep@x.example"}))).json()
    gone = await (
        await hub.chat(chat_message("hello", sender={"id": "gone", "email": "gone@x.example"}))
    ).json()
    kept_id, gone_id = ObjectId(keep["contact_id"]), ObjectId(gone["contact_id"])
    now = datetime.now(UTC)
    campaigns = [ObjectId(), ObjectId()]
    ticket = {"contact_id": gone_id, "conversation_id": ObjectId(gone["conversation_id"]), "open": True}
    await hub.db.tickets.insert_one({**ticket, "status": "open", "created_at": now})
    await hub.db.deals.insert_one({"contact_id": gone_id, "title": "Deal", "stage": "new", "created_at": now})
    pairs = ((kept_id, keep["conversation_id"]), (gone_id, gone["conversation_id"]))
    leads = [
        {"contact_id": owner, "open": True, "status": "new", "score": 10,
         "source_conversation_ids": [ObjectId(conv)], "created_at": now}
        for owner, conv in pairs
    ]  # fmt: skip
    await hub.db.leads.insert_many(leads)
    await hub.db.enrolments.insert_many(
        [{"contact_id": kept_id, "campaign_id": campaigns[0], "status": "active", "created_at": now},
         {"contact_id": gone_id, "campaign_id": campaigns[0], "status": "active", "created_at": now},
         {"contact_id": gone_id, "campaign_id": campaigns[1], "status": "active", "created_at": now}]
    )  # fmt: skip

    status, merged = await hub.call(
        "POST", f"/api/v1/contacts/{kept_id}/merge", manager, json={"other_id": str(gone_id)}
    )
    assert status == 200, merged
    assert merged["moved"] == {"conversations": 1, "messages": 1, "tickets": 1, "leads": 1, "deals": 1,
                               "enrolments": 1, "uploads": 0, "points": 0, "orders": 0,
                               "coupons": 0}  # fmt: skip
    _, everything = await hub.call("GET", f"/api/v1/contacts/{kept_id}/relationship", manager)
    assert [len(everything[k]) for k in ("conversations", "tickets", "leads", "deals", "enrolments")] == [
        2, 1, 2, 1, 2
    ]  # fmt: skip
    assert [lead["open"] for lead in everything["leads"]].count(True) == 1
    open_lead = await hub.db.leads.find_one({"contact_id": kept_id, "open": True})
    assert set(open_lead["source_conversation_ids"]) == {
        ObjectId(keep["conversation_id"]),
        ObjectId(gone["conversation_id"]),
    }
    stopped = await hub.db.enrolments.find_one({"contact_id": gone_id})
    assert stopped["status"] == "stopped" and stopped["merged_into"] == kept_id
    _, left = await hub.call("GET", f"/api/v1/contacts/{gone_id}/relationship", manager)
    assert all(left[k] == [] for k in ("conversations", "tickets", "leads", "deals"))


async def test_audit_trail_reads_every_audited_record(hub):
    manager = await hub.login("manager")
    ack = await (await hub.chat(chat_message("x"))).json()
    contact = ack["contact_id"]
    await hub.call("PATCH", f"/api/v1/contacts/{contact}", manager, json={"name": "Renamed"})
    targets = [("contact", contact)] + [
        (kind, str(ObjectId())) for kind in ("ticket", "deal", "lead", "campaign")
    ]
    for target_type, target_id in targets:
        status, trail = await hub.call(
            "GET", f"/api/v1/audit?target_type={target_type}&target_id={target_id}", manager
        )
        assert status == 200, (target_type, trail)
    _, trail = await hub.call("GET", f"/api/v1/audit?target_type=contact&target_id={contact}", manager)
    assert [e["action"] for e in trail["items"]] == ["contact.update"]


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


async def test_the_contact_list_says_when_each_last_wrote_on_which_channels_and_what_is_open(hub):
    agent = await hub.login("agent")
    first = await (
        await hub.chat(chat_message("One", sender={"id": "c1", "name": "Cy", "email": "cy@x.example"}))
    ).json()
    await hub.chat(chat_message("Two", sender={"id": "c1", "name": "Cy"}, thread_id="other"))
    path = f"/api/v1/conversations/{first['conversation_id']}"
    assert (await hub.call("PATCH", path, agent, json={"status": "resolved"}))[0] == 200
    quiet = await hub.services.contacts.create({"name": "Quiet One"})
    status, body = await hub.call("GET", "/api/v1/contacts", agent)
    assert status == 200
    by_name = {item["name"]: item for item in body["items"]}
    cy = by_name["Cy"]
    assert cy["channels"] == ["chat"] and cy["open_conversations"] == 1 and cy["last_contact_at"]
    assert by_name["Quiet One"]["open_conversations"] == 0 and by_name["Quiet One"]["last_contact_at"] is None
    assert str(quiet["_id"]) == by_name["Quiet One"]["id"]
