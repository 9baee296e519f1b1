"""The shape every polling worker shares: a task that sleeps until woken or until its next
due time, and stops for sure."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)
STOP_TIMEOUT = 5.0


async def cancel_and_wait(task: asyncio.Task | None, name: str) -> None:
    """Cancel a background task and wait, bounded, for it to end. A task that swallowed the
    cancel (a library that turns it into a retry, say) is abandoned with a warning rather than
    left to hold shutdown forever."""
    if task is None or task.done():
        return
    task.cancel()
    _, pending = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
    if pending:
        log.warning("background task did not stop in time; abandoning it", extra={"task": name})


class BackgroundLoop:
    name = "background-loop"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return not self._stopping

    async def stop(self) -> None:
        """Cancel the loop now (work it was doing is found again from the database). The flag
        matters too: on Python 3.11 `wait_for` can swallow a cancel that lands as its timeout
        fires, and the loop then ends at its next turn instead of running on."""
        self._stopping = True
        self._wake.set()
        await cancel_and_wait(self._task, self.name)

    async def _sleep(self, seconds: float) -> None:
        """Until woken or `seconds` pass, whichever is first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(seconds, 0))

    async def _run(self) -> None:
        raise NotImplementedError
