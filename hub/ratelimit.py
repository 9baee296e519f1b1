"""In-process rate limits (per hub process: a burst split across processes is limited per process)."""

from __future__ import annotations

import time
from collections import defaultdict, deque

RATE_WINDOW = 60.0


class NewVisitorLimiter:
    """New widget visitors (each may open a conversation) per client IP per minute."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, ip: str) -> bool:
        now = time.monotonic()
        recent = self._seen[ip]
        while recent and now - recent[0] > RATE_WINDOW:
            recent.popleft()
        if len(recent) >= self._per_minute:
            return False
        recent.append(now)
        return True
