"""Support tickets: the work queue agents and managers answer to, with SLA due times."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from crm_core.tickets import TicketFilter
from crm_core.vocabularies import INBOX_WORKERS, ApiScope, Priority, TicketStatus
from hub.api.cursors import decode_cursor
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok, page

routes = RouteTable()


class TicketChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: str | None = None


@routes.route("GET", "/api/v1/tickets",
           summary="Tickets, newest first, each with its customer (`contact`: name, company, addresses).",
           scope=ApiScope.TICKETS_READ, tag="service", roles=INBOX_WORKERS,
           query=(QueryParam("status", "open, pending, resolved, closed; several separated by commas"),
                  QueryParam("priority", "low, medium, high or urgent"),
                  QueryParam("assignee", "a user id, `me` or `none`"),
                  QueryParam("breached", "true: open and past an SLA due time", "boolean"),
                  QueryParam("limit", "1-100, default 25", "integer"),
                  QueryParam("cursor", "`next_cursor` from the previous page")))  # fmt: skip
async def list_tickets(call: Call) -> web.Response:
    where = TicketFilter(
        status=call.query("status"),
        priority=call.query("priority"),
        assignee=call.query("assignee"),
        breached=call.flag("breached"),
    )
    limit, cursor = call.limit(), decode_cursor(call.query("cursor"))
    items = await call.services.ticket_pages.page(where, call.actor, limit=limit, cursor=cursor)
    return page(items, limit, "created_at")


@routes.route("GET", "/api/v1/tickets/{id}", summary="One ticket.",
           scope=ApiScope.TICKETS_READ, tag="service",
           roles=INBOX_WORKERS)  # fmt: skip
async def get_ticket(call: Call) -> web.Response:
    return json_ok(await call.services.tickets.get(call.path("id")))


@routes.route("PATCH", "/api/v1/tickets/{id}", summary="Change status, priority or assignee.", tag="service",
           roles=INBOX_WORKERS, body=TicketChanges)  # fmt: skip
async def update_ticket(call: Call) -> web.Response:
    changes, audited = call.body.model_dump(exclude_unset=True), call.audited("ticket.update", "ticket")
    ticket, _ = await call.services.tickets.update(call.path("id"), changes, call.actor, audited)
    return json_ok(ticket)
