"""NLP on every inbound message and what the hub does with it, end to end through the chat
webhook: tickets, qualified leads, campaigns, consent, and recovery after a worker crash.
The classifier is the real MiniLM model when the `nlp` extra is installed (as in CI)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from channels.email.unsubscribe import unsubscribe_signature
from crm_core.contacts import Consent
from hub.listeners import ListenerLoop
from tests.conftest import CHAT_SECRET, all_events_handled, chat_message, eventually, post_email
from tests.mail_peers import SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BILLING_COMPLAINT = (
    "I was charged twice for my subscription this month. This is unacceptable, please refund me."
)
RICH_SALES_INQUIRY = (
    "Hi, I'm Head of Support at Acme Logistics GmbH. We're looking for a helpdesk for 40 agents, "
    "EUR 60k budget, go live in Q2. Can we book a demo?"
)
VAGUE_SALES_INQUIRY = "I'm interested in your product, can you tell me more?"


async def classified(hub, count: int) -> list[dict]:
    """Wait until `count` inbound messages are classified and acted on; return them."""

    async def done():
        found = await hub.db.messages.find({"direction": "in", "nlp.status": "done"}).to_list(100)
        return found if len(found) >= count else None

    return await eventually(done, timeout=30)


async def test_billing_complaint_opens_a_high_priority_ticket_for_an_agent_with_sla_times(make_hub):
    hub = await make_hub(nlp_worker=True)
    agents = [await hub.login("agent") for _ in range(2)]
    ack = await (await hub.chat(chat_message(BILLING_COMPLAINT))).json()
    [message] = await classified(hub, 1)
    assert message["nlp"]["intent"] in ("billing", "complaint")
    assert message["nlp"]["sentiment"]["label"] == "negative"
    assert message["nlp"]["model"] and message["nlp"]["language"] == "en"

    status, tickets = await hub.call("GET", "/api/v1/tickets", agents[0])
    assert status == 200
    [ticket] = tickets["items"]
    assert ticket["priority"] == "high"
    assert ticket["conversation_id"] == ack["conversation_id"]
    assert ticket["assignee_id"] is not None
    due = ticket["sla"]
    assert due["first_response_due"] < due["resolution_due"]
    status, conversation = await hub.call("GET", f"/api/v1/conversations/{ack['conversation_id']}", agents[0])
    assert conversation["last_intent"] == message["nlp"]["intent"]
    assert conversation["assignee_id"] == ticket["assignee_id"]
    assert conversation["priority"] == "high"

    # A follow-up in the same conversation joins the open ticket instead of opening another.
    await hub.chat(chat_message("Still waiting for the refund of the double charge, this is a disgrace!"))
    await classified(hub, 2)
    status, tickets = await hub.call("GET", "/api/v1/tickets?status=open", agents[0])
    assert len(tickets["items"]) == 1 and len(tickets["items"][0]["message_ids"]) == 2

    # A second customer's ticket goes to the other agent (round robin).
    await hub.chat(chat_message("The export button gives an error, help please", sender={"id": "c2"}))
    await classified(hub, 3)
    status, tickets = await hub.call("GET", "/api/v1/tickets", agents[0])
    assert len({t["assignee_id"] for t in tickets["items"]}) == 2

    # Agents answer and resolve; a sales rep cannot touch tickets.
    ticket_id = ticket["id"]
    status, changed = await hub.call(
        "PATCH", f"/api/v1/tickets/{ticket_id}", agents[1], json={"status": "resolved"}
    )
    assert status == 200 and changed["status"] == "resolved" and changed["resolved_at"]
    status, _ = await hub.call("GET", "/api/v1/tickets", await hub.login("sales"))
    assert status == 403
    status, breached = await hub.call("GET", "/api/v1/tickets?breached=true", agents[0])
    assert breached["items"] == []


async def test_spam_is_labelled_and_resolved_without_a_ticket(make_hub):
    hub = await make_hub(nlp_worker=True)
    ack = await (
        await hub.chat(chat_message("Congratulations!!! You won a FREE iPhone, click here to claim it"))
    ).json()
    [message] = await classified(hub, 1)
    assert message["nlp"]["intent"] == "spam"
    conversation = await hub.services.conversations.get(ack["conversation_id"])
    assert conversation["status"] == "resolved" and "spam" in conversation["labels"]
    assert await hub.db.tickets.count_documents({}) == 0


async def test_rich_sales_inquiry_becomes_a_qualified_lead_assigned_to_a_rep(make_hub):
    hub = await make_hub(nlp_worker=True)
    rep = await hub.login("sales")
    rep_id = (await hub.call("GET", "/api/v1/auth/me", rep))[1]["id"]
    await hub.chat(chat_message(RICH_SALES_INQUIRY, sender={"id": "lead-1", "name": "Jo Buyer"}))
    [message] = await classified(hub, 1)
    assert message["nlp"]["intent"] == "sales_inquiry"

    status, leads = await hub.call("GET", "/api/v1/leads?status=qualified&min_score=50", rep)
    assert status == 200
    [lead] = leads["items"]
    assert lead["owner_id"] == rep_id
    assert lead["contact"]["name"] == "Jo Buyer" and lead["source_channel"] == "chat"  # who, from where
    signals = {s["signal"]: s for s in lead["signals"]}
    assert {"budget", "team_size", "timeline", "request", "title", "company"} <= set(signals)
    assert signals["budget"]["evidence"] == "EUR 60k" and signals["team_size"]["value"] == 40
    assert lead["score"] == sum(s["points"] for s in lead["signals"]) >= 50
    # The notifications listener tells the rep, once the lead's assignment event is handled.
    note = await eventually(
        lambda: hub.db.notifications.find_one({"user_id": ObjectId(rep_id), "kind": "lead.assigned"})
    )
    assert "score" in note["text"] and "EUR 60k" in note["text"]
    # More from the same buyer adds to the lead; the rep is not told twice.
    await hub.chat(chat_message("Also, do you integrate with Salesforce?", sender={"id": "lead-1"}))
    await classified(hub, 2)
    await eventually(lambda: all_events_handled(hub.db))
    assert await hub.db.notifications.count_documents({}) == 1
    contact = await hub.services.contacts.get(lead["contact_id"])
    assert contact["lead"]["score"] == lead["score"]
    _, mine = await hub.call("POST", "/api/v1/commands", rep, json={"text": "/leads mine"})
    assert mine["text"].startswith(f"Your leads (mine):\n- Jo Buyer: score {lead['score']}, qualified - ")
    assert "EUR 60k" in mine["text"]

    # Convert once into a deal carrying the budget; work the deal along the pipeline.
    status, deal = await hub.call("POST", f"/api/v1/leads/{lead['id']}/convert", rep)
    assert status == 201
    assert (deal["stage"], deal["value"], deal["currency"], deal["owner_id"]) == (
        "new",
        60000.0,
        "EUR",
        rep_id,
    )
    status, again = await hub.call("POST", f"/api/v1/leads/{lead['id']}/convert", rep)
    assert status == 409, again
    status, moved = await hub.call("PATCH", f"/api/v1/deals/{deal['id']}", rep, json={"stage": "proposal"})
    assert status == 200 and moved["stage"] == "proposal"
    status, _ = await hub.call("PATCH", f"/api/v1/deals/{deal['id']}", rep, json={"stage": "signed"})
    assert status == 422
    status, _ = await hub.call("GET", "/api/v1/leads", await hub.login("agent"))
    assert status == 403


async def test_vague_inquiry_enrols_in_nurture_reply_pauses_and_unsubscribe_stops(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(nlp_worker=True, chat_outbound_url=receiver.url)
    manager = await hub.login("manager")
    steps = [
        {"channel": "chat", "template": "Hi {first_name}, here is our product guide.", "delay_minutes": 0},
        {"channel": "chat", "template": "{first_name}, shall we book a call?", "delay_minutes": 60 * 24},
    ]
    status, campaign = await hub.call(
        "POST", "/api/v1/campaigns", manager, json={"key": "nurture", "name": "Nurture", "steps": steps}
    )
    assert status == 201, campaign
    customer = {"id": "visitor-9", "name": "Kim Lee"}
    ack = await (await hub.chat(chat_message("hello", sender=customer))).json()
    await classified(hub, 1)
    # No consent yet: a vague inquiry would not enrol. The agent records the customer's opt-in.
    status, _ = await hub.call(
        "PATCH", f"/api/v1/contacts/{ack['contact_id']}", manager, json={"marketing_consent": True}
    )
    assert status == 200

    await hub.chat(chat_message(VAGUE_SALES_INQUIRY, sender=customer))
    [*_, inquiry] = await classified(hub, 2)
    assert inquiry["nlp"]["intent"] == "sales_inquiry"
    [enrolled] = [a for a in inquiry["nlp"]["actions"] if a["do"].startswith("campaign:nurture:enrolled")]
    assert enrolled["rule"] == "campaign_triggers[nurture]" and enrolled["intent"] == "sales_inquiry"
    await eventually(lambda: asyncio.sleep(0, len(receiver.requests) == 1))
    sent = json.loads(receiver.requests[0][1])
    assert sent["text"] == "Hi Kim, here is our product guide."

    # The customer answers: the enrolment pauses and the reply sits in the inbox.
    await hub.chat(chat_message("thanks, I'll read it", sender=customer))
    await classified(hub, 3)
    status, detail = await hub.call("GET", f"/api/v1/campaigns/{campaign['id']}", manager)
    assert detail["enrolments"][0]["status"] == "paused"
    assert (detail["results"]["enrolled"], detail["results"]["replied"]) == (1, 1)

    await hub.chat(chat_message("unsubscribe", sender=customer))
    await classified(hub, 4)
    contact = await hub.services.contacts.get(ack["contact_id"])
    assert contact["consent"]["marketing"] is False
    status, detail = await hub.call("GET", f"/api/v1/campaigns/{campaign['id']}", manager)
    results = detail["results"]
    assert (results["enrolled"], results["opted_out"], results["replied"]) == (1, 1, 1)
    assert detail["enrolments"][0]["status"] == "opted_out"
    # Opted out, the contact is not enrolled again.
    status, refused = await hub.call(
        "POST",
        f"/api/v1/campaigns/{campaign['id']}/enrolments",
        manager,
        json={"contact_id": ack["contact_id"]},
    )
    assert status == 409 and refused["error"]["code"] == "no_consent"
    assert await hub.db.tickets.count_documents({}) == 0  # "unsubscribe" is not a cancellation ticket
    assert len(receiver.requests) == 1


async def test_email_unsubscribe_link_is_signed(hub):
    ack = await (await hub.chat(chat_message())).json()
    contact_id = ack["contact_id"]
    await hub.services.contacts.set_consent(ObjectId(str(contact_id)), Consent(True, source="test"))
    status, _ = await hub.call("GET", f"/unsubscribe?c={contact_id}&s=deadbeef")
    assert status == 403
    assert (await hub.services.contacts.get(contact_id))["consent"]["marketing"] is True
    good = unsubscribe_signature(CHAT_SECRET, contact_id)
    status, page = await hub.call("GET", f"/unsubscribe?c={contact_id}&s={good}")
    assert status == 200 and "no more marketing" in page
    consent = (await hub.services.contacts.get(contact_id))["consent"]
    assert consent["marketing"] is False and consent["source"] == "email unsubscribe link"


async def test_rules_are_validated_and_editable_by_managers(hub):
    manager = await hub.login("manager")
    status, rules = await hub.call("GET", "/api/v1/automation/rules", manager)
    assert status == 200 and rules["leads"]["qualified_score"] == 50
    assert rules["tickets"]["intents"] == ["support_request", "billing", "complaint", "cancellation"]
    bad = rules | {"labels": [{"intent": "gossip", "label": "x"}]}
    status, error = await hub.call("PUT", "/api/v1/automation/rules", manager, json=bad)
    assert status == 422 and "gossip" in error["error"]["message"]
    bad = rules | {"tickets": rules["tickets"] | {"sla": {"high": rules["tickets"]["sla"]["high"]}}}
    status, error = await hub.call("PUT", "/api/v1/automation/rules", manager, json=bad)
    assert status == 422 and "missing" in error["error"]["message"]
    good = rules | {"leads": rules["leads"] | {"qualified_score": 70}}
    status, saved = await hub.call("PUT", "/api/v1/automation/rules", manager, json=good)
    assert status == 200 and saved["leads"]["qualified_score"] == 70
    assert (await hub.services.rules.get()).leads.qualified_score == 70
    status, _ = await hub.call("PUT", "/api/v1/automation/rules", await hub.login("agent"), json=good)
    assert status == 403
    # The change is in the audit trail, readable through the audit API (it was filed under
    # "settings", which the API could not read back).
    status, trail = await hub.call(
        "GET", "/api/v1/audit?target_type=rules&target_id=automation_rules", manager
    )
    assert status == 200
    [entry] = trail["items"]
    assert entry["action"] == "automation.rules"
    assert entry["changes"] == {"leads": {"from": rules["leads"], "to": good["leads"]}}


async def test_a_worker_cancelled_mid_batch_leaves_nothing_unclassified(make_hub, settings):
    first = await make_hub(nlp_worker=True, nlp_lease_seconds=1.0)
    worker = first.services.nlp_worker
    inside, release = threading.Event(), threading.Event()
    real_analyze = worker._analyzer.analyze

    def stuck(*args):
        inside.set()
        release.wait(30)
        return real_analyze(*args)

    worker._analyzer.analyze = stuck
    for n in range(5):
        await first.chat(chat_message(f"my invoice number {n} is wrong", sender={"id": f"c{n}"}))
    await eventually(lambda: asyncio.to_thread(inside.wait, 0.05))
    await worker.stop()  # the crash: cancelled while the batch is being classified
    release.set()
    del worker._analyzer.analyze
    working = await first.db.messages.count_documents({"nlp.status": "working"})
    assert working >= 1

    second = await make_hub(nlp_worker=True, nlp_lease_seconds=1.0)
    done = await classified(second, 5)
    assert {m["nlp"]["status"] for m in done} == {"done"}
    assert await second.db.tickets.count_documents({}) == 5  # each acted on once


async def test_two_schedulers_send_every_step_exactly_once(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    first = await make_hub(chat_outbound_url=receiver.url)
    steps = [
        {"channel": "chat", "template": f"step {n} for {{first_name}}", "delay_minutes": 0} for n in range(3)
    ]
    campaign = await first.services.campaigns.create({"key": "drip", "name": "Drip", "steps": steps})
    contacts = []
    for n in range(8):
        ack = await (
            await first.chat(chat_message("hi", sender={"id": f"d{n}", "name": f"Dee {n}", "email": None}))
        ).json()
        contact_id = ObjectId(ack["contact_id"])
        await first.services.contacts.set_consent(ObjectId(str(contact_id)), Consent(True, source="test"))
        contacts.append(contact_id)
    # Enrolled behind the schedulers' backs: a second hub starting up finds the due steps in the
    # database, and both hubs' schedulers then race for them.
    for contact_id in contacts:
        assert (await first.services.campaigns.enrol("drip", contact_id, source="test")).reason == "enrolled"
    second = await make_hub(chat_outbound_url=receiver.url)
    first.services.campaign_scheduler.wake()
    second.services.campaign_scheduler.wake()

    await eventually(lambda: asyncio.sleep(0, len(receiver.requests) >= 24), timeout=30)
    texts = sorted(json.loads(body)["text"] for _, body in receiver.requests)
    assert texts == sorted(f"step {s} for Dee" for s in range(3) for _ in range(8))

    async def all_sent():  # the hub records a delivery just after the receiver answered it
        results = await first.services.campaigns.results(campaign["_id"])
        return (results["enrolled"], results["completed"], results["sent"]) == (8, 8, 24)

    await eventually(all_sent)
    assert await first.db.messages.count_documents({"campaign.id": campaign["_id"]}) == 24


async def test_email_steps_reach_any_contact_with_an_address_and_unsubscribe_in_one_click(
    make_hub, smtp_server, test_ca
):
    controller, inbox = smtp_server
    hub = await make_hub(
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_from="news@hub.example",
        tls_ca_file=str(test_ca.ca_file),
        public_url="https://hub.example/",
    )
    manager = await hub.login("manager")
    # A contact who only ever wrote on the chat channel, with an email address on file.
    ack = await (await hub.chat(chat_message("hi there"))).json()
    await hub.call(
        "PATCH", f"/api/v1/contacts/{ack['contact_id']}", manager, json={"marketing_consent": True}
    )
    step = {"channel": "email", "subject": "News for {first_name}", "template": "Hello {first_name}.",
            "delay_minutes": 0}  # fmt: skip
    status, campaign = await hub.call(
        "POST", "/api/v1/campaigns", manager, json={"key": "news", "name": "News", "steps": [step]}
    )
    enrol = {"contact_id": ack["contact_id"]}
    status, enrolment = await hub.call(
        "POST", f"/api/v1/campaigns/{campaign['id']}/enrolments", manager, json=enrol
    )
    assert status == 201, enrolment

    await eventually(lambda: asyncio.sleep(0, inbox.messages))
    mail = inbox.messages[0]
    assert (mail["To"], mail["Subject"]) == ("ann@example.com", "News for Ann")  # its own thread, no "Re:"
    assert mail["In-Reply-To"] is None and mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = re.fullmatch(r"<https://hub\.example(/unsubscribe\?c=\w+&s=\w+)>", mail["List-Unsubscribe"])
    body = mail.get_body(("plain",)).get_content()
    assert body.startswith("Hello Ann.") and one_click.group(1) in body
    thread = await hub.db.conversations.find_one(
        {"channel": "email", "contact_id": ObjectId(ack["contact_id"])}
    )
    assert thread["status"] == "resolved"  # nobody is waiting for an answer

    # The customer answers the newsletter: the reply joins that thread and opens it for agents.
    reply = "From: Ann <ann@example.com>\r\nTo: news@hub.example\r\nSubject: Re: News for Ann\r\n"
    reply += f"In-Reply-To: {mail['Message-ID']}\r\nMessage-ID: <reply-1@example.com>\r\n\r\nTell me more\r\n"
    stored = await (await post_email(hub, reply.encode())).json()
    assert stored["conversation_id"] == str(thread["_id"])
    assert (await hub.services.conversations.get(thread["_id"]))["status"] == "open"

    status, _ = await hub.call("POST", one_click.group(1))  # what a mail client's button does
    assert status == 200
    contact = await hub.services.contacts.get(ack["contact_id"])
    assert contact["consent"] == contact["consent"] | {"marketing": False, "source": "email unsubscribe link"}

    async def recorded_as_sent():  # just after the SMTP server accepted it
        return (await hub.services.campaigns.results(ObjectId(campaign["id"])))["sent"] == 1

    await eventually(recorded_as_sent)


async def test_consent_withdrawn_by_staff_stops_the_next_step(make_hub, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    manager = await hub.login("manager")
    steps = [
        {"channel": "chat", "template": "first", "delay_minutes": 0},
        {"channel": "chat", "template": "second", "delay_minutes": 60},
    ]
    campaign = await hub.services.campaigns.create({"key": "two", "name": "Two", "steps": steps})
    ack = await (await hub.chat(chat_message("hi"))).json()
    path = f"/api/v1/contacts/{ack['contact_id']}"
    await hub.call("PATCH", path, manager, json={"marketing_consent": True})
    status, _ = await hub.call(
        "POST",
        f"/api/v1/campaigns/{campaign['_id']}/enrolments",
        manager,
        json={"contact_id": ack["contact_id"]},
    )
    assert status == 201
    await eventually(lambda: asyncio.sleep(0, len(receiver.requests) == 1))

    await hub.call("PATCH", path, manager, json={"marketing_consent": False})
    await hub.db.enrolments.update_one({}, {"$set": {"next_at": datetime.now(UTC)}})  # the hour has passed
    hub.services.campaign_scheduler.wake()
    ended = await eventually(lambda: hub.db.enrolments.find_one({"status": "opted_out"}))
    assert ended["step"] == 1 and len(receiver.requests) == 1


async def test_a_message_automation_cannot_handle_does_not_block_the_others(make_hub):
    first = await make_hub()
    broken = await (await first.chat(chat_message("my invoice is wrong", sender={"id": "gone"}))).json()
    await first.chat(chat_message("where is my refund?", sender={"id": "fine", "email": None}))
    await first.db.conversations.delete_one({"_id": ObjectId(broken["conversation_id"])})

    second = await make_hub(nlp_worker=True)
    await eventually(lambda: second.db.messages.find_one({"nlp.status": "done"}), timeout=30)
    failed = await eventually(lambda: second.db.messages.find_one({"nlp.status": "failed"}))
    assert str(failed["_id"]) == broken["id"] and failed["nlp"]["error"].startswith("NotFound")
    assert await second.db.messages.count_documents({"nlp.status": {"$in": ["pending", "working"]}}) == 0


async def test_campaign_triggers_match_intent_channel_and_contact_attributes(make_hub):
    hub = await make_hub(nlp_worker=True)
    manager = await hub.login("manager")
    step = {"channel": "chat", "template": "We'd love to keep you, {first_name}.", "delay_minutes": 60}
    await hub.call(
        "POST", "/api/v1/campaigns", manager, json={"key": "win-back", "name": "Win", "steps": [step]}
    )
    _, rules = await hub.call("GET", "/api/v1/automation/rules", manager)
    trigger = {
        "intent": "cancellation",
        "campaign": "win-back",
        "channel": "chat",
        "attributes": {"plan": "pro"},
    }
    status, _ = await hub.call(
        "PUT", "/api/v1/automation/rules", manager, json=rules | {"campaign_triggers": [trigger]}
    )
    assert status == 200
    for name, plan in (("Pro", "pro"), ("Free", "free")):
        ack = await (
            await hub.chat(chat_message("hi", sender={"id": name, "name": name, "email": None}))
        ).json()
        fields = {"attributes": {"plan": plan}, "marketing_consent": True}
        await hub.call("PATCH", f"/api/v1/contacts/{ack['contact_id']}", manager, json=fields)
    await classified(hub, 2)
    for name in ("Pro", "Free"):
        await hub.chat(
            chat_message(
                "Please cancel my subscription at the end of the month", sender={"id": name, "name": name}
            )
        )
    done = await classified(hub, 4)
    actions = {
        m["sender"]["name"]: [a["do"] for a in m["nlp"]["actions"]]
        for m in done
        if m["nlp"]["intent"] == "cancellation"
    }
    assert set(actions) == {"Pro", "Free"}, [(m["text"], m["nlp"]["intent"]) for m in done]
    assert "campaign:win-back:enrolled" in actions["Pro"]
    assert not any(a.startswith("campaign:") for a in actions["Free"])
    enrolled = await hub.db.enrolments.find().to_list(10)
    assert len(enrolled) == 1


async def test_automation_retried_after_its_writes_leaves_each_effect_once(make_hub, monkeypatch):
    """The automation listener's batch fails after every step has written (before the events
    are acknowledged) and is handed over again: one ticket, one lead scored once, one
    assignment and one notification, each event once."""
    acknowledge, failures = ListenerLoop._acknowledge, []

    async def fails_once(loop, commits, session):
        if loop.listener.name == "automation" and not failures:
            failures.append("after the steps' writes")
            raise RuntimeError("killed before the acknowledgement")
        return await acknowledge(loop, commits, session)

    monkeypatch.setattr(ListenerLoop, "_acknowledge", fails_once)
    hub = await make_hub(nlp_worker=True)
    await hub.login("sales")
    await hub.chat(chat_message(RICH_SALES_INQUIRY, sender={"id": "lead-2", "name": "Jo Buyer"}))
    await hub.chat(chat_message(BILLING_COMPLAINT, sender={"id": "angry-1", "name": "Al Angry"}))
    await classified(hub, 2)
    await eventually(lambda: all_events_handled(hub.db), timeout=20)
    assert failures
    [lead] = await hub.db.leads.find().to_list(None)
    assert lead["score"] == sum(s["points"] for s in lead["signals"]) and len(lead["message_ids"]) == 1
    assert await hub.db.tickets.count_documents({}) == 1
    assert await hub.db.notifications.count_documents({"kind": "lead.assigned"}) == 1
    events = [e["type"] for c in await hub.db.events.find().to_list(None) for e in c["events"]]
    for kind in ("ticket.opened", "lead.created", "lead.qualified", "lead.assigned"):
        assert events.count(kind) == 1, kind
