"""Sales: qualified leads handed to reps, converted into deals worked along a pipeline."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.money import MAX_AMOUNT
from crm_core.sales import DealFilter, LeadFilter
from crm_core.vocabularies import SALES_TEAM, DealStage, LeadStatus
from hub.api.cursors import decode_cursor
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok, page

routes = RouteTable()

PAGING = (
    QueryParam("limit", "1-100, default 25", "integer"),
    QueryParam("cursor", "`next_cursor` from the previous page"),
)


class LeadChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: LeadStatus | None = Field(default=None, description="converted only by converting the lead")
    owner_id: str | None = None


class DealChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: DealStage | None = None
    value: float | None = Field(default=None, ge=0, le=float(MAX_AMOUNT), allow_inf_nan=False,
                                description="at most two decimal places")  # fmt: skip
    currency: str | None = Field(default=None, pattern="^[A-Za-z]{3}$", description="ISO 4217, such as CNY")
    owner_id: str | None = None


@routes.route("GET", "/api/v1/leads", summary="Leads, newest first, each with its score and the signals "
           "that earned it, its contact (name, company, addresses) and the channel it came from.",
           tag="sales", roles=SALES_TEAM,
           query=(QueryParam("status", "new, qualified, converted, lost; several separated by commas"),
                  QueryParam("owner", "a user id, `me` or `none`"),
                  QueryParam("min_score", "0-100", "integer"), *PAGING))  # fmt: skip
async def list_leads(call: Call) -> web.Response:
    where = LeadFilter(
        status=call.query("status"), owner=call.query("owner"), min_score=call.number("min_score", 100)
    )
    limit, cursor = call.limit(), decode_cursor(call.query("cursor"))
    items = await call.services.lead_pages.page(where, call.actor, limit=limit, cursor=cursor)
    return page(items, limit, "created_at")


@routes.route("GET", "/api/v1/leads/{id}", summary="One lead.", tag="sales", roles=SALES_TEAM)  # fmt: skip
async def get_lead(call: Call) -> web.Response:
    return json_ok(await call.services.leads.get(call.path("id")))


@routes.route("PATCH", "/api/v1/leads/{id}", summary="Change status or owner.", tag="sales", roles=SALES_TEAM,
           body=LeadChanges)  # fmt: skip
async def update_lead(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    lead, _ = await call.services.leads.update(call.path("id"), changes, call.audited("lead.update", "lead"))
    return json_ok(lead)


@routes.route("POST", "/api/v1/leads/{id}/convert", summary="Make a deal in the default pipeline from the "
           "lead (once; again is a 409).", tag="sales", roles=SALES_TEAM, ok_status=201)  # fmt: skip
async def convert_lead(call: Call) -> web.Response:
    audited = call.audited("lead.convert", "lead")
    deal = await call.services.leads.convert(call.path("id"), call.actor, audited)
    return json_ok(deal, status=201)


@routes.route("GET", "/api/v1/deals", summary="Deals, newest first.", tag="sales", roles=SALES_TEAM,
           query=(QueryParam("stage", "new, qualified, proposal, won, lost; several separated by commas"),
                  QueryParam("owner", "a user id, `me` or `none`"), *PAGING))  # fmt: skip
async def list_deals(call: Call) -> web.Response:
    where = DealFilter(stage=call.query("stage"), owner=call.query("owner"))
    return await call.listed(call.services.deals.list, where, "created_at")


@routes.route("GET", "/api/v1/deals/{id}", summary="One deal.", tag="sales", roles=SALES_TEAM)  # fmt: skip
async def get_deal(call: Call) -> web.Response:
    return json_ok(await call.services.deals.get(call.path("id")))


@routes.route("PATCH", "/api/v1/deals/{id}", summary="Move along the pipeline, set value or owner.",
           tag="sales", roles=SALES_TEAM, body=DealChanges)  # fmt: skip
async def update_deal(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    audited = call.audited("deal.update", "deal")
    deal, _ = await call.services.deals.update(call.path("id"), changes, call.actor, audited)
    return json_ok(deal)
