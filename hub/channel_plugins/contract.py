"""The contract of a channel's place in the running hub: a leaf (it imports no route, no app
and no container), so the registry, the container and every plugin can import it.

A channel is an adapter in `channels/` (verify, parse, send: the protocol and its SDK, nothing
of ours) and one plugin: a subclass of `ChannelPlugin` that says when the channel is configured,
builds its sender, declares its webhook routes (`routes`, collected by the app from the
registry), runs what it brings in the background (a poller, a bot) and reports its health. It
works through the narrow `ChannelContext`, not the whole hub. The registry
(`hub.channel_plugins.REGISTRY`) lists the plugins once; everything else derives from it."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from pymongo.asynchronous.database import AsyncDatabase

from bots.commands import Commands
from channels.base import AttachmentPolicy, ReplySender
from crm_core.contacts import Contacts
from crm_core.conversations import Conversations
from crm_core.jobs import JobQueue
from crm_core.users import Users
from hub.api.route_table import RouteTable
from hub.job_worker import JobHandler
from hub.listeners import Listener
from hub.metrics import Metrics
from hub.pipeline import Pipeline
from hub.realtime import Realtime
from hub.settings import Settings

# An agent's reply or note, wherever they wrote it: (conversation id, text, staff user,
# private=, via=) -> the stored message (hub.use_cases.StaffMessages.post).
PostStaffMessage = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ChannelContext:
    """What a channel may use of the running hub."""

    settings: Settings
    http: aiohttp.ClientSession  # the hub's shared client session, for calls to the provider
    pipeline: Pipeline  # where inbound messages go
    conversations: Conversations
    contacts: Contacts
    users: Users  # staff: linked chat accounts, link codes
    commands: Commands  # staff chat commands (/stats ...)
    post_staff_message: PostStaffMessage
    realtime: Realtime
    metrics: Metrics
    db: AsyncDatabase  # for the stores a channel owns (the email poller's mailbox state)
    jobs: JobQueue  # where its listeners queue their effects outside the database


class ChannelPlugin:
    """One configured channel in a running hub. The base class brings nothing: a channel
    overrides what it has."""

    name: ClassVar[str]
    settings_hint: ClassVar[str]  # the settings that turn the channel on, for its routes' 404
    routes: ClassVar[RouteTable]  # its webhooks and pages: a table of its own
    # What files its replies can carry; None: replies go as text only.
    reply_attachments: ClassVar[AttachmentPolicy | None] = None

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.problem: str | None = None  # why the channel cannot work now, for its health
        self.sender: ReplySender | None = None  # what delivers replies, when it can send

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        raise NotImplementedError

    def listeners(self) -> list[Listener]:
        """Domain-event listeners this channel brings (run once across hub processes)."""
        return []

    def job_handlers(self) -> list[JobHandler]:
        """Handlers of the job kinds this channel brings (its effects outside the database)."""
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
