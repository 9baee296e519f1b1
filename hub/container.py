"""The running hub's parts, built once per app and shared by routes and workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from bots.commands import Commands
from crm_core.api_keys import ApiKeys
from crm_core.audit import Audit
from crm_core.automation.actions import Automation
from crm_core.automation.rules import RuleStore
from crm_core.contacts import Contacts
from crm_core.conversations import Conversations
from crm_core.coupons import Coupons
from crm_core.customer_data import CustomerData
from crm_core.customer_value import CustomerValue
from crm_core.domain_events import EventLog
from crm_core.imports import SpreadsheetImports
from crm_core.inbox_counts import InboxCounts
from crm_core.intent_reviews import IntentReviews
from crm_core.jobs import JobQueue
from crm_core.marketing import Campaigns
from crm_core.notifications import Notifications
from crm_core.orders import Orders
from crm_core.reporting import Reports
from crm_core.sales import Deals, Leads
from crm_core.segments import Segments
from crm_core.tickets import Tickets
from crm_core.users import Users
from crm_core.webhooks import WebhookEndpoints
from hub.campaign_scheduler import CampaignScheduler
from hub.channel_plugins.contract import ChannelPlugin
from hub.job_worker import JobWorker
from hub.listeners import Listener, ListenerLoop
from hub.metrics import Metrics
from hub.nlp_worker import NlpWorker
from hub.outbound_addresses import OutboundAddresses
from hub.pipeline import Pipeline
from hub.presence import Presence
from hub.ratelimit import ConcurrencyLimit, LoginThrottle, PerMinuteLimit
from hub.realtime import Realtime
from hub.retention_watch import RetentionWatch
from hub.settings import Settings
from hub.sla_watch import SlaWatch
from hub.stream_sockets import StreamSockets
from hub.use_cases import InboxPages, IntentReviewing, LeadPages, ParkedJobs, StaffMessages, TicketPages
from hub.value_watch import CustomerValueWatch
from hub.webhook_delivery import WebhookDelivery


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
    jobs: JobQueue
    pipeline: Pipeline
    job_worker: JobWorker
    webhook_worker: JobWorker  # webhooks wait on receivers the hub does not control: a pool of their own
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
    notifications: Notifications
    presence: Presence
    webhooks: WebhookEndpoints
    api_keys: ApiKeys
    customer_data: CustomerData
    imports: SpreadsheetImports
    orders: Orders
    customer_value: CustomerValue
    coupons: Coupons
    segments: Segments
    value_watch: CustomerValueWatch
    api_key_limit: PerMinuteLimit  # requests a minute per API key
    webhook_delivery: WebhookDelivery
    outbound_addresses: OutboundAddresses
    stream_sockets: StreamSockets
    staff_messages: StaffMessages
    inbox_pages: InboxPages
    lead_pages: LeadPages
    ticket_pages: TicketPages
    intent_reviewing: IntentReviewing
    parked_jobs: ParkedJobs
    nlp_worker: NlpWorker | None = None
    retention_watch: RetentionWatch | None = None  # when HUB_MESSAGE_RETENTION_DAYS is set
    channels: dict[str, ChannelPlugin] = field(default_factory=dict)  # the configured ones, by name

    def wake_job_workers(self) -> None:
        self.job_worker.wake()
        self.webhook_worker.wake()

    def add_listener(self, listener: Listener, *, queues_jobs: bool = False) -> None:
        """Events recorded from now on are owed to `listener`; a loop of its own runs it (and
        wakes the job worker after each batch, for a listener that `queues_jobs`)."""
        self.event_log.subscribe(listener.name, listener.types)
        lease = self.settings.listener_lease_seconds
        woken = self.wake_job_workers if queues_jobs else lambda: None
        loop = ListenerLoop(self.db, listener, self.metrics, lease_seconds=lease, after_commit=woken)
        self.listeners.append(loop)


SERVICES = web.AppKey("services", Services)
