"""Removes old message bodies on a schedule (crm_core.retention), when
HUB_MESSAGE_RETENTION_DAYS is set: a batch at a time, then an hour's rest once none is left."""

from __future__ import annotations

import logging
from datetime import timedelta

from pymongo.errors import PyMongoError

from crm_core.records import utcnow
from crm_core.retention import MessageRetention
from hub.background import BackgroundLoop

log = logging.getLogger(__name__)
REST_SECONDS = 3600.0


class RetentionWatch(BackgroundLoop):
    name = "retention"

    def __init__(self, retention: MessageRetention, days: int) -> None:
        super().__init__()
        self._retention = retention
        self._kept = timedelta(days=days)

    async def _run(self) -> None:
        while self.running:
            self._wake.clear()
            try:
                removed = await self._retention.remove_bodies(utcnow() - self._kept)
                if removed:
                    log.info("old message bodies removed", extra={"messages": removed})
                    continue
            except PyMongoError as exc:
                log.warning("retention cannot reach the database", extra={"error": exc.__class__.__name__})
            await self._sleep(REST_SECONDS)
