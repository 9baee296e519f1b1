"""Small asyncio helpers shared by the long-lived connections."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_first_done(*coroutines: Coroutine[Any, Any, Any]) -> None:
    """Run side by side until one finishes (a socket closed, a stream ended); cancel the rest.
    An error that ended one is raised here, once the others are stopped."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
