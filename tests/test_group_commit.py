"""Group commit: how concurrent writes are gathered into batches (hub.group_commit)."""

from __future__ import annotations

import asyncio
import random

from hub.group_commit import GroupCommit

LONG_LINGER = 10.0  # far longer than anything here should wait: only a wrong wait reaches it
LINGER = 0.05  # well over the callers' spread below (3 ms), well under any timeout


class RecordingWrite:
    """Stands in for the database write: remembers each batch and takes a few milliseconds."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0.005)
        return list(items)


async def test_a_lone_write_never_waits_for_company():
    write = RecordingWrite()
    commit = GroupCommit(write, linger_seconds=LONG_LINGER)
    for n in range(3):
        assert await asyncio.wait_for(commit.submit(n), LONG_LINGER / 2) == n
    assert write.batches == [[0], [1], [2]]


async def test_callers_that_come_straight_back_share_the_next_batch():
    """Eight channels each send their next message as soon as the last one is acknowledged,
    a little apart (as requests arrive over the network). Once the first batch (whoever came
    first) is written, the writes go eight at a time: six batches at most for five rounds,
    instead of the first one back going alone and the rest after it (ten)."""
    write = RecordingWrite()
    commit = GroupCommit(write, linger_seconds=LINGER)

    async def channel(first: int) -> None:
        for n in range(first, first + 5):
            await asyncio.sleep(random.uniform(0, 0.003))
            assert await commit.submit(n) == n

    await asyncio.wait_for(asyncio.gather(*(channel(c * 100) for c in range(8))), LONG_LINGER / 2)
    assert sum(len(batch) for batch in write.batches) == 40
    assert len(write.batches) <= 6, [len(batch) for batch in write.batches]
