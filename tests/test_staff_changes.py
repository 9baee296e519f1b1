"""A staff change reads its record in the transaction that writes it: a change whose caller saw
the record before a colleague's change is still made, and its event and audit say what it
changed (a read before the transaction dropped it, or recorded the wrong "before")."""

from __future__ import annotations

from bson import ObjectId

from crm_core.audit import Audited
from crm_core.domain_events import events_of
from crm_core.sales import Deals
from crm_core.tickets import Tickets
from tests.conftest import chat_message, unsure_analysis


async def _stale_reads(monkeypatch, repository: type, record: dict) -> None:
    """Every read through `get` answers what was seen before the colleague's change."""

    async def stale(self, record_id):
        return record

    monkeypatch.setattr(repository, "get", stale)


async def _events(hub, kind: str) -> list[dict]:
    return events_of(await hub.db.events.find({"events.type": kind}).to_list(None), [kind])


async def test_a_deal_change_made_after_a_colleagues_records_what_it_changed(hub, monkeypatch):
    me, colleague = await hub.login("sales"), await hub.login("sales")
    contact = await hub.services.contacts.create({"name": "Buyer"})
    deal = {"title": "Big one", "stage": "new", "open": True, "value": None, "currency": None,
            "owner_id": None, "contact_id": contact["_id"], "pipeline": "default"}  # fmt: skip
    deal["_id"] = (await hub.db.deals.insert_one(deal)).inserted_id
    path = f"/api/v1/deals/{deal['_id']}"
    seen = await hub.services.deals.get(deal["_id"])
    assert (await hub.call("PATCH", path, colleague, json={"stage": "proposal"}))[0] == 200
    await _stale_reads(monkeypatch, Deals, seen)  # I read first, I write second
    status, changed = await hub.call("PATCH", path, me, json={"stage": "new"})
    assert status == 200 and changed["stage"] == "new"  # not dropped as "no change"
    moves = [e["stage"] for e in await _events(hub, "deal.stage_changed")]
    assert moves == [{"from": "new", "to": "proposal"}, {"from": "proposal", "to": "new"}]
    trail = await hub.db.audit.find({"target_id": deal["_id"]}).sort("at", 1).to_list(None)
    assert [entry["changes"]["stage"] for entry in trail] == [
        {"from": "new", "to": "proposal"},
        {"from": "proposal", "to": "new"},
    ]


async def test_a_ticket_change_made_after_a_colleagues_records_what_it_changed(hub, monkeypatch):
    me, colleague = await hub.login("agent"), await hub.login("agent")
    ack = await (await hub.chat(chat_message("my order arrived broken"))).json()
    complaint = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(complaint, unsure_analysis("complaint"), await hub.services.rules.get())
    ticket = await hub.db.tickets.find_one({"conversation_id": complaint["conversation_id"]})
    path = f"/api/v1/tickets/{ticket['_id']}"
    assert (await hub.call("PATCH", path, colleague, json={"status": "pending"}))[0] == 200
    await _stale_reads(monkeypatch, Tickets, ticket)  # still "open" when I looked
    status, changed = await hub.call("PATCH", path, me, json={"status": "resolved"})
    assert status == 200 and changed["status"] == "resolved"
    moves = [e["status"] for e in await _events(hub, "ticket.status_changed")]
    assert moves == [{"from": "open", "to": "pending"}, {"from": "pending", "to": "resolved"}]


async def test_a_change_whose_audit_entry_cannot_be_written_is_not_made(hub, monkeypatch):
    """The audit entry is written in the change's own transaction: one cannot be without the
    other (before, a failure after the commit left a change nobody could trace)."""
    admin, agent = await hub.login("admin"), await hub.login("agent")
    ack = await (await hub.chat(chat_message("where is my parcel"))).json()
    conversation = f"/api/v1/conversations/{ack['conversation_id']}"
    contact = f"/api/v1/contacts/{ack['contact_id']}"
    rules = (await hub.call("GET", "/api/v1/automation/rules", admin))[1]

    async def fails(self, db, target_id, changes, session):
        raise RuntimeError("the audit trail is away")

    monkeypatch.setattr(Audited, "record", fails)
    changes = [
        ("PATCH", conversation, agent, {"status": "resolved", "priority": "high"}),
        ("POST", f"{conversation}/messages", agent, {"text": "On its way"}),
        ("PATCH", contact, agent, {"name": "Someone Else", "marketing_consent": True}),
        ("PUT", "/api/v1/automation/rules", admin, {**rules, "tickets": {**rules["tickets"], "intents": []}}),
        ("POST", "/api/v1/users", admin, {"email": "new@staff.example", "password": "a-long-password",
                                           "role": "agent"}),
    ]  # fmt: skip
    for method, path, token, body in changes:
        status, _ = await hub.call(method, path, token, json=body)
        assert status == 500, path
    monkeypatch.undo()
    _, after = await hub.call("GET", conversation, agent)
    assert after["status"] == "open" and after["priority"] is None
    assert after["contact"]["name"] == "Ann Example" and not after["contact"]["consent"].get("marketing")
    assert await hub.db.messages.count_documents({"direction": "out"}) == 0
    assert await hub.db.jobs.count_documents({}) == 0  # no reply went out either
    assert (await hub.call("GET", "/api/v1/automation/rules", admin))[1] == rules
    assert await hub.db.users.count_documents({"email": "new@staff.example"}) == 0
    assert await hub.db.audit.count_documents({}) == 0
