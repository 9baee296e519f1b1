"""Notices tickets whose SLA due time is near (`ticket.sla_warning`) or passed unmet
(`ticket.breached`) and records it (the roll-ups count breaches, the notifications listener
tells the assignee of both). Time-based, so a loop rather than a reaction to a change; each
is recorded once across processes."""

from __future__ import annotations

import logging

from pymongo.errors import PyMongoError

from crm_core.records import utcnow
from crm_core.tickets import Tickets
from hub.background import BackgroundLoop

log = logging.getLogger(__name__)
IDLE_SECONDS = 15.0  # a warning or breach is noticed at most this late (tickets opened meanwhile included)


class SlaWatch(BackgroundLoop):
    name = "sla-watch"

    def __init__(self, tickets: Tickets) -> None:
        super().__init__()
        self._tickets = tickets

    async def _run(self) -> None:
        while self.running:
            self._wake.clear()
            try:
                if await self._tickets.record_sla_marks():
                    continue
                due = await self._tickets.next_due_at()
                wait = IDLE_SECONDS if due is None else (due - utcnow()).total_seconds() + 0.05
                await self._sleep(min(max(wait, 0.05), IDLE_SECONDS))
            except PyMongoError as exc:
                log.warning("SLA watch cannot reach the database", extra={"error": exc.__class__.__name__})
                await self._sleep(1.0)
