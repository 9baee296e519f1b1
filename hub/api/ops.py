"""Health, readiness (with each channel's), metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pymongo.errors import PyMongoError

from crm_core.vocabularies import ALL_STAFF
from hub.api.errors import error_response
from hub.api.openapi import openapi_document
from hub.api.route_table import RouteTable
from hub.api.routing import ROUTES, Call, json_ok
from hub.channel_plugins import CHANNELS
from hub.metrics import CONTENT_TYPE

routes = RouteTable()

READY_TIMEOUT = 2.0


@routes.route("GET", "/healthz", summary="The process is up.", tag="operations", roles=None)
async def healthz(call: Call) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.route(
    "GET",
    "/readyz",
    summary="The hub can serve: its database answers (503 otherwise). Also each channel's health in "
    "this process: off (not configured), ok, or down with the problem (a channel that is down does not "
    "make the hub unready: the others serve on).",
    tag="operations",
    roles=None,
)
async def readyz(call: Call) -> web.Response:
    try:
        await asyncio.wait_for(call.services.db.command("ping"), READY_TIMEOUT)
    except (PyMongoError, TimeoutError):
        return error_response(503, "database_unavailable", "the database does not answer")
    return json_ok({"status": "ready", "realtime": _realtime_mode(call), "channels": channel_health(call)})


@routes.route(
    "GET",
    "/api/v1/channels",
    summary="The channels the hub speaks, in order, each with its health here (as in /readyz).",
    tag="operations",
    roles=ALL_STAFF,
)
async def channels(call: Call) -> web.Response:
    return json_ok({"items": [{"name": name} | health for name, health in channel_health(call).items()]})


def channel_health(call: Call) -> dict[str, dict[str, Any]]:
    running = call.services.channels
    return {name: running[name].health() if name in running else {"status": "off"} for name in CHANNELS}


def _realtime_mode(call: Call) -> str:
    return "change_streams" if call.services.realtime.uses_change_streams else "in_process"


@routes.route("GET", "/metrics", summary="Prometheus metrics (text format).", tag="operations", roles=None)
async def metrics(call: Call) -> web.Response:
    response = web.Response(body=call.services.metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


@routes.route(
    "GET", "/api/openapi.json", summary="This API's OpenAPI 3.1 document.", tag="operations", roles=None
)
async def openapi(call: Call) -> web.Response:
    return web.json_response(openapi_document(call.request.app[ROUTES].routes))
