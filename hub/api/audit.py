"""The audit trail of one record."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from crm_core.records import object_id
from hub.api.errors import ApiError
from hub.api.routing import Call, QueryParam, api, json_ok

TargetType = Literal["conversation", "contact", "user"]


@api.route("GET", "/api/v1/audit", summary="Who changed a record, newest first.", tag="audit",
           roles=("admin", "manager"),
           query=(QueryParam("target_type", "conversation, contact or user"),
                  QueryParam("target_id", "the record's id")))  # fmt: skip
async def audit_trail(call: Call) -> web.Response:
    target_type, target_id = call.query("target_type"), call.query("target_id")
    if target_type not in TargetType.__args__ or not target_id:
        raise ApiError(
            400, "bad_query", "target_type (conversation, contact or user) and target_id are required"
        )
    items = await call.services.audit.for_target(target_type, object_id(target_id, target_type))
    return json_ok({"items": items})
