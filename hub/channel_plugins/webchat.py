"""The web widget channel: its script, a demo host page, and the visitor's websocket (replies
reach the visitor through it, pushed from the realtime stream)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from bson import ObjectId

from channels import webchat
from channels.base import PayloadError, SignatureError, parse_json, same_secret
from crm_core.addresses import normalize_email
from crm_core.live import LiveEvent
from hub.api.downloads import attachment_response
from hub.api.errors import ApiError
from hub.api.route_table import QueryParam, RouteTable
from hub.api.routing import Call, whole_number
from hub.channel_plugins.contract import ChannelContext, ChannelPlugin
from hub.channel_plugins.serving import running
from hub.ratelimit import PerMinuteLimit
from hub.realtime import RealtimeEvent, Subscription
from hub.settings import Settings
from hub.tasks import until_first_done

STATIC = Path(__file__).resolve().parent.parent / "static"
HELLO_TIMEOUT = 10.0
MAX_FRAME_BYTES = 16 * 1024
HISTORY_LIMIT = 200


class WebchatChannel(ChannelPlugin):
    name = webchat.CHANNEL
    settings_hint = "HUB_WIDGET_SECRET is not set"
    routes = RouteTable()
    reply_attachments = webchat.REPLY_ATTACHMENTS

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.secret = settings.widget_secret or ""
        # Per process: new conversations per client address, messages per visitor.
        self.new_visitors = PerMinuteLimit(settings.widget_new_per_minute)
        self.visitor_messages = PerMinuteLimit(settings.widget_messages_per_minute)
        self.sender = webchat.WebchatSender()

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.widget_secret)


def _secret(call: Call) -> str:
    return running(call, WebchatChannel).secret


@WebchatChannel.routes.route(
    "GET", "/widget.js", summary="The embeddable chat widget script.", tag="widget", roles=None
)
async def widget_script(call: Call) -> web.Response:
    _secret(call)
    return web.Response(
        body=(STATIC / "widget.js").read_bytes(),
        content_type="application/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@WebchatChannel.routes.route(
    "GET",
    "/widget/demo",
    summary="A sample host page with the widget (?prechat=email asks for an email first).",
    tag="widget",
    roles=None,
)
async def widget_demo(call: Call) -> web.Response:
    _secret(call)
    page = (STATIC / "demo.html").read_text()
    if call.query("prechat") == "email":
        page = page.replace('data-title="Acme support"', 'data-title="Acme support" data-prechat="email"')
    return web.Response(text=page, content_type="text/html")


@WebchatChannel.routes.route(
    "GET",
    "/widget/attachments/{message_id}/{index}",
    summary="A file an agent sent in the widget, by the signed link the widget was given (?sig=).",
    tag="widget",
    roles=None,
    query=(QueryParam("sig", "the link's signature"),),
)
async def widget_attachment(call: Call) -> web.Response:
    secret = _secret(call)
    message_id, index = call.path("message_id"), whole_number(call.path("index"))
    if index is None or not same_secret(
        webchat.attachment_signature(secret, message_id, index), call.query("sig") or ""
    ):
        raise ApiError(404, "not_found", "no such file")
    attachment = await running(call, WebchatChannel).context.conversations.attachment(message_id, index)
    return attachment_response(attachment)


@WebchatChannel.routes.route(
    "GET",
    "/widget/ws",
    summary="The widget's websocket. First frame {type: hello, token?, since?, user_id?, user_hash?}; "
    "then {type: message, client_id, text} and {type: identify, email, name}.",
    tag="widget",
    roles=None,
)
async def widget_socket(call: Call) -> web.WebSocketResponse:
    channel = running(call, WebchatChannel)
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(call.request)
    widget_clients = channel.context.metrics.widget_clients
    widget_clients.inc()
    try:
        session = await _WidgetSession.open(channel, ws, call.request.remote or "?")
        if session is not None:
            await session.run()
    except ConnectionResetError:
        pass  # the visitor left (or aiohttp closed the socket on an over-long frame) mid-answer
    finally:
        widget_clients.dec()
        await ws.close()
    return ws


class _WidgetSession:
    def __init__(
        self,
        channel: WebchatChannel,
        ws: web.WebSocketResponse,
        visitor: webchat.Visitor,
        *,
        token: str,
        since: str | None,
    ) -> None:
        self.channel = channel
        self.context = channel.context
        self.ws = ws
        self.visitor = visitor
        self.token = token  # the visitor's, sent back in the welcome
        self.since = since  # the last message id the widget has shown, if any
        self.conversation_id: ObjectId | None = None
        self.contact_id: ObjectId | None = None
        self.claimed: str | None = None  # the email last kept as this visitor's claim

    @classmethod
    async def open(
        cls, channel: WebchatChannel, ws: web.WebSocketResponse, client_address: str
    ) -> _WidgetSession | None:
        secret = channel.secret
        try:
            raw = await asyncio.wait_for(ws.receive_str(), HELLO_TIMEOUT)
            hello = webchat.parse_hello(parse_json(raw.encode()))
        except (TimeoutError, TypeError, PayloadError) as exc:
            if not ws.closed:  # an over-long frame has closed it already (1009)
                reason = str(exc) if isinstance(exc, PayloadError) else "expected a hello frame"
                await ws.send_json({"type": "error", "message": f"hello: {reason}"})
                await ws.close(code=4400, message=b"expected a hello frame")
            return None
        token = hello.token
        try:
            visitor_id = webchat.verify_visitor_token(secret, token) if token else None
        except SignatureError:
            visitor_id = None  # a stale or forged token: start afresh rather than trust it
        if visitor_id is None:
            if not channel.new_visitors.allow(client_address):
                await ws.close(code=4429, message=b"too many new conversations from this address; try later")
                return None
            token = webchat.issue_visitor_token(secret)
            visitor_id = webchat.verify_visitor_token(secret, token)
        assert token is not None  # kept, or issued just above
        verified = webchat.verify_user(secret, hello.user_id, hello.user_hash)
        visitor = webchat.Visitor(
            key=f"user:{hello.user_id}" if verified else f"visitor:{visitor_id}", verified=verified
        )
        return cls(channel, ws, visitor, token=token, since=hello.since)

    async def run(self) -> None:
        """Subscribed before the history is read, so no message falls between the two (one in
        both is shown once: the widget knows message ids)."""
        async with self.context.realtime.subscription(self._shown) as subscription:
            await self._welcome()
            await until_first_done(self._push(subscription), self._read())

    async def _welcome(self) -> None:
        conversations = self.context.conversations
        conversation = await conversations.by_thread(webchat.CHANNEL, self.visitor.thread_key)
        history: list[dict[str, Any]] = []
        if conversation is not None:
            self.conversation_id, self.contact_id = conversation["_id"], conversation["contact_id"]
            cursor = (
                await conversations.message_cursor(conversation["_id"], self.since) if self.since else None
            )
            history = await conversations.messages(
                conversation["_id"], limit=HISTORY_LIMIT, cursor=cursor, customer_visible=True
            )
        await self.ws.send_json(
            {
                "type": "welcome",
                "token": self.token,
                "verified": self.visitor.verified,
                "messages": [webchat.public_message(m, self.channel.secret) for m in history],
            }
        )

    def _shown(self, event: RealtimeEvent) -> bool:
        """Only the messages of this visitor's conversation reach the widget (never notes)."""
        message = event["data"]
        return (
            event["type"] == LiveEvent.MESSAGE_CREATED
            and message.get("kind") == "message"
            and self.conversation_id is not None
            and message.get("conversation_id") == str(self.conversation_id)
        )

    async def _push(self, subscription: Subscription) -> None:
        while (event := await subscription.queue.get()) is not None:
            await self.ws.send_json(
                {"type": "message", "message": webchat.public_message(event["data"], self.channel.secret)}
            )

    async def _read(self) -> None:
        async for raw in self.ws:
            if raw.type != WSMsgType.TEXT:
                if raw.type == WSMsgType.ERROR:
                    return
                continue
            try:
                await self._handle(webchat.parse_frame(parse_json(raw.data.encode())))
            except PayloadError as exc:
                await self.ws.send_json({"type": "error", "message": str(exc)})

    async def _handle(self, frame: Any) -> None:
        if frame.type == "identify":
            email = normalize_email(frame.email)
            if frame.email and email is None:
                raise PayloadError("email: not a valid address")
            self.visitor = webchat.Visitor(
                key=self.visitor.key, verified=self.visitor.verified, name=frame.name, email=email
            )
            await self._record_claim()
            return
        if frame.type != "message":
            raise PayloadError(f"type: unknown frame type {frame.type!r}")
        if not self.channel.visitor_messages.allow(self.visitor.key):
            raise PayloadError("too many messages: wait a minute before sending more")
        stored = await self.context.pipeline.ingest(webchat.parse_message(self.visitor, frame))
        self.conversation_id, self.contact_id = stored.conversation_id, stored.contact_id
        await self._record_claim()
        await self.ws.send_json({"type": "ack", "client_id": frame.client_id, "id": str(stored.message_id)})

    async def _record_claim(self) -> None:
        """An anonymous visitor's email is kept on their own contact as unverified (shown to
        agents, never used to match them to another customer's profile)."""
        email = self.visitor.email
        if self.visitor.verified or email in (None, self.claimed) or self.contact_id is None:
            return
        await self.context.contacts.claim_email(self.contact_id, email)
        self.claimed = email
