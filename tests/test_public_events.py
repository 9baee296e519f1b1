"""The domain events' public, versioned form: each type has a schema in the OpenAPI document
(under `webhooks`, the body outbound webhooks will send), real events match it, an event
missing a fact its class requires is refused, and the vocabularies are named schemas."""

from __future__ import annotations

import jsonschema_rs
import pytest
from pydantic import ValidationError

from crm_core.domain_events import EventLog
from crm_core.event_types import EVENT_TYPES, public_event
from crm_core.live import LiveEvent
from crm_core.vocabularies import (
    ADMINS,
    CONVERSATION_STATUSES,
    DEAL_STAGES,
    INBOX_WORKERS,
    MANAGERS,
    PRIORITIES,
    ROLES,
    SALES_TEAM,
    TICKET_STATUSES,
)
from nlp.labels import INTENTS
from tests.conftest import all_events_handled, chat_message, eventually


def matches(document: dict, schema_name: str, instance: dict) -> None:
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    jsonschema_rs.Draft202012Validator(root).validate(instance)


async def test_every_event_type_is_published_with_a_versioned_schema(hub):
    status, document = await hub.call("GET", "/api/openapi.json")
    assert status == 200 and list(document["webhooks"]) == list(EVENT_TYPES)
    for kind, webhook in document["webhooks"].items():
        ref = webhook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert schema["properties"]["type"]["const"] == kind
        assert schema["properties"]["version"]["const"] >= 1
        assert set(schema["required"]) >= {"id", "type", "version", "occurred_at", "data"}


async def test_real_events_in_their_public_form_match_their_schemas(hub):
    _, document = await hub.call("GET", "/api/openapi.json")
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message("My parcel never arrived"))).json()
    path = f"/api/v1/conversations/{ack['conversation_id']}"
    assert (await hub.call("POST", f"{path}/messages", agent, json={"text": "Checking now"}))[0] == 201
    assert (await hub.call("PATCH", path, agent, json={"status": "resolved"}))[0] == 200
    await eventually(lambda: all_events_handled(hub.db))
    commits = await hub.db.events.find().to_list(None)
    events = [event for commit in commits for event in commit["events"]]
    seen = {event["type"] for event in events}
    assert {"message.received", "conversation.opened", "message.sent", "conversation.status_changed"} <= seen
    for event in events:
        public = public_event(event)
        matches(document, document["webhooks"][event["type"]]["post"]["requestBody"]["content"]
                ["application/json"]["schema"]["$ref"].rsplit("/", 1)[1], public)  # fmt: skip
        assert all(not isinstance(v, dict) or "$oid" not in v for v in public["data"].values())
    received = public_event(next(e for e in events if e["type"] == "message.received"))
    assert received["data"]["message_id"] == ack["id"] and received["data"]["channel"] == "chat"
    assert received["version"] == 1 and received["id"] and received["occurred_at"].endswith("Z")
    assert "at" not in received["data"] and "_id" not in received["data"]  # nothing internal


def test_an_event_missing_a_fact_its_class_requires_is_refused():
    log = EventLog.__new__(EventLog)  # `new` needs no database
    with pytest.raises(ValidationError):
        log.new("ticket.opened", channel="chat")


async def test_the_vocabularies_are_named_schemas(hub):
    _, document = await hub.call("GET", "/api/openapi.json")
    schemas = document["components"]["schemas"]
    for name, values in {
        "Role": ROLES,
        "InboxWorkerRole": INBOX_WORKERS,
        "SalesTeamRole": SALES_TEAM,
        "ManagerRole": MANAGERS,
        "AdminRole": ADMINS,
        "ConversationStatus": CONVERSATION_STATUSES,
        "Priority": PRIORITIES,
        "TicketStatus": TICKET_STATUSES,
        "DealStage": DEAL_STAGES,
        "Intent": INTENTS,
        "LiveEvent": tuple(LiveEvent),
        "DomainEventType": EVENT_TYPES,
    }.items():
        assert schemas[name]["enum"] == list(values), name
