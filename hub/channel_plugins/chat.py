"""The generic chat/API channel: a signed webhook in, signed HTTP posts out."""

from __future__ import annotations

from aiohttp import web

from channels import chat
from channels.base import PayloadError
from hub.api.route_table import RouteTable
from hub.api.routing import Call
from hub.channel_plugins.contract import ChannelContext, ChannelPlugin
from hub.channel_plugins.serving import acknowledge, running
from hub.settings import Settings


class ChatChannel(ChannelPlugin):
    name = chat.CHANNEL
    settings_hint = "HUB_CHAT_SECRET is not set"
    routes = RouteTable()
    reply_attachments = chat.REPLY_ATTACHMENTS

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.secret = settings.chat_secret or ""
        self.sender = chat.ChatSender(settings.chat_outbound_url, self.secret, context.http)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.chat_secret)


@ChatChannel.routes.route(
    "POST",
    "/webhooks/chat",
    summary="Generic chat/API channel: one inbound customer message. Signed with "
    "X-Hub-Signature-256 (HMAC-SHA256 of the raw body with HUB_CHAT_SECRET). "
    "201 when stored, 200 with duplicate=true for a redelivery.",
    tag="webhooks",
    roles=None,
    body=chat.ChatPayload,
    raw_body="application/json",
    ok_status=201,
)
async def chat_webhook(call: Call) -> web.Response:
    channel = running(call, ChatChannel)
    body = await call.request.read()
    chat.verify(channel.secret, body, call.request.headers.get(chat.SIGNATURE_HEADER))
    try:
        message = chat.parse(body)
    except PayloadError:
        channel.context.metrics.ingested.labels(chat.CHANNEL, "rejected").inc()
        raise
    return await acknowledge(channel, message)
