"""A staff user's own notifications: what was handed to them, what breached, where they were
mentioned."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.records import id_or_key
from crm_core.vocabularies import ALL_STAFF
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()


class ReadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=500, description="these; all when left out"
    )


@routes.route("GET", "/api/v1/notifications", summary="Your notifications, newest first, and how many "
              "of them are unread.", tag="notifications", roles=ALL_STAFF,
              query=(QueryParam("limit", "1-100, default 50", "integer"),))  # fmt: skip
async def list_notifications(call: Call) -> web.Response:
    items, unread = await call.services.notifications.recent(call.actor["_id"], call.limit(default=50))
    return json_ok({"items": items, "unread": unread})


@routes.route("POST", "/api/v1/notifications/read", summary="Mark your notifications read (those in `ids`, "
              "else all); answers how many are still unread.", tag="notifications", roles=ALL_STAFF,
              body=ReadBody)  # fmt: skip
async def read_notifications(call: Call) -> web.Response:
    ids = None if call.body.ids is None else [id_or_key(given) for given in call.body.ids]
    unread = await call.services.notifications.mark_read(call.actor["_id"], ids)
    return json_ok({"unread": unread})
