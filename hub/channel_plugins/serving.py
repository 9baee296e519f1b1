"""What channel plugins' routes share: finding the running plugin, and answering a webhook
once its message is stored."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from channels.base import InboundMessage
from hub.api.errors import ApiError
from hub.api.routing import Call, json_ok
from hub.channel_plugins.contract import ChannelPlugin

Plugin = TypeVar("Plugin", bound=ChannelPlugin)


def running(call: Call, plugin: type[Plugin]) -> Plugin:
    """The channel's plugin in this hub, for its routes; 404 when the channel is off."""
    found = call.services.channels.get(plugin.name)
    if not isinstance(found, plugin):
        raise ApiError(404, "channel_disabled", f"the {plugin.name} channel is off ({plugin.settings_hint})")
    return found


async def acknowledge(plugin: ChannelPlugin, message: InboundMessage) -> web.Response:
    """A webhook's answer once its message is stored: 201, or 200 with duplicate=true for a
    redelivery."""
    stored = await plugin.context.pipeline.ingest(message)
    return json_ok(
        {
            "id": stored.message_id,
            "conversation_id": stored.conversation_id,
            "contact_id": stored.contact_id,
            "duplicate": stored.duplicate,
        },
        status=200 if stored.duplicate else 201,
    )
