"""The contract of a channel's place in the running hub.

A channel is an adapter in `channels/` (verify, parse, send: the protocol and its SDK, nothing
of ours) and one plugin here: a subclass of `ChannelPlugin` that says when the channel is
configured, builds its sender, registers its webhook routes (`@api.route` in its module),
runs what it brings in the background (a poller, a bot) and reports its health. The registry
(`hub.channel_plugins.REGISTRY`) lists the plugins once; everything else derives from it."""

from __future__ import annotations

import argparse
from typing import Any, ClassVar, TypeVar

import aiohttp
from aiohttp import web

from channels.base import InboundMessage, ReplySender
from hub.api.errors import ApiError
from hub.api.routing import Call, json_ok
from hub.container import Services
from hub.listeners import Listener
from hub.settings import Settings


class ChannelPlugin:
    """One configured channel in a running hub. The base class brings nothing: a channel
    overrides what it has."""

    name: ClassVar[str]
    settings_hint: ClassVar[str]  # the settings that turn the channel on, for its routes' 404

    def __init__(self, services: Services, http: aiohttp.ClientSession) -> None:
        """Built from the running hub's services and its shared HTTP client session."""
        self.problem: str | None = None  # why the channel cannot work now, for its health
        self.sender: ReplySender | None = None  # what delivers replies, when it can send

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        raise NotImplementedError

    def listeners(self) -> list[Listener]:
        """Domain-event listeners this channel brings (run once across hub processes)."""
        return []

    async def start(self) -> None:
        """Start its background work. A channel's outage must not keep the hub down: record it
        in `problem` instead of raising."""

    async def stop(self) -> None:
        """Stop its background work."""

    def health(self) -> dict[str, Any]:
        """This process's view of the channel, for `/readyz` and the console."""
        status = "down" if self.problem else "ok"
        return {"status": status, "sends": self.sender is not None} | (
            {"problem": self.problem} if self.problem else {}
        )

    @classmethod
    def add_commands(cls, commands: argparse._SubParsersAction) -> None:
        """Set-up commands of `python -m hub` this channel brings (`python -m hub <name> ...`)."""

    @classmethod
    async def run_command(cls, settings: Settings, args: argparse.Namespace) -> int:
        raise NotImplementedError


Plugin = TypeVar("Plugin", bound=ChannelPlugin)


def running(call: Call, plugin: type[Plugin]) -> Plugin:
    """The channel's plugin in this hub, for its routes; 404 when the channel is off."""
    found = call.services.channels.get(plugin.name)
    if not isinstance(found, plugin):
        raise ApiError(404, "channel_disabled", f"the {plugin.name} channel is off ({plugin.settings_hint})")
    return found


async def acknowledge(call: Call, message: InboundMessage) -> web.Response:
    """A webhook's answer once its message is stored: 201, or 200 with duplicate=true for a
    redelivery."""
    stored = await call.services.pipeline.ingest(message)
    return json_ok(
        {
            "id": stored.message_id,
            "conversation_id": stored.conversation_id,
            "contact_id": stored.contact_id,
            "duplicate": stored.duplicate,
        },
        status=200 if stored.duplicate else 201,
    )
