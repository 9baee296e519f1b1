"""Marketing: campaigns and their results, automation rules, and the unsubscribe link."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from channels.base import SignatureError
from channels.email.unsubscribe import verify_unsubscribe
from crm_core.records import object_id
from crm_core.vocabularies import MANAGERS, SALES_TEAM, CampaignStatus
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok
from hub.channel_plugins import CHANNELS

routes = RouteTable()


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(json_schema_extra={"enum": list(CHANNELS)})  # checked by the domain
    template: str = Field(
        min_length=1, max_length=4000, description="{name}, {first_name}, {company}, {email}"
    )
    subject: str | None = Field(
        default=None, max_length=200, description="email steps; the campaign name if unset"
    )
    delay_minutes: int = Field(
        ge=0, le=525_600, description="after enrolment (first step) or the step before"
    )


class NewCampaign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="what automation rules name it by")
    name: str = Field(min_length=1, max_length=200)
    steps: list[Step] = Field(min_length=1, max_length=20)


class CampaignChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: CampaignStatus | None = None
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=20)


class Enrolment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str = Field(min_length=1, max_length=64)


class RulesBody(BaseModel):
    """Validated in full by the rule store; see GET for the shape and the defaults."""

    model_config = ConfigDict(extra="allow")


@routes.route("GET", "/api/v1/campaigns", summary="Campaigns with their results.", tag="marketing",
           roles=SALES_TEAM)  # fmt: skip
async def list_campaigns(call: Call) -> web.Response:
    campaigns = await call.services.campaigns.list()
    return json_ok({"items": [await _with_results(call, c) for c in campaigns]})


@routes.route("POST", "/api/v1/campaigns", summary="Create a campaign of timed steps.", tag="marketing",
           roles=MANAGERS, body=NewCampaign, ok_status=201)  # fmt: skip
async def create_campaign(call: Call) -> web.Response:
    audited = call.audited("campaign.create", "campaign")
    campaign = await call.services.campaigns.create(call.body.model_dump(), audited)
    return json_ok(campaign, status=201)


@routes.route("GET", "/api/v1/campaigns/{id}", summary="One campaign: results (enrolled, sent, failed, "
           "replied, opted out) and its latest enrolments.", tag="marketing", roles=SALES_TEAM)  # fmt: skip
async def get_campaign(call: Call) -> web.Response:
    campaign = await call.services.campaigns.get(call.path("id"))
    enrolments = await call.services.campaigns.enrolments(campaign["_id"])
    return json_ok({**await _with_results(call, campaign), "enrolments": enrolments})


@routes.route("PATCH", "/api/v1/campaigns/{id}", summary="Rename, pause/resume/archive, or change steps.",
           tag="marketing", roles=MANAGERS, body=CampaignChanges)  # fmt: skip
async def update_campaign(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    audited = call.audited("campaign.update", "campaign")
    campaign, _ = await call.services.campaigns.update(call.path("id"), changes, audited)
    if campaign["status"] == "active":
        call.services.campaign_scheduler.wake()
    return json_ok(campaign)


@routes.route("POST", "/api/v1/campaigns/{id}/enrolments", summary="Enrol a contact by hand (they must have "
           "consented to marketing).", tag="marketing", roles=SALES_TEAM, body=Enrolment,
           ok_status=201)  # fmt: skip
async def enrol_contact(call: Call) -> web.Response:
    campaign = await call.services.campaigns.get(call.path("id"))
    contact = await call.services.contacts.get(call.body.contact_id)
    enrolled = await call.services.campaigns.enrol(
        campaign["_id"], contact["_id"], source=f"staff:{call.actor['email']}"
    )
    if enrolled.enrolment is None:
        raise ApiError(409, enrolled.reason, f"not enrolled: {enrolled.reason.replace('_', ' ')}")
    call.services.campaign_scheduler.wake()
    return json_ok(enrolled.enrolment, status=201)


@routes.route("GET", "/api/v1/automation/rules", summary="What the hub does with each classified message "
           "(tickets, leads, labels, campaign triggers); the defaults until changed.", tag="automation",
           roles=MANAGERS)  # fmt: skip
async def get_rules(call: Call) -> web.Response:
    return json_ok((await call.services.rules.get()).model_dump())


@routes.route("PUT", "/api/v1/automation/rules", summary="Replace the rules (validated as a whole).",
           tag="automation", roles=MANAGERS, body=RulesBody)  # fmt: skip
async def put_rules(call: Call) -> web.Response:
    audited = call.audited("automation.rules", "rules")
    rules, _ = await call.services.rules.put(call.body.model_dump(), audited)
    return json_ok(rules.model_dump())


@routes.route("GET", "/unsubscribe", summary="The link in marketing email: records the opt-out.",
           tag="marketing", roles=None,
           query=(QueryParam("c", "contact id"), QueryParam("s", "signature")))  # fmt: skip
async def unsubscribe_page(call: Call) -> web.Response:
    return await _unsubscribe(call)


@routes.route("POST", "/unsubscribe", summary="One-click unsubscribe (RFC 8058), same parameters.",
           tag="marketing", roles=None,
           query=(QueryParam("c", "contact id"), QueryParam("s", "signature")))  # fmt: skip
async def unsubscribe_one_click(call: Call) -> web.Response:
    return await _unsubscribe(call)


async def _unsubscribe(call: Call) -> web.Response:
    key = call.services.settings.unsubscribe_key
    contact_id, signature = call.query("c") or "", call.query("s") or ""
    try:
        if key is None:
            raise SignatureError("unsubscribe links are not configured")
        verify_unsubscribe(key, contact_id, signature)
    except SignatureError as exc:
        raise ApiError(403, "bad_link", "this unsubscribe link is not valid") from exc
    await call.services.campaigns.opt_out(object_id(contact_id, "contact"), source="email unsubscribe link")
    page = "<!doctype html><title>Unsubscribed</title><p>You will get no more marketing messages from us.</p>"
    return web.Response(text=page, content_type="text/html")


async def _with_results(call: Call, campaign: dict[str, Any]) -> dict[str, Any]:
    return {**campaign, "results": await call.services.campaigns.results(campaign["_id"])}
