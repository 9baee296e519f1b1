"""The running hub's parts, built once per app and shared by routes and workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from bots.commands import Commands
from crm_core.audit import Audit
from crm_core.automation.actions import Automation
from crm_core.automation.rules import RuleStore
from crm_core.contacts import Contacts
from crm_core.conversations import ConversationFilter, Conversations
from crm_core.domain_events import EventLog, staff_actor
from crm_core.inbox_counts import InboxCounts
from crm_core.intent_reviews import IntentReviews
from crm_core.marketing import Campaigns
from crm_core.outbox import Outbox
from crm_core.records import object_id
from crm_core.reporting import Reports
from crm_core.sales import Deals, Leads
from crm_core.tickets import Tickets
from crm_core.users import Users
from hub.campaign_scheduler import CampaignScheduler
from hub.listeners import Listener, ListenerLoop
from hub.metrics import Metrics
from hub.outbox_worker import OutboxWorker
from hub.pipeline import Pipeline
from hub.presence import Presence
from hub.ratelimit import ConcurrencyLimit, LoginThrottle, PerMinuteLimit
from hub.realtime import Realtime
from hub.settings import Settings
from hub.sla_watch import SlaWatch
from hub.stream_sockets import StreamSockets


@dataclass
class Services:
    settings: Settings
    db: AsyncDatabase
    metrics: Metrics
    realtime: Realtime
    contacts: Contacts
    conversations: Conversations
    inbox_counts: InboxCounts
    users: Users
    audit: Audit
    outbox: Outbox
    pipeline: Pipeline
    outbox_worker: OutboxWorker
    widget_limiter: PerMinuteLimit
    widget_messages: PerMinuteLimit
    login_throttle: LoginThrottle
    search_slots: ConcurrencyLimit
    reports: Reports
    commands: Commands
    tickets: Tickets
    leads: Leads
    deals: Deals
    campaigns: Campaigns
    rules: RuleStore
    campaign_scheduler: CampaignScheduler
    sla_watch: SlaWatch
    event_log: EventLog
    listeners: list[ListenerLoop]
    automation: Automation
    intent_reviews: IntentReviews
    presence: Presence
    stream_sockets: StreamSockets
    nlp_worker: NlpWorker | None = None
    channels: dict[str, ChannelPlugin] = field(default_factory=dict)  # the configured ones, by name

    def add_listener(self, listener: Listener) -> None:
        """Events recorded from now on are owed to `listener`; a loop of its own runs it."""
        self.event_log.subscribe(listener.name, listener.types)
        lease = self.settings.listener_lease_seconds
        self.listeners.append(ListenerLoop(self.db, listener, self.metrics, lease_seconds=lease))

    async def staff_message(
        self, conversation_id: Any, text: str, actor: dict[str, Any], *, private: bool, via: str = "api"
    ) -> dict[str, Any]:
        """An agent's reply (delivered through the conversation's channel) or private note,
        audited, wherever the agent wrote it (the API, a Slack thread)."""
        if private:
            message = await self.conversations.add_note(conversation_id, text, actor)
        else:
            answered = object_id(conversation_id, "conversation")

            async def meet_first_response(session: AsyncClientSession) -> None:
                await self.tickets.responded(answered, session)

            message = await self.conversations.add_reply(
                conversation_id, text, actor, within=meet_first_response
            )
            self.outbox_worker.wake()
        action = "conversation.note" if private else "conversation.reply"
        await self.audit.record(
            actor,
            action,
            "conversation",
            message["conversation_id"],
            {"message_id": message["_id"], "via": via},
        )
        return message

    async def inbox_page(
        self, where: ConversationFilter, viewer: dict[str, Any], *, limit: int, cursor: tuple | None
    ) -> list[dict[str, Any]]:
        """A page of the inbox, each conversation with its contact and its ticket's SLA times
        (two more queries per page, not per row)."""
        items = await self.conversations.list(where, viewer_id=viewer["_id"], limit=limit, cursor=cursor)
        contacts = await self.contacts.briefs([c["contact_id"] for c in items])
        tickets = await self.tickets.due_times([c["ticket_id"] for c in items if c.get("ticket_id")])
        return [
            {
                **c,
                "contact": contacts.get(c["contact_id"]),
                "ticket": tickets.get(c["ticket_id"]) if c.get("ticket_id") else None,
            }
            for c in items
        ]

    async def review_intent(self, message_id: str, intent: str, actor: dict[str, Any]) -> dict[str, Any]:
        """An agent's word on a message's intent, audited; a correction routes the message
        again (un-spamming reopens the conversation and opens the ticket, a sales intent
        creates the lead)."""
        message, review = await self.intent_reviews.record(message_id, intent, actor)
        actions: list[dict[str, Any]] = []
        if not review["agreed"]:
            rules = await self.rules.get()
            actions = await self.automation.corrected(message, intent, rules, staff_actor(actor))
            await self.conversations.add_actions(message["_id"], actions)
        self.metrics.intent_reviews.labels("agreed" if review["agreed"] else "corrected").inc()
        await self.audit.record(
            actor,
            "message.intent",
            "conversation",
            message["conversation_id"],
            {"message_id": message["_id"], "intent": {"from": review["model_intent"], "to": intent}},
        )
        return {**review, "actions": actions}


if TYPE_CHECKING:
    from hub.channel_plugins import ChannelPlugin
    from hub.nlp_worker import NlpWorker

SERVICES = web.AppKey("services", Services)
