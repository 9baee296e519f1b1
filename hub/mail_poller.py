"""Reads a configured IMAP mailbox into the pipeline: IDLE where offered, polling otherwise,
remembering the last UID so restarts neither skip nor re-ingest mail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aioimaplib import aioimaplib
from pymongo.errors import PyMongoError

from channels import email
from channels.base import InboundMessage
from crm_core.mailboxes import MailboxState
from crm_core.records import is_transient
from hub.background import cancel_and_wait
from hub.pipeline import Pipeline

log = logging.getLogger(__name__)
RECONNECT_SECONDS = (1, 2, 5, 10, 30, 60)


class MailPoller:
    def __init__(
        self,
        open_mailbox: Callable[[], email.ImapMailbox],
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
                failures = 0
                await self._follow(mailbox, uidvalidity)
            except (aioimaplib.AioImapException, OSError, TimeoutError, PyMongoError) as exc:
                log.warning(
                    "mailbox unavailable; retrying",
                    extra={"mailbox": mailbox.name, "error": f"{exc.__class__.__name__}: {exc}"},
                )
            except Exception:
                # Whatever went wrong, the mailbox must keep being read: say so loudly, go on.
                log.exception("mail poller failed; restarting", extra={"mailbox": mailbox.name})
            finally:
                await mailbox.close()
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])
            failures += 1

    async def _follow(self, mailbox: email.ImapMailbox, uidvalidity: int) -> None:
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
        failure = await self._store(email.parse(raw, max_attachment_bytes=self._max_attachment_bytes))
        if failure is None:
            return
        reason = f"could not store the mail ({failure})"
        log.error("mail could not be stored as read; storing it as damaged", extra={"uid": uid})
        failure = await self._store(email.damaged(raw, reason))
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
