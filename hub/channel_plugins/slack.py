"""Slack inside the hub: customer DMs, agents answering from an inbox channel's threads (every
customer message, from any channel, is mirrored there), and the staff slash command `/hub`
(stats, leads, sla, link). Events and commands arrive on signed webhooks (slack-bolt)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from aiohttp import web
from pymongo.asynchronous.client_session import AsyncClientSession
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from channels import slack
from channels.base import DeliveryError
from crm_core.conversations import Conversations
from crm_core.domain_events import Event
from crm_core.jobs import Job, JobFailed, JobQueue, RetryDelays, new_job
from crm_core.vocabularies import INBOX_WORKERS
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import Call, is_json_media_type
from hub.channel_plugins.contract import ChannelContext, ChannelPlugin
from hub.channel_plugins.serving import running
from hub.job_worker import JobHandler
from hub.listeners import Listener
from hub.settings import Settings

log = logging.getLogger(__name__)
NOTE_PREFIX = "note:"
STAFF_DM_HINT = "You are staff here: answer customers in the inbox channel's threads, or use /hub help."


class SlackBot:
    def __init__(self, app: AsyncApp, context: ChannelContext, inbox_channel: str | None) -> None:
        self.app = app
        self._context = context
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
        await self._context.pipeline.ingest(slack.parse_dm(event, name=name, email=profile.get("email")))

    async def _staff_thread_reply(self, event: dict[str, Any]) -> None:
        conversation = await self._context.conversations.by_mirror("slack", event["thread_ts"])
        staff = await self._staff(event["user"], await self._profile(event["user"]))
        if conversation is None or staff is None or staff["role"] not in INBOX_WORKERS:
            return
        text = slack.typed(event.get("text") or "").strip()
        private = text.lower().startswith(NOTE_PREFIX)
        if private:
            text = text[len(NOTE_PREFIX) :].strip()
        await self._context.post_staff_message(conversation["_id"], text, staff, private=private, via="slack")

    async def _on_command(self, ack, command: dict[str, Any]) -> None:
        words = slack.typed(command.get("text") or "").strip().split(maxsplit=1)
        sub = words[0].lower() if words else "help"
        if sub == "link":
            user = await self._context.users.redeem_link_code(
                words[1] if len(words) > 1 else "", slack.CHANNEL, command["user_id"]
            )
            await ack(
                slack.escaped(f"Linked to {user['email']}." if user else "That code is unknown or expired.")
            )
            return
        staff = await self._staff(command["user_id"], await self._profile(command["user_id"]))
        reply = await self._context.commands.handle("/" + " ".join(words or ["help"]), staff)
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
        users = self._context.users
        return await users.linked(slack.CHANNEL, slack_user) or await users.active_by_email(
            profile.get("email")
        )

    # The inbox channel: every customer message, from any channel, in one thread per conversation.

    def mirror_posts(self) -> SlackMirrorPosts | None:
        """What posts customer messages to the inbox channel, when there is one."""
        return (
            SlackMirrorPosts(self.client, self._context.conversations, self._inbox) if self._inbox else None
        )


class SlackMirror:
    """Mirrors each stored customer message into the Slack inbox channel. A listener of
    `message.received` (so a message is mirrored once whichever hub process stored it, and
    messages stored while Slack or the hub was down are mirrored when they are back) that only
    queues one `slack.mirror` job per message, in its own transaction: a listener retried after
    a failure queues the same jobs, stored once. The job posts (`SlackMirrorPosts`)."""

    name = "slack-mirror"
    gather_seconds = 0.0
    types = ("message.received",)

    def __init__(self, jobs: JobQueue) -> None:
        self._jobs = jobs

    async def handle(self, events: list[Event], session: AsyncClientSession) -> None:
        for event in events:
            job = new_job(
                SlackMirrorPosts.kind,
                {"message_id": event["message_id"]},
                key=f"slack-mirror:{event['message_id']}",
            )
            await self._jobs.enqueue(job, session)


class SlackMirrorPosts:
    """The `slack.mirror` job: one customer message posted in its conversation's thread (the
    conversation's first opens the thread). Slack has no idempotency key: a message is marked
    mirrored right after its post, and a job that finds its message marked does nothing, so
    only a crash between the post and the mark can post it twice. Posts go one at a time in a
    process, so a thread's messages keep their order and a new conversation opens one thread."""

    kind: ClassVar[str] = "slack.mirror"
    retry_delays: ClassVar[RetryDelays] = None  # the queue's backoff

    def __init__(self, client: AsyncWebClient, conversations: Conversations, inbox: str) -> None:
        self._client = client
        self._conversations = conversations
        self._inbox = inbox
        self._one_at_a_time = asyncio.Lock()

    async def run(self, job: Job) -> None:
        async with self._one_at_a_time:
            unposted = await self._conversations.unmirrored([job["payload"]["message_id"]], slack.CHANNEL)
            if not unposted:
                return  # mirrored already (or gone)
            message = unposted[0]
            try:
                ts = await self._post(message)
            except DeliveryError as exc:
                raise JobFailed(str(exc), retryable=exc.retryable, retry_after=exc.retry_after) from exc
            await self._conversations.mark_mirrored(message["_id"], slack.CHANNEL, ts)

    async def done(self, job: Job, outcome: None) -> None:
        """Marked mirrored by `run`, right after its post."""

    async def failed(self, job: Job, failure: JobFailed, *, final: bool) -> None:
        if final:
            log.warning("could not mirror a message to Slack", extra={"error": str(failure)})

    async def _post(self, message: dict[str, Any]) -> str:
        conversations = self._conversations
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
    routes = RouteTable()

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        settings = context.settings
        app = slack.build_app(
            settings.slack_signing_secret or "", settings.slack_bot_token or "", settings.slack_api_url
        )
        self.bot = SlackBot(app, context, settings.slack_inbox_channel)
        self.sender = slack.SlackSender(app.client)
        self.mirror_posts = self.bot.mirror_posts()

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.slack_configured

    def listeners(self) -> list[Listener]:
        return [] if self.mirror_posts is None else [SlackMirror(self.context.jobs)]

    def job_handlers(self) -> list[JobHandler]:
        return [] if self.mirror_posts is None else [self.mirror_posts]


@SlackChannel.routes.route(
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


@SlackChannel.routes.route(
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
    channel = running(call, SlackChannel)
    bolt, request = channel.bot.app, call.request
    secret = channel.context.settings.slack_signing_secret or ""
    body = slack.verified_body(secret, await request.read(), request.headers, json=json)
    response = await bolt.async_dispatch(
        AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
    )
    if response.status == 401:
        raise ApiError(401, "bad_signature", "missing, wrong or stale Slack signature")
    if response.status >= 500:  # Bolt could not reach Slack (its token check) or a listener failed
        raise ApiError(503, "channel_unavailable", "Slack cannot be reached; the request is retried")
    return await to_aiohttp_response(response)
