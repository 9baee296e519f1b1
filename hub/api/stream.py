"""The realtime stream: a websocket pushing conversation and message events to staff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from pymongo.errors import PyMongoError

from channels.base import PayloadError, parse_json
from crm_core.live import LiveEvent
from crm_core.vocabularies import ALL_STAFF
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import ROUTES, Call
from hub.jsonable import jsonable
from hub.presence import REFRESH_SECONDS, presence_event
from hub.realtime import RealtimeEvent, Subscription
from hub.stream_sockets import StreamSocket, TooManySockets
from hub.tasks import until_first_done

routes = RouteTable()

# Each kind of record is streamed to the roles that may read it over HTTP: its GET route's, so
# the stream and the routes cannot disagree. A notification goes to its recipient only.
READ_ROUTES = {
    "conversation": "/api/v1/conversations/{id}",
    "message": "/api/v1/conversations/{id}/messages",
    "ticket": "/api/v1/tickets/{id}",
    "lead": "/api/v1/leads/{id}",
    "deal": "/api/v1/deals/{id}",
    "order": "/api/v1/orders/{id}",
    "presence": "/api/v1/staff",
}
# How often a socket looks whether its session still holds (sign-outs and deactivations in
# this process end it at once; this finds those made through another hub process).
SESSION_CHECK_SECONDS = 10.0
SESSION_ENDED = 4401  # the close code the console takes as "sign in again"


def visible_to(user: dict[str, Any], routes: RouteTable) -> Callable[[RealtimeEvent], bool]:
    """Whether `user` may see an event: the kinds their role may read, their notifications."""
    role, user_id = user["role"], str(user["_id"])
    kinds = {kind for kind, path in READ_ROUTES.items() if role in routes.roles_of("GET", path)}

    def wants(event: RealtimeEvent) -> bool:
        kind = event["type"].partition(".")[0]
        if kind == "notification":
            return event["data"].get("user_id") == user_id
        return kind in kinds

    return wants


@routes.route(
    "GET",
    "/api/v1/stream",
    summary="Websocket of the events your role may read (the same rules as the routes): "
    "conversation.*, message.*, ticket.*, lead.*, deal.*, order.* (created, updated), your own "
    "notification.*, presence ({conversation_id, viewers: [{id, name, typing}]}, across hub processes), "
    "each {type, data}. Send "
    '{"type": "viewing", "conversation_id": ID or null} to tell colleagues what you have open. '
    "Token in the Authorization header, ?access_token=, or the console's session cookie (from "
    "the hub's own origin only). Closed with code 4401 when the session ends; at most 10 "
    "sockets per user (429).",
    tag="realtime",
    roles=ALL_STAFF,
    websocket=True,
)
async def stream(call: Call) -> web.StreamResponse:
    if call.cookie_session and not _from_own_origin(call):
        raise ApiError(403, "bad_origin", "the session cookie opens the stream from the hub's own pages only")
    try:
        with call.services.stream_sockets.opened(str(call.actor["_id"]), call.token) as socket:
            return await _serve(call, socket)
    except TooManySockets as exc:
        raise ApiError(429, "too_many_streams", "too many open streams for this user") from exc


async def _serve(call: Call, socket: StreamSocket) -> web.WebSocketResponse:
    services = call.services
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(call.request)
    services.metrics.stream_clients.inc()
    try:
        wants = visible_to(call.actor, call.request.app[ROUTES])
        async with services.realtime.subscription(wants) as subscription:
            ready = {"user_id": str(call.actor["_id"]), "presence": await services.presence.all()}
            await ws.send_json({"type": LiveEvent.READY, "data": ready})
            await until_first_done(
                _push(ws, subscription), _listen(ws, call), _signed_in(call, socket), _present(call, ws)
            )
    finally:
        with contextlib.suppress(PyMongoError):
            await services.presence.view(ws, None, call.actor)
        services.metrics.stream_clients.dec()
        if socket.ended.is_set():
            await ws.close(code=SESSION_ENDED, message=b"session ended")
        else:
            await ws.close()
    return ws


def _from_own_origin(call: Call) -> bool:
    """A browser names the page that opens a websocket; a cookie session may only be used by
    the hub's own (its host as asked for, or its public URL)."""
    origin = call.request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: nothing ambient to misuse
    public = urlsplit(call.services.settings.base_url)
    return origin in (
        f"http://{call.request.host}",
        f"https://{call.request.host}",
        f"{public.scheme}://{public.netloc}",
    )


async def _signed_in(call: Call, socket: StreamSocket) -> None:
    """Returns when the socket's session ends: at once when this process ends it, else when a
    look finds the token revoked or expired, the user deactivated or given another role."""
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SESSION_CHECK_SECONDS):
                await socket.ended.wait()
            return
        try:
            user = await call.services.users.for_token(socket.token)
        except PyMongoError:
            continue  # the database is away: the session is not known to have ended
        if user is None or user["role"] != call.actor["role"]:
            socket.ended.set()
            return


async def _push(ws: web.WebSocketResponse, subscription: Subscription) -> None:
    while (event := await subscription.queue.get()) is not None:
        if event["type"] == LiveEvent.PRESENCE:
            event = {"type": LiveEvent.PRESENCE, "data": presence_event(event["data"])}
        await ws.send_json(jsonable(event))


async def _present(call: Call, ws: web.WebSocketResponse) -> None:
    """Renews the socket's presence while it lives (never returns)."""
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        with contextlib.suppress(PyMongoError):
            await call.services.presence.refresh(ws)


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
        if not isinstance(frame, dict):
            continue
        try:
            if frame.get("type") == "viewing":
                shown = frame.get("conversation_id")
                conversation_id = shown if isinstance(shown, str) and len(shown) <= 64 else None
                await call.services.presence.view(ws, conversation_id, call.actor)
            elif frame.get("type") == "typing":
                await call.services.presence.typing(ws)
        except PyMongoError:
            continue  # the database is away: presence is a courtesy, the socket stays
