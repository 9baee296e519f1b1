"""Outbound webhooks for admins: endpoints (URL, the event types wanted), their secrets (shown
once, rotated), their delivery log, and sending a delivery again."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.event_types import EVENT_TYPES
from crm_core.vocabularies import ADMINS
from crm_core.webhooks import shown
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, json_ok
from hub.outbound_addresses import RefusedAddress

routes = RouteTable()
EventTypeName = Annotated[str, Field(max_length=64, description=", ".join(EVENT_TYPES))]


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=1, max_length=2048, description="https (http only to an allow-listed address)"
    )
    events: list[EventTypeName] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)


class EndpointChangesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventTypeName] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = Field(default=None, description="true turns a disabled endpoint on again")


async def _checked_url(call: Call, url: str) -> str:
    """A URL the hub may post to: http(s), and resolving to public addresses only (or to the
    allow-listed ones); checked again at each delivery."""
    try:
        await call.services.outbound_addresses.check(url)
    except RefusedAddress as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    return url


@routes.route("POST", "/api/v1/webhooks",
              summary="Register a webhook endpoint: its URL (https; refused when it resolves to a loopback, "
              "private, link-local or metadata address outside HUB_WEBHOOK_ALLOWED_NETWORKS) and the event "
              "types it wants. Answers the endpoint with its `secret` (whsec_...), shown this once.",
              tag="integrations", roles=ADMINS, body=EndpointBody, ok_status=201)  # fmt: skip
async def create_endpoint(call: Call) -> web.Response:
    body = call.body
    url = await _checked_url(call, body.url)
    audited = call.audited("webhook.create", "webhook")
    endpoint = await call.services.webhooks.create(url, body.events, body.description, audited)
    return json_ok(shown(endpoint) | {"secret": endpoint["secret"]}, status=201)


@routes.route("GET", "/api/v1/webhooks", summary="The webhook endpoints (without their secrets).",
              tag="integrations", roles=ADMINS)  # fmt: skip
async def list_endpoints(call: Call) -> web.Response:
    return json_ok({"items": [shown(endpoint) for endpoint in await call.services.webhooks.list()]})


@routes.route("GET", "/api/v1/webhooks/{id}", summary="One webhook endpoint (without its secret).",
              tag="integrations", roles=ADMINS)  # fmt: skip
async def get_endpoint(call: Call) -> web.Response:
    return json_ok(shown(await call.services.webhooks.get(call.path("id"))))


@routes.route("PATCH", "/api/v1/webhooks/{id}",
              summary="Change an endpoint's URL, event types, description, or turn it on or off.",
              tag="integrations", roles=ADMINS, body=EndpointChangesBody)  # fmt: skip
async def update_endpoint(call: Call) -> web.Response:
    changes = call.body.model_dump(exclude_unset=True)
    if "url" in changes:
        changes["url"] = await _checked_url(call, changes["url"])
    audited = call.audited("webhook.update", "webhook")
    return json_ok(shown(await call.services.webhooks.update(call.path("id"), changes, audited)))


@routes.route("DELETE", "/api/v1/webhooks/{id}",
              summary="Remove an endpoint (its queued deliveries are dropped).",
              tag="integrations", roles=ADMINS, ok_status=204)  # fmt: skip
async def delete_endpoint(call: Call) -> web.Response:
    await call.services.webhooks.delete(call.path("id"), call.audited("webhook.delete", "webhook"))
    return web.Response(status=204)


@routes.route("POST", "/api/v1/webhooks/{id}/rotate-secret",
              summary="A new secret, shown this once; deliveries are signed with the old one too for a day, "
              "so receivers can switch without losing any.", tag="integrations", roles=ADMINS)  # fmt: skip
async def rotate_secret(call: Call) -> web.Response:
    audited = call.audited("webhook.rotate", "webhook")
    endpoint, secret = await call.services.webhooks.rotate(call.path("id"), audited)
    return json_ok(shown(endpoint) | {"secret": secret})


@routes.route("GET", "/api/v1/webhooks/{id}/deliveries",
              summary="The endpoint's delivery log, newest first: event, attempt, HTTP status, time taken, "
              "the receiver's answer (its first KB) or the error.",
              tag="integrations", roles=ADMINS,
              query=(QueryParam("limit", "1-100, default 25", "integer"),))  # fmt: skip
async def list_deliveries(call: Call) -> web.Response:
    items = await call.services.webhooks.deliveries(call.path("id"), call.limit())
    return json_ok({"items": items})


@routes.route("POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/send-again",
              summary="Send a logged delivery's event to the endpoint again (the same webhook-id).",
              tag="integrations", roles=ADMINS, ok_status=202)  # fmt: skip
async def send_again(call: Call) -> web.Response:
    job = await call.services.webhooks.send_again(call.path("id"), call.path("delivery_id"))
    call.services.webhook_worker.wake()
    return json_ok({"job_id": job["_id"]}, status=202)
