"""Group commit: concurrent callers' writes are gathered and written as one batch.

While a batch is being written, new writes queue up and go together in the next one, so under
load the database sees a few large writes instead of many small concurrent ones (the embedded
server is several times faster that way), and an idle hub still writes each item at once.
Each caller is answered only after its own batch is written.

Under load a batch also waits a moment (`linger_seconds`) before it is taken: the callers of
the batch just written write again at once (a channel's next message), and without the wait
the first of them would go alone, the rest in the batch after, and batches would alternate
between tiny and full (measured: a third of them held 1-3 writes). A lone caller (the last
batch held one write, or none lately) never waits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from pymongo.errors import ConnectionFailure

log = logging.getLogger(__name__)
RECENT_SECONDS = 0.1  # a batch written this lately means its callers are still coming back
Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[Sequence[Item]], Awaitable[list[Result]]],
        *,
        max_batch: int = 64,
        linger_seconds: float = 0.005,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._last_batch = (0, 0.0)  # its size and when it was written (monotonic)
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # A caller that goes away cancels only its own future; the batch goes on for the others.
        return await future

    async def _drain(self) -> None:
        while self._queue:
            if self._under_load():
                await asyncio.sleep(self._linger)
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            await self._write_batch(batch)
            self._last_batch = (len(batch), time.monotonic())

    def _under_load(self) -> bool:
        """The last batch was shared and written moments ago: its callers are coming back."""
        size, written = self._last_batch
        recent = time.monotonic() - written < RECENT_SECONDS
        return size > 1 and recent and len(self._queue) < self._max_batch

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except ConnectionFailure as exc:
            _settle(batch, exception=exc)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch, exception=exc)
                return
            # One item the database refuses must not fail the others: write each alone.
            log.warning("a batch failed; writing its items one by one", extra={"error": repr(exc)})
            for one in batch:
                await self._write_batch([one])
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


def _settle(batch: Sequence[tuple[object, asyncio.Future[Any]]], *, exception: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exception)
