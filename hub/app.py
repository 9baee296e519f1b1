"""The app factory: wires database, services, workers and routes together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection
from datetime import timedelta

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from bots.commands import Commands
from channels.base import ReplySender
from channels.email.unsubscribe import unsubscribe_signature
from crm_core.api_keys import ApiKeys
from crm_core.audit import Audit, AutomationAudit
from crm_core.automation.actions import Automation
from crm_core.automation.inbound_steps import default_chain
from crm_core.automation.rules import RuleStore
from crm_core.contacts import Contacts
from crm_core.conversations import Conversations
from crm_core.coupons import Coupons
from crm_core.customer_data import CustomerData
from crm_core.customer_value import CustomerValue
from crm_core.domain_events import EventLog
from crm_core.errors import Conflict
from crm_core.imports import SpreadsheetImports
from crm_core.inbox_counts import InboxCounts
from crm_core.intent_reviews import IntentReviews
from crm_core.jobs import JobQueue
from crm_core.marketing import Campaigns
from crm_core.notifications import Notifications
from crm_core.orders import Orders
from crm_core.reporting import Reports
from crm_core.retention import MessageRetention
from crm_core.rollups import Rollups
from crm_core.sales import Deals, Leads
from crm_core.search import TermSearch
from crm_core.segments import Segments
from crm_core.tickets import Tickets
from crm_core.users import Users
from crm_core.webhooks import WebhookEndpoints, WebhookOutbox
from hub import console, logs
from hub.api.all_routes import all_routes
from hub.api.errors import error_middleware, error_response
from hub.api.routing import install, streams_body
from hub.campaign_scheduler import CampaignScheduler
from hub.channel_plugins import CHANNELS, ChannelContext, plugins
from hub.client_address import forwarded_client
from hub.container import SERVICES, Services
from hub.database import open_database
from hub.import_job import ImportJob
from hub.job_worker import JobWorker
from hub.listeners import ListenerLoop
from hub.message_delivery import MessageDelivery
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
from nlp.analyzer import Analyzer, shared_analyzer
from nlp.labels import INTENTS

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_CONCURRENCY = 32  # webhook deliveries in flight per process
SEARCHES_PER_USER = 2  # at once, in each hub process
SETTINGS = web.AppKey("settings", Settings)


def create_app(settings: Settings) -> web.Application:
    logs.quiet_client_faults()
    middlewares = [count_requests, error_middleware, body_in_time(settings.http_body_seconds)]
    if settings.trusted_proxies:
        middlewares.insert(0, forwarded_client(settings.trusted_proxies))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_end_websockets)
    install(all_routes(), app)
    console.install(app)  # last: its catch-all answers the console's own routes
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_database(settings) as db, aiohttp.ClientSession() as http:
        realtime = Realtime()
        if settings.change_streams:
            await realtime.start(db)
        analyzer = (
            await asyncio.to_thread(shared_analyzer, settings.phone_region) if settings.nlp_worker else None
        )
        senders: dict[str, ReplySender] = {}
        services = build_services(settings, db, realtime, senders, analyzer)
        app[SERVICES] = services
        await _bootstrap_admin(services)
        await services.inbox_counts.ensure_totals()
        await services.jobs.adopt_outbox()
        _open_channels(services, http, senders)
        async with _background_work(services):
            log.info(
                "hub ready",
                extra={
                    "realtime_change_streams": realtime.uses_change_streams,
                    "channels": list(services.channels),
                },
            )
            yield


def _open_channels(services: Services, http: aiohttp.ClientSession, senders: dict[str, ReplySender]) -> None:
    """The configured channels of the registry, their senders handed to message delivery,
    their listeners to the listener loops and their job handlers to the job worker."""
    context = ChannelContext(
        settings=services.settings,
        http=http,
        pipeline=services.pipeline,
        conversations=services.conversations,
        contacts=services.contacts,
        users=services.users,
        commands=services.commands,
        post_staff_message=services.staff_messages.post,
        realtime=services.realtime,
        metrics=services.metrics,
        db=services.db,
        jobs=services.jobs,
    )
    for plugin in plugins():
        if not plugin.configured(services.settings):
            continue
        channel = services.channels[plugin.name] = plugin(context)
        if channel.sender is not None:
            senders[plugin.name] = channel.sender
        for listener in channel.listeners():
            services.add_listener(listener, queues_jobs=True)
        services.job_worker.add(channel.job_handlers())


@contextlib.asynccontextmanager
async def _background_work(services: Services) -> AsyncIterator[None]:
    """Start the channels and workers; stop them in reverse order, letting deliveries finish."""
    channels = list(services.channels.values())
    for channel in channels:
        await channel.start()
    services.job_worker.start()
    services.webhook_worker.start()
    for listener in services.listeners:
        listener.start()
    services.campaign_scheduler.start()
    services.sla_watch.start()
    services.value_watch.start()
    if services.retention_watch is not None:
        services.retention_watch.start()
    if services.nlp_worker is not None:
        services.nlp_worker.start()
    try:
        yield
    finally:
        if services.nlp_worker is not None:
            await services.nlp_worker.stop()
        await services.sla_watch.stop()
        await services.value_watch.stop()
        if services.retention_watch is not None:
            await services.retention_watch.stop()
        await services.campaign_scheduler.stop()
        for listener in services.listeners:
            await listener.stop()
        await services.job_worker.stop(timeout=services.settings.shutdown_timeout)
        await services.webhook_worker.stop(timeout=services.settings.shutdown_timeout)
        await services.webhook_delivery.close()
        for channel in reversed(channels):
            await channel.stop()
        await services.realtime.stop()


async def _end_websockets(app: web.Application) -> None:
    """Long-lived websockets would hold a graceful shutdown until its timeout: end them first
    (clients reconnect to another process, or to this one when it is back)."""
    app[SERVICES].realtime.disconnect_all()


def build_services(
    settings: Settings,
    db: AsyncDatabase,
    realtime: Realtime,
    senders: dict[str, ReplySender],
    analyzer: Analyzer | None = None,
) -> Services:
    metrics = Metrics()
    listeners: list[ListenerLoop] = []

    def wake_listeners(names: Collection[str]) -> None:
        for loop in listeners:
            if loop.listener.name in names:
                loop.wake()
        if WebhookOutbox.name in names:
            webhook_worker.wake()

    event_log = EventLog(db, recorded=wake_listeners)
    jobs = JobQueue(
        db,
        max_attempts=settings.outbox_max_attempts,
        backoff_base=settings.outbox_backoff_base,
        backoff_cap=settings.outbox_backoff_cap,
    )
    job_worker = JobWorker(jobs, metrics)
    webhook_worker = JobWorker(jobs, metrics, concurrency=WEBHOOK_CONCURRENCY, batched=True)
    term_search = TermSearch(db)
    contacts = Contacts(db, event_log, term_search, phone_region=settings.phone_region)
    conversations = Conversations(db, realtime, event_log, term_search)
    job_worker.add([MessageDelivery(senders, conversations, metrics)])
    rollups = Rollups(db, settings.timezone)
    reports = Reports(db, rollups)
    campaigns = Campaigns(
        db, conversations, contacts, channels=CHANNELS, unsubscribe_url=_unsubscribe_url(settings)
    )
    scheduler = CampaignScheduler(campaigns, job_worker.wake)
    tickets, leads = Tickets(db, realtime, event_log, conversations), Leads(db, realtime, event_log)
    rules = RuleStore(db, INTENTS)
    chain = default_chain(conversations, contacts, tickets, leads, campaigns, enrolled=scheduler.wake)
    automation = Automation(db, rules, conversations, chain)
    audit = Audit(db)
    users = Users(db, token_ttl=timedelta(hours=settings.token_ttl_hours))
    notifications = Notifications(db, realtime, slack_dm=settings.slack_configured)
    webhooks, outbound_addresses = WebhookEndpoints(db), OutboundAddresses(settings.webhook_allowed_networks)
    webhook_delivery = WebhookDelivery(webhooks, outbound_addresses, notifications, metrics)
    event_log.add_outbox(WebhookOutbox(db, webhooks))
    customer_value = CustomerValue(db, event_log)
    orders = Orders(db, realtime, event_log, customer_value, base_currency=settings.base_currency,
                    rates=settings.currency_rates, phone_region=settings.phone_region)  # fmt: skip
    imports = SpreadsheetImports(db, settings.phone_region, orders)
    job_worker.add([ImportJob(imports, jobs)])
    webhook_worker.add([webhook_delivery])
    intent_reviews = IntentReviews(db, INTENTS, event_log)
    nlp_worker = None
    if analyzer is not None:
        nlp_worker = NlpWorker(db, analyzer, metrics, event_log, lease_seconds=settings.nlp_lease_seconds)
    services = Services(
        settings=settings,
        db=db,
        metrics=metrics,
        realtime=realtime,
        contacts=contacts,
        conversations=conversations,
        inbox_counts=InboxCounts(db),
        users=users,
        audit=audit,
        jobs=jobs,
        pipeline=Pipeline(
            contacts, conversations, metrics, to_classify=nlp_worker.notify if nlp_worker else lambda: None
        ),
        job_worker=job_worker,
        login_throttle=LoginThrottle(),
        search_slots=ConcurrencyLimit(SEARCHES_PER_USER),
        reports=reports,
        commands=Commands(
            reports,
            CHANNELS,
            value=customer_value,
            base_currency=settings.base_currency,
            timezone=settings.timezone,
            sla_minutes=settings.sla_minutes,
        ),
        tickets=tickets,
        leads=leads,
        deals=Deals(db, realtime, event_log),
        campaigns=campaigns,
        rules=rules,
        automation=automation,
        intent_reviews=intent_reviews,
        notifications=notifications,
        staff_messages=StaffMessages(conversations, tickets, users, notifications, delivered=job_worker.wake),
        inbox_pages=InboxPages(conversations, contacts, tickets),
        lead_pages=LeadPages(leads, contacts, conversations),
        ticket_pages=TicketPages(tickets, contacts),
        parked_jobs=ParkedJobs(jobs, queued=job_worker.wake),
        intent_reviewing=IntentReviewing(intent_reviews, rules, automation, conversations, metrics),
        presence=Presence(db, realtime),
        webhooks=webhooks,
        api_keys=ApiKeys(db),
        customer_data=CustomerData(db),
        imports=imports,
        orders=orders,
        customer_value=customer_value,
        coupons=Coupons(db),
        segments=Segments(db),
        value_watch=CustomerValueWatch(customer_value),
        api_key_limit=PerMinuteLimit(settings.api_key_requests_per_minute),
        outbound_addresses=outbound_addresses,
        webhook_worker=webhook_worker,
        webhook_delivery=webhook_delivery,
        stream_sockets=StreamSockets(),
        campaign_scheduler=scheduler,
        sla_watch=SlaWatch(tickets),
        nlp_worker=nlp_worker,
        retention_watch=(
            RetentionWatch(MessageRetention(db), settings.message_retention_days)
            if settings.message_retention_days > 0
            else None
        ),
        event_log=event_log,
        listeners=listeners,
    )
    for reaction in (automation, rollups, AutomationAudit(db), services.inbox_counts):
        services.add_listener(reaction)
    services.add_listener(notifications, queues_jobs=True)  # staff DMs on Slack
    return services


def _unsubscribe_url(settings: Settings) -> Callable[[ObjectId], str] | None:
    key = settings.unsubscribe_key
    if key is None:
        return None
    return lambda contact_id: (
        f"{settings.base_url}/unsubscribe?c={contact_id}&s={unsubscribe_signature(key, str(contact_id))}"
    )


def body_in_time(seconds: float) -> Middleware:
    """A request's body is read whole, within `seconds`, before its handler runs: a client that
    sends headers and then trickles or goes silent holds a connection only that long (handlers
    reading the body later get it from memory). A route that streams its body (a file upload)
    keeps the same time limit itself."""

    @web.middleware
    async def read_body(request: web.Request, handler) -> web.StreamResponse:
        if request.body_exists and not streams_body(request):
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                # Answered and hung up at once: aiohttp would otherwise wait up to 10 s more
                # for the rest of the body before closing.
                response = error_response(408, "body_timeout", f"the body took over {seconds:g} s")
                await response.prepare(request)
                await response.write_eof()
                request.protocol.force_close()
                return response
        return await handler(request)

    return read_body


@web.middleware
async def count_requests(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[SERVICES].metrics.http_requests.labels(route, f"{response.status // 100}xx").inc()
    return response


async def _bootstrap_admin(services: Services) -> None:
    """First start: HUB_ADMIN_EMAIL/HUB_ADMIN_PASSWORD create the first admin (as Rocket.Chat does)."""
    settings = services.settings
    if not (settings.admin_email and settings.admin_password) or await services.users.count():
        return
    try:
        await services.users.create(settings.admin_email, settings.admin_password, "admin", "Administrator")
        log.info("created the first admin from HUB_ADMIN_EMAIL")
    except Conflict:
        pass
