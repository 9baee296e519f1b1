"""Sends campaign steps when they fall due. All state lives in the enrolments, so a restart
picks up where the last process stopped, and several processes share the work."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pymongo.errors import PyMongoError

from crm_core.marketing import Campaigns
from crm_core.records import utcnow
from hub.background import BackgroundLoop

log = logging.getLogger(__name__)
IDLE_SECONDS = 30.0


class CampaignScheduler(BackgroundLoop):
    name = "campaign-scheduler"

    def __init__(self, campaigns: Campaigns, wake_jobs: Callable[[], None]) -> None:
        super().__init__()
        self._campaigns = campaigns
        self._wake_jobs = wake_jobs

    async def _run(self) -> None:
        while self.running:
            self._wake.clear()
            try:
                if await self.send_due() == 0:
                    due = await self._campaigns.next_due_at()
                    wait = IDLE_SECONDS if due is None else (due - utcnow()).total_seconds()
                    await self._sleep(min(max(wait, 0.05), IDLE_SECONDS))
            except PyMongoError as exc:
                log.warning(
                    "campaign scheduler cannot reach the database", extra={"error": exc.__class__.__name__}
                )
                await self._sleep(1.0)

    async def send_due(self) -> int:
        sent = 0
        while self.running and (enrolment := await self._campaigns.claim_due()) is not None:
            message = await self._campaigns.send_step(enrolment)
            if message is not None:
                sent += 1
                self._wake_jobs()
                log.info(
                    "campaign step queued",
                    extra={"enrolment_id": str(enrolment["_id"]), "step": enrolment["step"]},
                )
        return sent
