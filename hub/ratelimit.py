"""In-process rate limits (per hub process: a burst split across processes is limited per process)."""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator

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


class FailureBackoff:
    """After `free` failures within `window` seconds, a key waits before its next try: 1 s,
    then doubling with each failure, never more than `cap` seconds."""

    def __init__(self, free: int, cap: float, window: float = 900.0) -> None:
        self._free, self._cap, self._window = free, cap, window
        self._strikes: dict[str, tuple[int, float]] = {}

    def wait(self, key: str, now: float) -> float:
        count, last = self._strikes.get(key, (0, 0.0))
        if count < self._free or now - last > self._window:
            return 0.0
        return max(0.0, last + min(self._cap, 2.0 ** (count - self._free)) - now)

    def fail(self, key: str, now: float) -> None:
        count, last = self._strikes.get(key, (0, now))
        self._strikes[key] = (1 if now - last > self._window else count + 1, now)
        if len(self._strikes) > 10_000:
            self._strikes = {k: v for k, v in self._strikes.items() if now - v[1] <= self._window}

    def forget(self, key: str) -> None:
        self._strikes.pop(key, None)

    def withdraw(self, key: str) -> None:
        """Take back one failure (an attempt counted in advance that succeeded)."""
        count, last = self._strikes.get(key, (0, 0.0))
        if count <= 1:
            self._strikes.pop(key, None)
        else:
            self._strikes[key] = (count - 1, last)


class LoginThrottle:
    """Slows password guessing without letting a guesser lock the real user out for long.
    One account from one address gets 5 free tries, then waits up to 5 minutes; an account
    from anywhere gets 20, then waits at most a minute (so guessing from many addresses is
    slowed, yet the real user waits a minute at worst); one address gets 50 failures over all
    accounts, then waits up to 15 minutes (password spraying)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pair = FailureBackoff(free=5, cap=300.0)
        self._account = FailureBackoff(free=20, cap=60.0)
        self._address = FailureBackoff(free=50, cap=900.0)

    def retry_after(self, account: str, address: str) -> float:
        """Seconds this attempt must wait; 0 when it may go ahead."""
        now = self._clock()
        return max(
            self._pair.wait(f"{account}\x1f{address}", now),
            self._account.wait(account, now),
            self._address.wait(address, now),
        )

    def admit(self, account: str, address: str) -> float:
        """Seconds this attempt must wait, or 0 when it may go ahead: then it is counted as a
        failure at once, before the password is checked, so guesses sent together see each
        other (`succeeded` takes the count back)."""
        wait = self.retry_after(account, address)
        if wait == 0:
            self.failed(account, address)
        return wait

    def failed(self, account: str, address: str) -> None:
        now = self._clock()
        self._pair.fail(f"{account}\x1f{address}", now)
        self._account.fail(account, now)
        self._address.fail(address, now)

    def succeeded(self, account: str, address: str) -> None:
        """An admitted attempt was right: the account's failures are forgotten, and the
        address's count loses the one taken in advance."""
        self._pair.forget(f"{account}\x1f{address}")
        self._account.forget(account)
        self._address.withdraw(address)


class ConcurrencyLimit:
    """At most `per_key` calls at once per key (a user's searches: each may read thousands of
    records, and twenty at once made everyone else's requests wait seconds)."""

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._running: Counter[str] = Counter()

    @contextlib.contextmanager
    def slot(self, key: str) -> Iterator[bool]:
        """Whether a slot was free; when it was, it is held until the block ends."""
        if self._running[key] >= self._per_key:
            yield False
            return
        self._running[key] += 1
        try:
            yield True
        finally:
            self._running[key] -= 1
            if not self._running[key]:
                del self._running[key]
