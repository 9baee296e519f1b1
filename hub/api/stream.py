"""The realtime stream: a websocket pushing conversation and message events to staff."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from hub.api.routing import ALL_STAFF, Call, api
from hub.realtime import Subscription
from hub.tasks import until_first_done


@api.route(
    "GET",
    "/api/v1/stream",
    summary="Websocket of events: conversation.created, conversation.updated, message.created, "
    "message.updated, each {type, data}. Token in the Authorization header or ?access_token=.",
    tag="realtime",
    roles=ALL_STAFF,
)
async def stream(call: Call) -> web.WebSocketResponse:
    services = call.services
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(call.request)
    subscription = services.realtime.subscribe()
    services.metrics.stream_clients.inc()
    try:
        await ws.send_json({"type": "ready", "data": {"user_id": str(call.actor["_id"])}})
        await until_first_done(_push(ws, subscription), _drain(ws))
    finally:
        services.realtime.unsubscribe(subscription)
        services.metrics.stream_clients.dec()
        await ws.close()
    return ws


async def _push(ws: web.WebSocketResponse, subscription: Subscription) -> None:
    while (event := await subscription.queue.get()) is not None:
        await ws.send_json(event)


async def _drain(ws: web.WebSocketResponse) -> None:
    """Clients only listen; reading keeps pings answered and notices a close."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return
