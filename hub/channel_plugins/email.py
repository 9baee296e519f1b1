"""Email: mail read from an IMAP mailbox (IDLE where offered, polling otherwise, remembering
the last UID so restarts neither skip nor re-ingest mail) or forwarded to a signed webhook;
replies sent by SMTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aioimaplib import aioimaplib
from pymongo.errors import PyMongoError

from channels.base import InboundMessage, PayloadError
from channels.email.imap import ImapMailbox
from channels.email.parse import CHANNEL, SIGNATURE_HEADER, damaged, verify
from channels.email.parse import parse as parse_mail
from channels.email.smtp import REPLY_ATTACHMENTS, EmailSender
from crm_core.mailboxes import MailboxState
from crm_core.records import is_transient
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import Call
from hub.background import cancel_and_wait
from hub.channel_plugins.contract import ChannelContext, ChannelPlugin
from hub.channel_plugins.serving import acknowledge, running
from hub.pipeline import Pipeline
from hub.settings import Settings

log = logging.getLogger(__name__)
RECONNECT_SECONDS = (1, 2, 5, 10, 30, 60)


class MailPoller:
    def __init__(
        self,
        open_mailbox: Callable[[], ImapMailbox],
        pipeline: Pipeline,
        state: MailboxState,
        *,
        poll_seconds: float,
        max_attachment_bytes: int,
    ) -> None:
        self._open_mailbox = open_mailbox
        self._pipeline = pipeline
        self._state = state
        self._poll_seconds = poll_seconds
        self._max_attachment_bytes = max_attachment_bytes
        self._task: asyncio.Task | None = None
        self.problem: str | None = None  # why the mailbox cannot be read now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-poller")

    async def stop(self) -> None:
        await cancel_and_wait(self._task, "mail-poller")

    async def _run(self) -> None:
        failures = 0
        while True:
            mailbox = self._open_mailbox()
            try:
                uidvalidity = await mailbox.open()
                failures, self.problem = 0, None
                await self._follow(mailbox, uidvalidity)
            except (aioimaplib.AioImapException, OSError, TimeoutError, PyMongoError) as exc:
                self.problem = f"{exc.__class__.__name__}: {exc}"
                log.warning(
                    "mailbox unavailable; retrying", extra={"mailbox": mailbox.name, "error": self.problem}
                )
            except Exception as exc:
                # Whatever went wrong, the mailbox must keep being read: say so loudly, go on.
                self.problem = f"{exc.__class__.__name__}: {exc}"
                log.exception("mail poller failed; restarting", extra={"mailbox": mailbox.name})
            finally:
                await mailbox.close()
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])
            failures += 1

    async def _follow(self, mailbox: ImapMailbox, uidvalidity: int) -> None:
        last_uid = await self._state.last_uid(mailbox.name, uidvalidity)
        log.info("mailbox open", extra={"mailbox": mailbox.name, "last_uid": last_uid})
        read_up_to = None  # the UIDNEXT the last read covered
        while True:
            current_validity, uidnext = await mailbox.select()
            if current_validity != uidvalidity:
                raise aioimaplib.Error("UIDVALIDITY changed; reconnecting to read the mailbox afresh")
            if uidnext == read_up_to:
                # Nothing arrived since the last read; mail arriving from now on is announced in IDLE.
                await mailbox.wait_for_new(self._poll_seconds)
                continue
            read_up_to = uidnext
            async for uid, raw in mailbox.fetch_after(last_uid):
                await self._ingest(mailbox.name, uid, raw)
                last_uid = uid
                await self._state.save(mailbox.name, uidvalidity, uid)

    async def _ingest(self, mailbox: str, uid: int, raw: bytes) -> None:
        """One mail, and never a mail that blocks the mailbox: if it cannot be stored as read,
        it is stored as damaged (flags.error); if not even that, it is parked in the mailbox
        state with the reason (it stays on the IMAP server) and the poller moves on. Only a
        database outage stops here, to be retried."""
        failure = await self._store(parse_mail(raw, max_attachment_bytes=self._max_attachment_bytes))
        if failure is None:
            return
        reason = f"could not store the mail ({failure})"
        log.error("mail could not be stored as read; storing it as damaged", extra={"uid": uid})
        failure = await self._store(damaged(raw, reason))
        if failure is not None:
            log.error("damaged mail parked", extra={"uid": uid, "error": failure})
            await self._state.park(mailbox, uid, f"{reason}; as damaged: {failure}")

    async def _store(self, message: InboundMessage) -> str | None:
        """None once stored; the name of the error when the database refused the message (an
        outage is raised, to be retried)."""
        try:
            await self._pipeline.ingest(message)
        except Exception as exc:
            if is_transient(exc):
                raise
            return exc.__class__.__name__
        return None


class EmailChannel(ChannelPlugin):
    name = CHANNEL
    settings_hint = "none of HUB_EMAIL_WEBHOOK_SECRET, HUB_CHAT_SECRET, HUB_IMAP_*, HUB_SMTP_* is set"
    routes = RouteTable()
    reply_attachments = REPLY_ATTACHMENTS

    def __init__(self, context: ChannelContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.webhook_secret = settings.email_secret
        if _smtp_configured(settings):
            self.sender = EmailSender(
                host=settings.smtp_host or "",
                port=settings.smtp_port,
                from_address=settings.smtp_from or "",
                username=settings.smtp_user,
                password=settings.smtp_password,
                security=settings.smtp_security,
                tls_context=settings.tls_context(),
            )
        self.poller = _mail_poller(context) if _imap_configured(settings) else None

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.email_secret or _imap_configured(settings) or _smtp_configured(settings))

    async def start(self) -> None:
        if self.poller is not None:
            self.poller.start()

    async def stop(self) -> None:
        if self.poller is not None:
            await self.poller.stop()

    def health(self) -> dict[str, Any]:
        # Reading the mailbox is what can fail here (the webhook and SMTP fail per request).
        self.problem = self.poller.problem if self.poller is not None else None
        return super().health() | {
            "webhook": bool(self.webhook_secret),
            "reads_mailbox": self.poller is not None,
        }


def _imap_configured(settings: Settings) -> bool:
    return bool(settings.imap_host and settings.imap_user and settings.imap_password)


def _smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_from)


def _mail_poller(context: ChannelContext) -> MailPoller:
    settings = context.settings
    return MailPoller(
        lambda: ImapMailbox(
            host=settings.imap_host or "",
            port=settings.imap_port,
            user=settings.imap_user or "",
            password=settings.imap_password or "",
            mailbox=settings.imap_mailbox,
            security=settings.imap_security,
            tls_context=settings.tls_context(),
        ),
        context.pipeline,
        MailboxState(context.db),
        poll_seconds=settings.imap_poll_seconds,
        max_attachment_bytes=settings.email_max_attachment_bytes,
    )


@EmailChannel.routes.route(
    "POST",
    "/webhooks/email",
    summary="Email forwarded by HTTP: one raw RFC 5322 message, signed with X-Hub-Signature-256 "
    "(HMAC-SHA256 of the raw body with HUB_EMAIL_WEBHOOK_SECRET, else HUB_CHAT_SECRET). "
    "201 when stored, 200 with duplicate=true for a redelivery (same Message-ID).",
    tag="webhooks",
    roles=None,
    raw_body="message/rfc822",
    ok_status=201,
)
async def email_webhook(call: Call) -> web.Response:
    channel = running(call, EmailChannel)
    secret = channel.webhook_secret
    if not secret:
        raise ApiError(404, "channel_disabled", "the email webhook is off (no HUB_EMAIL_WEBHOOK_SECRET)")
    body = await call.request.read()
    verify(secret, body, call.request.headers.get(SIGNATURE_HEADER))
    if not body.strip():
        raise PayloadError("the body must be a raw RFC 5322 message")
    limit = channel.context.settings.email_max_attachment_bytes
    return await acknowledge(channel, parse_mail(body, max_attachment_bytes=limit))
