"""Re-ranks every customer on a schedule (crm_core.customer_value.recompute): recency ages as
days pass without an order, and the customer base's quintiles move. Once at start, then
hourly; idempotent, so several hub processes doing it is only repeated work."""

from __future__ import annotations

import logging

from pymongo.errors import PyMongoError

from crm_core.customer_value import CustomerValue
from hub.background import BackgroundLoop

log = logging.getLogger(__name__)
EVERY_SECONDS = 3600.0


class CustomerValueWatch(BackgroundLoop):
    name = "customer-value"

    def __init__(self, value: CustomerValue) -> None:
        super().__init__()
        self._value = value

    async def _run(self) -> None:
        while self.running:
            self._wake.clear()
            try:
                outcome = await self._value.recompute()
                log.info("customers re-ranked", extra=outcome)
            except PyMongoError as exc:
                log.warning(
                    "the re-ranking cannot reach the database", extra={"error": exc.__class__.__name__}
                )
            await self._sleep(EVERY_SECONDS)
