"""Segments: saved dynamic filters over contacts, with a live count and a preview of members."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.segments import fields_described
from crm_core.vocabularies import SALES_TEAM
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()
FILTER_HELP = (
    'a group, {"all": [...]} (AND) or {"any": [...]} (OR), of conditions {"field", "op", "value"} and '
    "nested groups (3 deep at most); GET /api/v1/segments/fields lists the fields and their ops"
)


class FilterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: dict[str, Any] = Field(description=FILTER_HELP)


class SegmentBody(FilterBody):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)


class SegmentChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    filter: dict[str, Any] | None = Field(default=None, description=FILTER_HELP)


@routes.route("GET", "/api/v1/segments/fields", summary="What a segment may filter on, and the ops of each.",
              tag="customers", roles=SALES_TEAM)  # fmt: skip
async def segment_fields(call: Call) -> web.Response:
    return json_ok({"items": fields_described(), "attribute": "attributes.<key> (text ops)"})


@routes.route("POST", "/api/v1/segments/preview",
              summary="How many contacts a filter holds now, and the first ten (the builder's live count); "
              "a field that does not exist, a wrong op or value is a 422.",
              tag="customers", roles=SALES_TEAM, body=FilterBody)  # fmt: skip
async def preview_segment(call: Call) -> web.Response:
    return json_ok(await call.services.segments.preview(call.body.filter))


@routes.route("POST", "/api/v1/segments", summary="Save a segment: a name and its filter.",
              tag="customers", roles=SALES_TEAM, body=SegmentBody, ok_status=201)  # fmt: skip
async def create_segment(call: Call) -> web.Response:
    body: SegmentBody = call.body
    audited = call.audited("segment.create", "segment")
    return json_ok(
        await call.services.segments.create(body.name, body.description, body.filter, audited), 201
    )


@routes.route("GET", "/api/v1/segments", summary="The saved segments, by name.", tag="customers",
              roles=SALES_TEAM)  # fmt: skip
async def list_segments(call: Call) -> web.Response:
    return json_ok({"items": await call.services.segments.list()})


@routes.route("GET", "/api/v1/segments/{id}", summary="One segment, with how many contacts it holds now.",
              tag="customers", roles=SALES_TEAM)  # fmt: skip
async def get_segment(call: Call) -> web.Response:
    segment = await call.services.segments.get(call.path("id"))
    counted = await call.services.segments.preview(segment["filter"], limit=0)
    return json_ok(segment | {"count": counted["count"]})


@routes.route("GET", "/api/v1/segments/{id}/contacts",
              summary="The segment's contacts now, newest change first.", tag="customers", roles=SALES_TEAM,
              query=(QueryParam("limit", "1-100, default 25", "integer"),))  # fmt: skip
async def segment_contacts(call: Call) -> web.Response:
    return json_ok({"items": await call.services.segments.members(call.path("id"), call.limit())})


@routes.route("PATCH", "/api/v1/segments/{id}", summary="Rename a segment, or change its filter.",
              tag="customers", roles=SALES_TEAM, body=SegmentChanges)  # fmt: skip
async def update_segment(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    audited = call.audited("segment.update", "segment")
    return json_ok(await call.services.segments.update(call.path("id"), changes, audited))


@routes.route("DELETE", "/api/v1/segments/{id}", summary="Delete a segment.", tag="customers",
              roles=SALES_TEAM, ok_status=204)  # fmt: skip
async def delete_segment(call: Call) -> web.Response:
    await call.services.segments.delete(call.path("id"), call.audited("segment.delete", "segment"))
    return web.Response(status=204)
