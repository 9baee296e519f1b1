"""The app factory: wires database, services, workers and routes together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import aiohttp
from aiohttp import web
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from telegram.error import TelegramError

from bots.commands import Commands
from channels import slack, telegram
from channels.base import ChannelSender
from channels.chat import ChatSender
from channels.email import EmailSender, ImapMailbox, unsubscribe_signature
from channels.webchat import WebchatSender
from crm_core.audit import Audit, AutomationAudit
from crm_core.automation.actions import Automation
from crm_core.automation.rules import RuleStore
from crm_core.contacts import Contacts
from crm_core.conversations import Conversations
from crm_core.domain_events import EventLog
from crm_core.errors import Conflict
from crm_core.intent_reviews import IntentReviews
from crm_core.mailboxes import MailboxState
from crm_core.marketing import Campaigns
from crm_core.notifications import Notifications
from crm_core.outbox import Outbox
from crm_core.reporting import Reports
from crm_core.rollups import Rollups
from crm_core.sales import Deals, Leads
from crm_core.tickets import Tickets
from crm_core.users import Users
from hub import console
from hub.api.all_routes import api
from hub.api.errors import error_middleware
from hub.campaign_scheduler import CampaignScheduler
from hub.container import SERVICES, Services
from hub.database import open_database
from hub.listeners import Listener, ListenerLoop
from hub.mail_poller import MailPoller
from hub.metrics import Metrics
from hub.nlp_worker import NlpWorker
from hub.outbox_worker import OutboxWorker
from hub.pipeline import Pipeline
from hub.presence import Presence
from hub.ratelimit import LoginThrottle, PerMinuteLimit
from hub.realtime import Realtime
from hub.settings import Settings
from hub.slack_bot import SlackBot
from hub.telegram_bot import TelegramBot
from nlp.analyzer import Analyzer, shared_analyzer
from nlp.labels import INTENTS

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024
SETTINGS = web.AppKey("settings", Settings)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[count_requests, error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_end_websockets)
    api.install(app)
    console.install(app)  # last: its catch-all answers the console's own routes
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_database(settings) as db, aiohttp.ClientSession() as http:
        realtime = Realtime()
        if settings.change_streams:
            await realtime.start(db)
        telegram_app = (
            telegram.build_application(settings.telegram_token, settings.telegram_api_url)
            if settings.telegram_token
            else None
        )
        slack_app = (
            slack.build_app(settings.slack_signing_secret, settings.slack_bot_token, settings.slack_api_url)
            if settings.slack_configured
            else None
        )
        senders = _senders(settings, http)
        if telegram_app is not None:
            senders["telegram"] = telegram.TelegramSender(telegram_app.bot)
        if slack_app is not None:
            senders["slack"] = slack.SlackSender(slack_app.client)
        analyzer = (
            await asyncio.to_thread(shared_analyzer, settings.phone_region) if settings.nlp_worker else None
        )
        services = build_services(settings, db, realtime, senders, analyzer)
        app[SERVICES] = services
        await _bootstrap_admin(services)
        if telegram_app is not None:
            services.telegram = TelegramBot(
                telegram_app, services.pipeline, services.conversations, services.users, services.commands
            )
        if slack_app is not None:
            services.slack = SlackBot(slack_app, services, settings.slack_inbox_channel)
            if (mirror := services.slack.mirror()) is not None:
                services.event_log.subscribe(mirror.name, mirror.types)
                lease = settings.listener_lease_seconds
                services.listeners.append(ListenerLoop(db, mirror, services.metrics, lease_seconds=lease))
        async with _background_work(services):
            log.info("hub ready", extra={"realtime_change_streams": realtime.uses_change_streams})
            yield


@contextlib.asynccontextmanager
async def _background_work(services: Services) -> AsyncIterator[None]:
    """Start the workers and bots; stop them in reverse order, letting deliveries finish."""
    poller = _mail_poller(services.settings, services)
    if services.telegram is not None:
        try:
            await services.telegram.start()
        except TelegramError as exc:
            # One channel's outage must not keep the hub down; its updates and replies retry.
            log.error("Telegram bot could not start", extra={"error": f"{exc.__class__.__name__}: {exc}"})
    services.outbox_worker.start()
    for listener in services.listeners:
        listener.start()
    services.campaign_scheduler.start()
    if services.nlp_worker is not None:
        services.nlp_worker.start()
    if poller is not None:
        poller.start()
    try:
        yield
    finally:
        if poller is not None:
            await poller.stop()
        if services.nlp_worker is not None:
            await services.nlp_worker.stop()
        await services.campaign_scheduler.stop()
        for listener in services.listeners:
            await listener.stop()
        await services.outbox_worker.stop(timeout=services.settings.shutdown_timeout)
        if services.telegram is not None:
            await services.telegram.stop()
        await services.realtime.stop()


async def _end_websockets(app: web.Application) -> None:
    """Long-lived websockets would hold a graceful shutdown until its timeout: end them first
    (clients reconnect to another process, or to this one when it is back)."""
    app[SERVICES].realtime.disconnect_all()


def build_services(
    settings: Settings,
    db: AsyncDatabase,
    realtime: Realtime,
    senders: dict[str, ChannelSender],
    analyzer: Analyzer | None = None,
) -> Services:
    metrics = Metrics()
    listeners: list[ListenerLoop] = []

    def wake_listeners() -> None:
        for loop in listeners:
            loop.wake()

    event_log = EventLog(db, recorded=wake_listeners)
    outbox = Outbox(
        db,
        realtime,
        max_attempts=settings.outbox_max_attempts,
        backoff_base=settings.outbox_backoff_base,
        backoff_cap=settings.outbox_backoff_cap,
    )
    outbox_worker = OutboxWorker(outbox, senders, metrics)
    contacts = Contacts(db, event_log, phone_region=settings.phone_region)
    conversations = Conversations(db, realtime, event_log)
    rollups = Rollups(db, settings.timezone)
    reports = Reports(db, rollups)
    campaigns = Campaigns(db, conversations, contacts, unsubscribe_url=_unsubscribe_url(settings))
    scheduler = CampaignScheduler(campaigns, outbox_worker.wake)
    tickets, leads = Tickets(db, realtime, event_log), Leads(db, realtime, event_log)
    rules = RuleStore(db, INTENTS)
    automation = Automation(
        db, rules, conversations, tickets, leads, campaigns, contacts, enrolled=scheduler.wake
    )
    reactions: list[Listener] = [
        automation,
        rollups,
        Notifications(db, realtime, slack_dm=settings.slack_configured),
        AutomationAudit(db),
    ]
    for reaction in reactions:
        event_log.subscribe(reaction.name, reaction.types)
        listeners.append(ListenerLoop(db, reaction, metrics, lease_seconds=settings.listener_lease_seconds))
    nlp_worker = None
    if analyzer is not None:
        nlp_worker = NlpWorker(db, analyzer, metrics, event_log, lease_seconds=settings.nlp_lease_seconds)
    return Services(
        settings=settings,
        db=db,
        metrics=metrics,
        realtime=realtime,
        contacts=contacts,
        conversations=conversations,
        users=Users(db, token_ttl=timedelta(hours=settings.token_ttl_hours)),
        audit=Audit(db),
        outbox=outbox,
        pipeline=Pipeline(
            contacts, conversations, metrics, to_classify=nlp_worker.notify if nlp_worker else lambda: None
        ),
        outbox_worker=outbox_worker,
        widget_limiter=PerMinuteLimit(settings.widget_new_per_minute),
        widget_messages=PerMinuteLimit(settings.widget_messages_per_minute),
        login_throttle=LoginThrottle(),
        reports=reports,
        commands=Commands(reports, timezone=settings.timezone, sla_minutes=settings.sla_minutes),
        tickets=tickets,
        leads=leads,
        deals=Deals(db, realtime, event_log),
        campaigns=campaigns,
        rules=rules,
        automation=automation,
        intent_reviews=IntentReviews(db, INTENTS, event_log),
        presence=Presence(),
        campaign_scheduler=scheduler,
        nlp_worker=nlp_worker,
        event_log=event_log,
        listeners=listeners,
    )


def _unsubscribe_url(settings: Settings) -> Callable[[ObjectId], str] | None:
    key = settings.unsubscribe_key
    if key is None:
        return None
    return lambda contact_id: (
        f"{settings.base_url}/unsubscribe?c={contact_id}&s={unsubscribe_signature(key, str(contact_id))}"
    )


@web.middleware
async def count_requests(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[SERVICES].metrics.http_requests.labels(route, f"{response.status // 100}xx").inc()
    return response


def _senders(settings: Settings, http: aiohttp.ClientSession) -> dict[str, ChannelSender]:
    senders: dict[str, ChannelSender] = {}
    if settings.chat_secret:
        senders["chat"] = ChatSender(settings.chat_outbound_url, settings.chat_secret, http)
    if settings.widget_secret:
        senders["webchat"] = WebchatSender()
    if settings.smtp_host and settings.smtp_from:
        senders["email"] = EmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            from_address=settings.smtp_from,
            username=settings.smtp_user,
            password=settings.smtp_password,
            security=settings.smtp_security,
            tls_context=settings.tls_context(),
        )
    return senders


def _mail_poller(settings: Settings, services: Services) -> MailPoller | None:
    if not (settings.imap_host and settings.imap_user and settings.imap_password):
        return None
    return MailPoller(
        lambda: ImapMailbox(
            host=settings.imap_host,
            port=settings.imap_port,
            user=settings.imap_user,
            password=settings.imap_password,
            mailbox=settings.imap_mailbox,
            security=settings.imap_security,
            tls_context=settings.tls_context(),
        ),
        services.pipeline,
        MailboxState(services.db),
        poll_seconds=settings.imap_poll_seconds,
        max_attachment_bytes=settings.email_max_attachment_bytes,
    )


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
