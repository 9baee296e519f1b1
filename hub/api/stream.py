"""The realtime stream: a websocket pushing conversation and message events to staff."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from channels.base import PayloadError, parse_json
from hub.api.routing import ALL_STAFF, Call, api
from hub.realtime import Subscription
from hub.tasks import until_first_done


@api.route(
    "GET",
    "/api/v1/stream",
    summary="Websocket of events: conversation.created, conversation.updated, message.created, "
    "message.updated, presence ({conversation_id, viewers}), each {type, data}. Send "
    '{"type": "viewing", "conversation_id": ID or null} to tell colleagues what you have open. '
    "Token in the Authorization header, ?access_token=, or the console's session cookie.",
    tag="realtime",
    roles=ALL_STAFF,
)
async def stream(call: Call) -> web.WebSocketResponse:
    services = call.services
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(call.request)
    services.metrics.stream_clients.inc()
    try:
        async with services.realtime.subscription() as subscription:
            ready = {"user_id": str(call.actor["_id"]), "presence": services.presence.all()}
            await ws.send_json({"type": "ready", "data": ready})
            await until_first_done(_push(ws, subscription), _listen(ws, call))
    finally:
        _viewing(call, ws, None)
        services.metrics.stream_clients.dec()
        await ws.close()
    return ws


async def _push(ws: web.WebSocketResponse, subscription: Subscription) -> None:
    while (event := await subscription.queue.get()) is not None:
        await ws.send_json(event)


async def _listen(ws: web.WebSocketResponse, call: Call) -> None:
    """Clients say which conversation they show; anything else is ignored. Reading also keeps
    pings answered and notices a close."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return
        if message.type != WSMsgType.TEXT:
            continue
        try:
            frame = parse_json(message.data.encode())
        except PayloadError:
            continue
        if isinstance(frame, dict) and frame.get("type") == "viewing":
            shown = frame.get("conversation_id")
            _viewing(call, ws, shown if isinstance(shown, str) and len(shown) <= 64 else None)


def _viewing(call: Call, ws: web.WebSocketResponse, conversation_id: str | None) -> None:
    presence, realtime = call.services.presence, call.services.realtime
    for changed in presence.view(ws, conversation_id, call.actor):
        realtime.broadcast("presence", {"conversation_id": changed, "viewers": presence.viewers(changed)})
