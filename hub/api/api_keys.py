"""API keys for integrations (admins): made with scopes, shown once, listed, revoked."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.api_keys import shown
from crm_core.records import utcnow
from crm_core.vocabularies import ADMINS, ApiScope
from hub.api.route_table import RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()


class ApiKeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description='what uses it ("the shop\'s order sync")')
    scopes: list[ApiScope] = Field(min_length=1, max_length=len(ApiScope))
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="none: until revoked")


@routes.route("POST", "/api/v1/api-keys",
              summary="A key for an integration, with the scopes it may use; the `key` is shown this once "
              "(only its hash is kept). Use it as `Authorization: Bearer <key>`.",
              tag="integrations", roles=ADMINS, body=ApiKeyBody, ok_status=201)  # fmt: skip
async def create_api_key(call: Call) -> web.Response:
    body = call.body
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    audited = call.audited("api_key.create", "api_key")
    record, key = await call.services.api_keys.create(body.name, body.scopes, expires, audited)
    return json_ok(shown(record) | {"key": key}, status=201)


@routes.route("GET", "/api/v1/api-keys",
              summary="The API keys (never the keys themselves): scopes, last used, expiry, revoked.",
              tag="integrations", roles=ADMINS)  # fmt: skip
async def list_api_keys(call: Call) -> web.Response:
    return json_ok({"items": await call.services.api_keys.list()})


@routes.route("DELETE", "/api/v1/api-keys/{id}", summary="Revoke a key: it stops working at once.",
              tag="integrations", roles=ADMINS)  # fmt: skip
async def revoke_api_key(call: Call) -> web.Response:
    audited = call.audited("api_key.revoke", "api_key")
    return json_ok(shown(await call.services.api_keys.revoke(call.path("id"), audited)))
