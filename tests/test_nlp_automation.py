"""Automation that fails safe, and agents correcting the model, end to end through the chat
webhook with the real model: no customer is resolved away as spam, low confidence still opens
a ticket, and a correction re-routes the message, is audited and teaches the next training."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.conftest import chat_message, unsure_analysis
from tests.test_automation import classified
from tests.test_nlp import needs_model

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), needs_model]

SPAM = "Congratulations!!! You won a FREE iPhone, click here to claim it"
SWEARING_REFUND = "where the hell is my refund?? you took $80 twice, sort this shit out"
CHINESE_COMPLAINT = "你们的快递把我的东西弄丢了，客服也不理人，太差劲了，我要投诉"


async def conversation(hub, ack: dict) -> dict:
    return await hub.services.conversations.get(ack["conversation_id"])


async def test_refund_request_with_swearing_opens_a_billing_ticket_and_stays_open(make_hub):
    hub = await make_hub(nlp_worker=True)
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message(SWEARING_REFUND))).json()
    [message] = await classified(hub, 1)
    assert message["nlp"]["intent"] == "billing"
    assert (await conversation(hub, ack))["status"] == "open"
    _, tickets = await hub.call("GET", "/api/v1/tickets", agent)
    [ticket] = tickets["items"]
    assert ticket["intent"] == "billing" and ticket["classification"]["low_confidence"] is False
    [action] = [a for a in message["nlp"]["actions"] if a["do"].startswith("ticket:")]
    assert action["rule"] == "tickets.intents" and action["intent"] == "billing"
    assert action["model"] == message["nlp"]["model"] and action["confidence"] == message["nlp"]["confidence"]


async def test_a_dead_workers_messages_are_classified_and_a_live_ones_are_left_to_it(make_hub):
    quiet = await make_hub()  # no worker: the messages stay pending
    acks = [await (await quiet.chat(chat_message(SWEARING_REFUND))).json() for _ in range(3)]
    expired, live, _pending = (ObjectId(ack["id"]) for ack in acks)
    now = datetime.now(UTC)
    for message_id, lease_until in ((expired, now - timedelta(minutes=1)), (live, now + timedelta(hours=1))):
        working = {"status": "working", "lease": ObjectId(), "lease_until": lease_until}
        await quiet.db.messages.update_one({"_id": message_id}, {"$set": {"nlp": working}})

    hub = await make_hub(nlp_worker=True)
    done = await classified(hub, 2)
    assert {m["_id"] for m in done} == {expired, ObjectId(acks[2]["id"])}
    assert (await hub.db.messages.find_one({"_id": live}))["nlp"]["status"] == "working"


async def test_obvious_spam_from_a_stranger_is_resolved(make_hub):
    hub = await make_hub(nlp_worker=True)
    ack = await (await hub.chat(chat_message(SPAM, sender={"id": "stranger"}))).json()
    [message] = await classified(hub, 1)
    assert message["nlp"]["intent"] == "spam" and message["nlp"]["confident"] is True
    found = await conversation(hub, ack)
    assert found["status"] == "resolved" and "spam" in found["labels"]
    assert [a["do"] for a in message["nlp"]["actions"]] == ["label:spam", "resolved"]


async def test_the_same_spam_from_a_customer_with_a_ticket_is_only_labelled(make_hub):
    hub = await make_hub(nlp_worker=True)
    customer = {"id": "regular"}
    await hub.chat(chat_message("The export button gives an error, help please", sender=customer))
    await classified(hub, 1)
    assert await hub.db.tickets.count_documents({}) == 1
    ack = await (await hub.chat(chat_message(SPAM, sender=customer))).json()
    *_, message = await classified(hub, 2)
    assert message["nlp"]["intent"] == "spam"
    found = await conversation(hub, ack)
    assert found["status"] == "open"
    assert "possible-spam" in found["labels"] and "spam" not in found["labels"]


async def test_a_chinese_complaint_opens_a_high_priority_ticket(make_hub):
    hub = await make_hub(nlp_worker=True)
    await hub.chat(chat_message(CHINESE_COMPLAINT, sender={"id": "wang", "name": "王先生"}))
    [message] = await classified(hub, 1)
    assert (message["nlp"]["intent"], message["nlp"]["language"]) == ("complaint", "zh")
    assert message["nlp"]["model"] == "zh-char-ngrams+logreg"
    ticket = await hub.db.tickets.find_one({})
    assert ticket["priority"] in ("high", "urgent") and ticket["intent"] == "complaint"


async def test_unsure_verdicts_open_tickets_and_never_resolve(make_hub):
    """Straight to automation with a made-up unsure analysis: what the model says is not up to us."""
    hub = await make_hub()
    rules = await hub.services.rules.get()
    support = await (await hub.chat(chat_message("hmm the thing", sender={"id": "a"}))).json()
    message = await hub.db.messages.find_one({"_id": ObjectId(support["id"])})
    await hub.services.automation.act(message, unsure_analysis("support_request", 0.31), rules)
    ticket = await hub.db.tickets.find_one({})
    assert ticket["classification"] == {"confidence": 0.31, "model": "test-model", "low_confidence": True}

    spam = await (await hub.chat(chat_message("win win win", sender={"id": "b"}))).json()
    message = await hub.db.messages.find_one({"_id": ObjectId(spam["id"])})
    actions = await hub.services.automation.act(message, unsure_analysis("spam", 0.31), rules)
    assert [a["do"] for a in actions] == ["label:possible-spam"]
    found = await conversation(hub, spam)
    assert found["status"] == "open" and found["labels"] == ["possible-spam"]


async def test_an_agent_corrects_spam_to_billing_and_the_next_training_uses_it(make_hub, tmp_path):
    hub = await make_hub(nlp_worker=True)
    agent, manager = await hub.login("agent"), await hub.login("manager")
    ack = await (await hub.chat(chat_message(SPAM, sender={"id": "misjudged"}))).json()
    [message] = await classified(hub, 1)
    assert (await conversation(hub, ack))["status"] == "resolved"

    status, review = await hub.call(
        "PUT", f"/api/v1/messages/{message['_id']}/intent", agent, json={"intent": "billing"}
    )
    assert status == 200, review
    assert (review["model_intent"], review["intent"], review["agreed"]) == ("spam", "billing", False)
    found = await conversation(hub, ack)
    assert found["status"] == "open" and not {"spam", "possible-spam"} & set(found["labels"])
    [ticket] = await hub.db.tickets.find({}).to_list(None)
    assert ticket["intent"] == "billing" and ticket["classification"]["model"] == "agent"
    stored = await hub.db.messages.find_one({"_id": message["_id"]})
    [agent_ticket] = [a for a in stored["nlp"]["actions"] if a["do"].startswith("ticket:")]
    assert agent_ticket == {"do": f"ticket:{ticket['priority']}", "rule": "tickets.intents",
                            "intent": "billing", "confidence": 1.0, "model": "agent"}  # fmt: skip
    status, audit = await hub.call(
        "GET", f"/api/v1/audit?target_type=conversation&target_id={ack['conversation_id']}", manager
    )
    [entry] = [e for e in audit["items"] if e["action"] == "message.intent"]
    assert entry["changes"]["intent"] == {"from": "spam", "to": "billing"}

    # Agreement counts too: live accuracy in the reports and /metrics.
    second = await (await hub.chat(chat_message(SWEARING_REFUND, sender={"id": "angry"}))).json()
    *_, refund = await classified(hub, 2)
    status, agreed = await hub.call(
        "PUT",
        f"/api/v1/messages/{second['id']}/intent",
        agent,
        json={"intent": refund["nlp"]["intent"]},
    )
    assert status == 200 and agreed["agreed"] is True and agreed["actions"] == []
    status, summary = await hub.call("GET", "/api/v1/reports/summary", manager)
    assert summary["figures"]["intents_reviewed"] == 2 and summary["figures"]["intent_live_accuracy"] == 0.5
    status, metrics = await hub.call("GET", "/metrics", manager)
    assert 'hub_nlp_reviews_total{verdict="corrected"} 1.0' in metrics
    assert 'hub_nlp_reviews_total{verdict="agreed"} 1.0' in metrics

    status, corrections = await hub.call("GET", "/api/v1/nlp/corrections", manager)
    assert [(c["text"], c["intent"]) for c in corrections["items"]] == [(SPAM, "billing")]
    assert (await hub.call("GET", "/api/v1/nlp/corrections", agent))[0] == 403

    settings = hub.services.settings
    env = {**os.environ, "HUB_MONGO_URI": settings.mongo_uri, "HUB_MONGO_DB": settings.mongo_db,
           "HUB_NLP_CACHE_DIR": str(tmp_path)}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nlp", "train", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, err.decode()[-2000:]
    report = out.decode()
    assert "1 corrections found; 1 used" in report and "the corrected messages" in report
    assert list(tmp_path.glob("intent-models-*.pickle"))


async def test_reviews_are_checked(make_hub):
    hub = await make_hub()
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message("not classified yet"))).json()
    path = f"/api/v1/messages/{ack['id']}/intent"
    assert (await hub.call("PUT", path, agent, json={"intent": "billing"}))[0] == 409
    status, body = await hub.call("PUT", path, agent, json={"intent": "refunds"})
    assert status == 422 and "unknown" in body["error"]["message"]
    assert (await hub.call("PUT", path, json={"intent": "billing"}))[0] == 401
    assert (await hub.call("PUT", "/api/v1/messages/nope/intent", agent, json={"intent": "billing"}))[
        0
    ] == 404
