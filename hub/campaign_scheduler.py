"""Sends campaign steps when they fall due. All state lives in the enrolments, so a restart
picks up where the last process stopped, and several processes share the work."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pymongo.errors import PyMongoError

from crm_core.marketing import Campaigns
from crm_core.records import utcnow

log = logging.getLogger(__name__)
IDLE_SECONDS = 30.0


class CampaignScheduler:
    def __init__(self, campaigns: Campaigns, wake_outbox) -> None:
        self._campaigns = campaigns
        self._wake_outbox = wake_outbox
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="campaign-scheduler")

    def wake(self) -> None:
        """Someone was enrolled: their first step may be due now."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if await self.send_due() == 0:
                    due = await self._campaigns.next_due_at()
                    wait = IDLE_SECONDS if due is None else (due - utcnow()).total_seconds()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), min(max(wait, 0.05), IDLE_SECONDS))
            except PyMongoError as exc:
                log.warning(
                    "campaign scheduler cannot reach the database", extra={"error": exc.__class__.__name__}
                )
                await asyncio.sleep(1.0)

    async def send_due(self) -> int:
        sent = 0
        while (enrolment := await self._campaigns.claim_due()) is not None:
            message = await self._campaigns.send_step(enrolment)
            if message is not None:
                sent += 1
                self._wake_outbox()
                log.info(
                    "campaign step queued",
                    extra={"enrolment_id": str(enrolment["_id"]), "step": enrolment["step"]},
                )
        return sent
