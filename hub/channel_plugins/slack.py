"""Slack inside the hub: customer DMs, agents answering from an inbox channel's threads (every
customer message, from any channel, is mirrored there), and the staff slash command `/hub`
(stats, leads, sla, link). Events and commands arrive on signed webhooks (slack-bolt)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web
from pymongo.asynchronous.client_session import AsyncClientSession
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from channels import slack
from channels.base import DeliveryError
from crm_core.domain_events import Event
from crm_core.vocabularies import INBOX_WORKERS
from hub.api.errors import ApiError
from hub.api.routing import Call, api, is_json_media_type
from hub.channel_plugins.plugin import ChannelPlugin, running
from hub.container import Services
from hub.listeners import Listener
from hub.settings import Settings

log = logging.getLogger(__name__)
NOTE_PREFIX = "note:"
STAFF_DM_HINT = "You are staff here: answer customers in the inbox channel's threads, or use /hub help."


class SlackBot:
    def __init__(self, app: AsyncApp, services: Services, inbox_channel: str | None) -> None:
        self.app = app
        self._services = services
        self._inbox = inbox_channel
        app.event("message")(self._on_message)
        app.command("/hub")(self._on_command)

    @property
    def client(self) -> AsyncWebClient:
        return self.app.client

    # Inbound events.

    async def _on_message(self, event: dict[str, Any], say) -> None:
        if self._inbox and event.get("channel") == self._inbox:
            if event.get("thread_ts") and event.get("user") and not event.get("bot_id"):
                await self._staff_thread_reply(event)
            return
        if not slack.is_customer_dm(event):
            return
        profile = await self._profile(event["user"])
        if await self._staff(event["user"], profile) is not None:
            await say(STAFF_DM_HINT)
            return
        name = profile.get("real_name") or profile.get("display_name")
        await self._services.pipeline.ingest(slack.parse_dm(event, name=name, email=profile.get("email")))

    async def _staff_thread_reply(self, event: dict[str, Any]) -> None:
        services = self._services
        conversation = await services.conversations.by_mirror("slack", event["thread_ts"])
        staff = await self._staff(event["user"], await self._profile(event["user"]))
        if conversation is None or staff is None or staff["role"] not in INBOX_WORKERS:
            return
        text = slack.typed(event.get("text") or "").strip()
        private = text.lower().startswith(NOTE_PREFIX)
        if private:
            text = text[len(NOTE_PREFIX) :].strip()
        await services.staff_message(conversation["_id"], text, staff, private=private, via="slack")

    async def _on_command(self, ack, command: dict[str, Any]) -> None:
        words = slack.typed(command.get("text") or "").strip().split(maxsplit=1)
        sub = words[0].lower() if words else "help"
        if sub == "link":
            user = await self._services.users.redeem_link_code(
                words[1] if len(words) > 1 else "", slack.CHANNEL, command["user_id"]
            )
            await ack(
                slack.escaped(f"Linked to {user['email']}." if user else "That code is unknown or expired.")
            )
            return
        staff = await self._staff(command["user_id"], await self._profile(command["user_id"]))
        reply = await self._services.commands.handle("/" + " ".join(words or ["help"]), staff)
        await ack(slack.escaped(reply.text))  # it may quote customers (/leads: their names)
        if reply.chart is not None:
            await self.client.files_upload_v2(
                channel=command["channel_id"],
                content=reply.chart,
                filename="stats.png",
                title="Messages per day",
            )

    async def _profile(self, slack_user: str) -> dict[str, Any]:
        response = await self.client.users_info(user=slack_user)
        return (response.get("user") or {}).get("profile") or {}

    async def _staff(self, slack_user: str, profile: dict[str, Any]) -> dict[str, Any] | None:
        """The staff account of a Slack user: linked by `/hub link CODE`, or the same email."""
        users = self._services.users
        return await users.linked(slack.CHANNEL, slack_user) or await users.active_by_email(
            profile.get("email")
        )

    # The inbox channel: every customer message, from any channel, in one thread per conversation.

    def mirror(self) -> SlackMirror | None:
        """The listener that mirrors customer messages to the inbox channel, when there is one."""
        return SlackMirror(self.client, self._services, self._inbox) if self._inbox else None


class SlackMirror:
    """Mirrors each stored customer message into the Slack inbox channel: a listener of
    `message.received`, so a message is posted once whichever hub process stored it, and
    messages stored while Slack or the hub was down are posted when they are back. Slack has
    no idempotency key: a message is marked mirrored right after its post, so only a crash
    between the two can post it twice."""

    name = "slack-mirror"
    gather_seconds = 0.0
    types = ("message.received",)

    def __init__(self, client: AsyncWebClient, services: Services, inbox: str) -> None:
        self._client = client
        self._services = services
        self._inbox = inbox

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        messages = self._services.db.messages
        ids = [event["message_id"] for event in events]
        unposted = {"_id": {"$in": ids}, "mirrored.slack": {"$exists": False}}
        found = {m["_id"]: m for m in await messages.find(unposted).to_list(None)}
        for event in events:
            if (message := found.get(event["message_id"])) is None:
                continue
            try:
                ts = await self._post(message)
            except DeliveryError as exc:
                if exc.retryable:
                    raise  # the listener retries with backoff
                log.warning("could not mirror a message to Slack", extra={"error": str(exc)})
                ts = None
            await messages.update_one({"_id": message["_id"]}, {"$set": {"mirrored.slack": ts}})

    async def _post(self, message: dict[str, Any]) -> str:
        conversations = self._services.conversations
        conversation = await conversations.get(message["conversation_id"])
        who = (message.get("sender") or {}).get("name") or "A customer"
        thread = (conversation.get("mirrors") or {}).get("slack")
        if thread is None:
            opening = f"New conversation on {message['channel']} from {who}:\n{message['text']}"
            ts = await slack.post(self._client, self._inbox, slack.escaped(opening))
            await conversations.set_mirror(conversation["_id"], "slack", ts)
            return ts
        return await slack.post(
            self._client, self._inbox, slack.escaped(f"{who}: {message['text']}"), thread_ts=thread
        )


class SlackChannel(ChannelPlugin):
    name = slack.CHANNEL
    settings_hint = "HUB_SLACK_BOT_TOKEN/HUB_SLACK_SIGNING_SECRET unset"

    def __init__(self, services: Services, http: aiohttp.ClientSession) -> None:
        super().__init__(services, http)
        settings = services.settings
        app = slack.build_app(
            settings.slack_signing_secret or "", settings.slack_bot_token or "", settings.slack_api_url
        )
        self.bot = SlackBot(app, services, settings.slack_inbox_channel)
        self.sender = slack.SlackSender(app.client)

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.slack_configured

    def listeners(self) -> list[Listener]:
        mirror = self.bot.mirror()
        listeners: list[Listener] = [] if mirror is None else [mirror]
        return listeners


@api.route(
    "POST",
    "/webhooks/slack/events",
    summary="Slack Events API, signed with HUB_SLACK_SIGNING_SECRET (401 on a bad or stale signature; "
    "url_verification answered).",
    tag="webhooks",
    roles=None,
    raw_body="application/json",
)
async def slack_events(call: Call) -> web.StreamResponse:
    return await _dispatch(call, json=True)  # Slack sends events as JSON, whatever the header says


@api.route(
    "POST",
    "/webhooks/slack/commands",
    summary="Slack slash commands (`/hub stats today`, `/hub link CODE`), signed like events.",
    tag="webhooks",
    roles=None,
    raw_body="application/x-www-form-urlencoded",
)
async def slack_commands(call: Call) -> web.StreamResponse:
    return await _dispatch(call, json=is_json_media_type(call.request.content_type))


async def _dispatch(call: Call, *, json: bool) -> web.StreamResponse:
    """Verified here first, on the raw bytes (Bolt read the body before its own check, and
    failed on a body that is JSON but not an object); Bolt then checks again and routes."""
    bolt = running(call, SlackChannel).bot.app
    request = call.request
    secret = call.services.settings.slack_signing_secret or ""
    body = slack.verified_body(secret, await request.read(), request.headers, json=json)
    response = await bolt.async_dispatch(
        AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
    )
    if response.status == 401:
        raise ApiError(401, "bad_signature", "missing, wrong or stale Slack signature")
    if response.status >= 500:  # Bolt could not reach Slack (its token check) or a listener failed
        raise ApiError(503, "channel_unavailable", "Slack cannot be reached; the request is retried")
    return await to_aiohttp_response(response)
