"""The audit trail of one record."""

from __future__ import annotations

from aiohttp import web

from crm_core.audit import AUDITED, stored_target_id
from crm_core.automation.rules import RULES_ID
from crm_core.vocabularies import MANAGERS
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()


@routes.route("GET", "/api/v1/audit", summary="Who changed a record, newest first.", tag="audit",
           roles=MANAGERS,
           query=(QueryParam("target_type", ", ".join(AUDITED)),
                  QueryParam("target_id", f"the record's id ({RULES_ID}: the rules)")))  # fmt: skip
async def audit_trail(call: Call) -> web.Response:
    target_type, target_id = call.query("target_type"), call.query("target_id")
    if target_type not in AUDITED or not target_id:
        raise ApiError(400, "bad_query", f"target_type ({', '.join(AUDITED)}) and target_id are required")
    items = await call.services.audit.for_target(target_type, stored_target_id(target_type, target_id))
    return json_ok({"items": items})
