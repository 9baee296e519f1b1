"""Behind reverse proxies the operator trusts (HUB_TRUSTED_PROXIES), per-address limits apply to
each client, not to the proxy all clients share; a client's own X-Forwarded-For is never
believed."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_network

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.client_address import client_address
from hub.settings import parse_networks
from tests.conftest import PASSWORD

TRUSTED = parse_networks("10.0.0.0/8, 192.0.2.1")
trusted_hops = st.one_of(st.ip_addresses(network="10.0.0.0/8"), st.just(IPv4Address("192.0.2.1"))).map(str)
clients = st.ip_addresses(v=4).filter(lambda ip: not any(ip in net for net in TRUSTED)).map(str)
forged = st.lists(st.one_of(st.ip_addresses().map(str), st.text(max_size=20)), max_size=4)


@given(client=clients, proxies=st.lists(trusted_hops, max_size=4), forged=forged)
def test_the_client_is_the_first_address_no_trusted_proxy_vouches_for(client, proxies, forged):
    """Whatever the client writes in X-Forwarded-For, each trusted proxy appends the address it
    saw, and the hub finds the client behind any number of them."""
    chain = [client, *proxies]
    peer, reported = chain[-1], [*forged, *chain[:-1]]
    header = [", ".join(reported)] if reported else []
    assert client_address(peer, header, TRUSTED) == client


@given(client=clients, forged=forged)
def test_a_client_not_behind_a_trusted_proxy_keeps_its_own_address(client, forged):
    assert client_address(client, [", ".join(forged)], TRUSTED) == client
    assert client_address(client, [", ".join(forged)], ()) == client


def test_trusted_proxies_are_addresses_or_networks():
    assert parse_networks(" 127.0.0.1 ,::1, 10.1.2.3/8,") == (
        ip_network("127.0.0.1/32"),
        ip_network("::1/128"),
        ip_network("10.0.0.0/8"),
    )
    assert client_address("::ffff:127.0.0.1", ["203.0.113.9"], parse_networks("127.0.0.1")) == "203.0.113.9"
    with pytest.raises(ValueError, match=r"'proxy\.internal' is not an IP address"):
        parse_networks("127.0.0.1, proxy.internal")


async def _login(hub, email: str, password: str, client: str) -> int:
    resp = await hub.client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": client}
    )
    return resp.status


async def _spray(hub, client: str | None = None) -> None:
    """50 wrong passwords over 50 accounts: the address limit's allowance."""
    for n in range(50):
        assert await _login(hub, f"user{n}@example.com", "guess", client or f"198.51.100.{n}") == 401


async def test_behind_a_trusted_proxy_a_guesser_throttles_only_itself(make_hub):
    hub = await make_hub(trusted_proxies=parse_networks("127.0.0.1, ::1"))
    await hub.services.users.create("boss@example.com", PASSWORD, "admin")
    await _spray(hub, "203.0.113.9")
    assert await _login(hub, "boss@example.com", "guess", "203.0.113.9") == 429
    assert await _login(hub, "boss@example.com", PASSWORD, "203.0.113.10") == 200


async def test_a_forged_forwarded_address_does_not_escape_the_throttle(hub):
    """No trusted proxies (the default): the header is the client's own text."""
    await hub.services.users.create("boss@example.com", PASSWORD, "admin")
    await _spray(hub)
    assert await _login(hub, "boss@example.com", PASSWORD, "192.0.2.77") == 429


async def test_widget_visitors_behind_a_trusted_proxy_are_limited_per_client(make_hub):
    hub = await make_hub(
        widget_secret="widget-secret",
        widget_new_per_minute=2,
        trusted_proxies=parse_networks("127.0.0.1, ::1"),
    )

    async def hello(client: str) -> aiohttp.WSMessage:
        ws = await hub.client.ws_connect("/widget/ws", headers={"X-Forwarded-For": client})
        await ws.send_json({"type": "hello"})
        return await ws.receive(timeout=5)

    for _ in range(2):
        assert (await hello("203.0.113.9")).json()["type"] == "welcome"
    refused = await hello("203.0.113.9")
    assert refused.type == aiohttp.WSMsgType.CLOSE and refused.data == 4429
    assert (await hello("203.0.113.10")).json()["type"] == "welcome"
