"""A customer's rights of access and erasure: one archive with everything held about them, and
an erasure that leaves no personal data, keeps the business's records and figures, and is
audited without the data it removed."""

from __future__ import annotations

import io
import json
import zipfile

from bson import ObjectId

from tests.conftest import chat_message, eventually, unsure_analysis

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


async def a_customer_with_history(hub) -> tuple[dict, str, str]:
    """Ann: a message, a ticket, a reply with a file; and her admin and agent."""
    admin, agent = await hub.login("admin"), await hub.login("agent")
    ack = await (await hub.chat(chat_message("My order #88412 arrived broken"))).json()
    message = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(message, unsure_analysis("complaint"), await hub.services.rules.get())
    await hub.call("PATCH", f"/api/v1/contacts/{ack['contact_id']}", agent, json={"company": "Ann's Bakery"})
    _, label = await hub.upload(
        agent, ack["conversation_id"], PNG, name="label.png", content_type="image/png"
    )
    reply = {"text": "Sorry Ann, a new one is on its way", "attachments": [label["id"]]}
    await hub.call("POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent, json=reply)
    return ack, admin, agent


async def test_an_admin_exports_everything_held_about_a_customer(hub):
    ack, admin, agent = await a_customer_with_history(hub)
    async with hub.client.get(f"/api/v1/contacts/{ack['contact_id']}/export",
                              headers={"Authorization": f"Bearer {admin}"}) as resp:  # fmt: skip
        assert resp.status == 200 and resp.content_type == "application/zip"
        assert f"contact-{ack['contact_id']}.zip" in resp.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    data = json.loads(archive.read("contact.json"))
    assert data["contact"]["emails"] == ["ann@example.com"] and data["contact"]["company"] == "Ann's Bakery"
    texts = {m["text"] for m in data["messages"]}
    assert {"My order #88412 arrived broken", "Sorry Ann, a new one is on its way"} <= texts
    assert len(data["conversations"]) == 1 and len(data["tickets"]) == 1
    [label] = data["uploads"]
    assert label["name"] == "label.png" and archive.read(label["file"]) == PNG
    assert any(change["action"] == "contact.update" for change in data["changes"])
    assert (await hub.call("GET", f"/api/v1/contacts/{ack['contact_id']}/export", agent))[0] == 403


async def test_an_erased_customer_leaves_no_personal_data_and_the_figures_stay(hub):
    ack, admin, agent = await a_customer_with_history(hub)
    contact_id = ack["contact_id"]
    manager = await hub.login("manager")
    before = (await hub.call("GET", "/api/v1/reports/summary", manager))[1]["figures"]
    path = f"/api/v1/contacts/{contact_id}/erase"
    assert (await hub.call("POST", path, admin, json={"confirm": "someone else"}))[0] == 422
    assert (await hub.call("POST", path, agent, json={"confirm": contact_id}))[0] == 403
    status, body = await hub.call("POST", path, admin, json={"confirm": contact_id})
    assert status == 200, body
    assert body["erased"]["messages"] >= 2 and body["erased"]["conversations"] == 1

    contact = await hub.db.contacts.find_one({"_id": ObjectId(contact_id)})
    assert contact["name"] is None and contact["emails"] == [] and contact["identities"] == []
    assert contact["company"] is None and contact["erased_at"] is not None
    assert await hub.db.messages.count_documents({"contact_id": ObjectId(contact_id)}) == 0
    assert await hub.db.conversations.count_documents({"contact_id": ObjectId(contact_id)}) == 0
    assert await hub.db.jobs.count_documents({"payload.conversation_id": ObjectId(ack["conversation_id"]),
                                              "status": "pending"}) == 0  # fmt: skip
    ticket = await hub.db.tickets.find_one({"contact_id": ObjectId(contact_id)})
    assert ticket is not None and ticket["subject"] == "(erased)"  # the business's record stays
    everything = json.dumps(
        [d async for d in hub.db.audit.find({"target_id": ObjectId(contact_id)})], default=str
    )
    assert "Bakery" not in everything and "ann@example.com" not in everything
    [entry] = await hub.db.audit.find({"action": "contact.erase"}).to_list(None)
    assert entry["actor_id"] is not None and entry["at"] is not None

    after = (await hub.call("GET", "/api/v1/reports/summary", manager))[1]["figures"]
    assert after["messages_in"] == before["messages_in"]

    # The same address writing again is a new customer, not the erased one.
    resp = await hub.chat(chat_message("Hello again"))
    again = await resp.json()
    assert resp.status in (200, 201), again
    assert again["contact_id"] != contact_id
    fresh = await eventually(lambda: hub.db.contacts.find_one({"_id": ObjectId(again["contact_id"])}))
    assert fresh["emails"] == ["ann@example.com"]
