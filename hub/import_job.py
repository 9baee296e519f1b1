"""The `import` job: a spreadsheet of contacts imported in batches (crm_core.imports), its lease
renewed after each batch so no other worker takes a long import over."""

from __future__ import annotations

from typing import Any, ClassVar

from crm_core.imports import IMPORT, SpreadsheetImports
from crm_core.jobs import Job, JobFailed, JobQueue, RetryDelays


class ImportJob:
    kind: ClassVar[str] = IMPORT
    retry_delays: ClassVar[RetryDelays] = None  # the queue's backoff

    def __init__(self, imports: SpreadsheetImports, queue: JobQueue) -> None:
        self._imports = imports
        self._queue = queue

    async def run(self, job: Job) -> dict[str, Any]:
        async def alive() -> None:
            await self._queue.renew(job)

        return await self._imports.run(job["payload"]["import_id"], alive)

    async def done(self, job: Job, outcome: Any) -> None:
        return None

    async def failed(self, job: Job, failure: JobFailed, *, final: bool) -> None:
        return None
