"""Password guessing is slowed (429 with Retry-After, counted in /metrics) without letting a
guesser keep the real user out for long."""

from __future__ import annotations

import asyncio

from hub.ratelimit import LoginThrottle
from tests.conftest import PASSWORD


async def test_repeated_wrong_passwords_get_429_with_retry_after(hub):
    await hub.services.users.create("boss@example.com", PASSWORD, "admin")
    statuses = []
    for _ in range(12):
        resp = await hub.client.post(
            "/api/v1/auth/login", json={"email": "boss@example.com", "password": "guess"}
        )
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            assert (await resp.json())["error"]["code"] == "too_many_attempts"
    assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
    # Throttled attempts are refused before the password is checked: even the right one waits.
    right = await hub.client.post(
        "/api/v1/auth/login", json={"email": "boss@example.com", "password": PASSWORD}
    )
    assert right.status == 429
    _, metrics = await hub.call("GET", "/metrics")
    assert 'hub_logins_total{result="failed"} 5.0' in metrics
    assert 'hub_logins_total{result="throttled"}' in metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_guesser_elsewhere_keeps_the_real_user_out_a_minute_at_most():
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(200):  # the attacker, as fast as they are let
        clock.now += throttle.retry_after("boss@example.com", "203.0.113.9")
        throttle.failed("boss@example.com", "203.0.113.9")
    assert throttle.retry_after("boss@example.com", "203.0.113.9") > 60  # the guesser waits long
    assert 0 < throttle.retry_after("boss@example.com", "198.51.100.7") <= 60  # the user a minute at most
    clock.now += 61
    assert throttle.retry_after("boss@example.com", "198.51.100.7") == 0
    throttle.succeeded("boss@example.com", "198.51.100.7")


def test_one_address_guessing_many_accounts_is_slowed():
    clock = Clock()
    throttle = LoginThrottle(clock)
    for n in range(50):
        throttle.failed(f"user{n}@example.com", "203.0.113.9")
    assert throttle.retry_after("someone-new@example.com", "203.0.113.9") > 0
    assert throttle.retry_after("someone-new@example.com", "198.51.100.7") == 0


def test_failures_are_forgotten_after_the_window():
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(6):
        throttle.failed("a@example.com", "203.0.113.9")
    assert throttle.retry_after("a@example.com", "203.0.113.9") > 0
    clock.now += 901
    assert throttle.retry_after("a@example.com", "203.0.113.9") == 0


async def test_guesses_sent_together_are_throttled_like_guesses_in_a_row(hub):
    """The failure count used to be read before the password check and written after it, so
    300 guesses sent at once all reached the check."""
    await hub.services.users.create("boss@example.com", PASSWORD, "admin")

    async def guess() -> int:
        body = {"email": "boss@example.com", "password": "guess"}
        async with hub.client.post("/api/v1/auth/login", json=body) as resp:
            return resp.status

    statuses = await asyncio.gather(*(guess() for _ in range(60)))
    assert statuses.count(401) == 5 and statuses.count(429) == 55


def test_right_passwords_from_one_address_never_add_up_to_a_block():
    """Each attempt is counted in advance; a success takes its count back, so colleagues
    signing in behind one office address are never taken for a password sprayer."""
    throttle = LoginThrottle(Clock())
    for n in range(200):
        assert throttle.admit(f"user{n}@example.com", "203.0.113.9") == 0
        throttle.succeeded(f"user{n}@example.com", "203.0.113.9")
    assert throttle.retry_after("someone@example.com", "203.0.113.9") == 0
