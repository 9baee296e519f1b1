"""In-process rate limits (per hub process: a burst split across processes is limited per process)."""

from __future__ import annotations

import time
from collections import defaultdict, deque

RATE_WINDOW = 60.0
_SWEEP_EVERY = 1000


class PerMinuteLimit:
    """At most `per_minute` events per key (a client address, a widget visitor) in any minute."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._calls = 0

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        self._sweep(now)
        recent = self._seen[key]
        while recent and now - recent[0] > RATE_WINDOW:
            recent.popleft()
        if len(recent) >= self._per_minute:
            return False
        recent.append(now)
        return True

    def _sweep(self, now: float) -> None:
        """Forget keys quiet for a whole window, so many one-off clients do not pile up."""
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            for key in [k for k, times in self._seen.items() if not times or now - times[-1] > RATE_WINDOW]:
                del self._seen[key]
