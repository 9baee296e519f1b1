"""Builds the OpenAPI 3.1 document from the route registry, so it cannot drift from the app."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from crm_core.event_types import EVENT_TYPES, PUBLIC_EVENTS
from crm_core.jobs import JobStatus
from crm_core.live import LiveEvent
from crm_core.vocabularies import (
    ADMINS,
    ALL_STAFF,
    INBOX_WORKERS,
    MANAGERS,
    SALES_TEAM,
    CampaignStatus,
    ConversationStatus,
    DealStage,
    LeadStatus,
    Priority,
    Role,
    SlaTarget,
    TicketStatus,
)
from hub.channel_plugins import CHANNELS
from nlp.labels import INTENTS

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}


def openapi_document(routes: Iterable[Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR} | _vocabularies()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Omnichannel hub",
            "version": "1",
            "description": "Staff API, channel webhooks and operations endpoints. "
            'Errors are `{"error": {"code", "message"}}`.',
        },
        "paths": paths,
        "webhooks": _events(schemas),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{route.handler.__name__}",
        "responses": {
            str(route.ok_status): {"description": "Success"},
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            },
        },
    }
    if route.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = "Roles: " + ", ".join(route.roles)
        if route.scope is not None:
            operation["description"] += f". API keys with the scope `{route.scope}`"
            operation["x-api-key-scope"] = route.scope
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": {"type": p.type},
        }
        for p in route.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        schema = route.body.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[route.body.__name__] = schema
        media_type = route.raw_body or "application/json"
        operation["requestBody"] = {
            "required": True,
            "content": {media_type: {"schema": {"$ref": _REF.format(model=route.body.__name__)}}},
        }
    elif route.raw_body is not None:
        operation["requestBody"] = {"required": True, "content": {route.raw_body: {"schema": {}}}}
    return operation


def _vocabularies() -> dict[str, Any]:
    """Each vocabulary as a named schema (the console's types and option lists come from these)."""
    enums: dict[str, Iterable[str]] = {
        "Role": Role,
        # The role groups the routes allow (each route's own roles are in its description).
        "AllStaffRole": ALL_STAFF,
        "InboxWorkerRole": INBOX_WORKERS,
        "SalesTeamRole": SALES_TEAM,
        "ManagerRole": MANAGERS,
        "AdminRole": ADMINS,
        "ConversationStatus": ConversationStatus,
        "Priority": Priority,
        "TicketStatus": TicketStatus,
        "SlaTarget": SlaTarget,
        "LeadStatus": LeadStatus,
        "DealStage": DealStage,
        "CampaignStatus": CampaignStatus,
        "JobStatus": JobStatus,
        "LiveEvent": LiveEvent,
        "Intent": INTENTS,
        "Channel": CHANNELS,
        "DomainEventType": EVENT_TYPES,
    }
    schemas = {
        name: {"type": "string", "enum": [str(value) for value in values]} for name, values in enums.items()
    }
    schemas["StreamEvent"] = {
        "type": "object",
        "description": "One event of the staff stream (GET /api/v1/stream).",
        "properties": {"type": {"$ref": _REF.format(model="LiveEvent")}, "data": {"type": "object"}},
        "required": ["type", "data"],
    }
    return schemas


def _events(schemas: dict[str, Any]) -> dict[str, Any]:
    """The domain events as the hub publishes them (`crm_core.event_types`): each type's
    versioned envelope, the body outbound webhooks sign and send."""
    webhooks = {}
    for kind, envelope in PUBLIC_EVENTS.items():
        schema = envelope.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[envelope.__name__] = schema
        ref = _REF.format(model=envelope.__name__)
        webhooks[kind] = {
            "post": {
                "summary": schema.get("description", kind),
                "operationId": f"event_{kind.replace('.', '_')}",
                "tags": ["events"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": ref}}},
                },
                "responses": {"2XX": {"description": "Received"}},
            }
        }
    return webhooks
