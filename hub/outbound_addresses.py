"""Where the hub may send requests to URLs a user gave (webhooks): public addresses only, unless
allow-listed (`HUB_WEBHOOK_ALLOWED_NETWORKS`). A URL is checked when it is given, and again at
every connection by the resolver the delivery's client uses, so a name that later resolves to a
private or metadata address (DNS rebinding) is refused at the moment it would be reached."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hub.settings import Network

Address = IPv4Address | IPv6Address
RESOLVE_SECONDS = 5.0  # a name that takes longer is refused, not waited on


class RefusedAddress(ValueError):
    """A URL the hub will not send to, and why."""


class OutboundAddresses:
    def __init__(self, allowed: Sequence[Network]) -> None:
        self._allowed = tuple(allowed)

    def allowed(self, address: Address) -> bool:
        """Public (globally routable, not multicast), or in the allow-list."""
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self._allowed):
            return True
        return address.is_global and not address.is_multicast

    def check_url(self, url: str) -> tuple[str, int] | None:
        """The URL's host and port, if it is one the hub may post to: https (http only to an
        allow-listed address), and an address written in it allowed (aiohttp connects to one
        without asking a resolver, so it is checked here, at every delivery). None when the
        host is such an address: nothing is left to resolve. Raises RefusedAddress."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise RefusedAddress("url: an http(s) URL with a host")
        if parts.username or parts.password:
            raise RefusedAddress("url: no user name or password in the URL (the signature authenticates)")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise RefusedAddress("url: the port is not a number from 1 to 65535") from exc
        host = parts.hostname
        try:
            literal = ip_address(host)
        except ValueError:
            literal = None
        if parts.scheme == "http" and not (literal is not None and any(literal in n for n in self._allowed)):
            raise RefusedAddress("url: https only (http is for addresses in HUB_WEBHOOK_ALLOWED_NETWORKS)")
        if literal is None:
            return host, port
        if not self.allowed(literal):
            raise RefusedAddress(_refusal(host, host))
        return None

    async def check(self, url: str) -> None:
        """The URL, and every address its host resolves to now."""
        named = self.check_url(url)
        if named is None:
            return
        host, port = named
        resolver = GuardedResolver(self)
        try:
            await resolver.resolve(host, port)
        finally:
            await resolver.close()


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing any address the hub may not reach: the connection is made
    only to the addresses checked here."""

    def __init__(self, addresses: OutboundAddresses) -> None:
        self._addresses = addresses
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                found = await self._resolver.resolve(host, port, family)
        except (OSError, TimeoutError) as exc:
            raise RefusedAddress(f"url: {host} does not resolve") from exc
        refused = [r["host"] for r in found if not self._addresses.allowed(ip_address(r["host"]))]
        if refused:
            raise RefusedAddress(_refusal(host, refused[0]))
        return found

    async def close(self) -> None:
        await self._resolver.close()


def _refusal(host: str, address: str) -> str:
    return (
        f"url: {host} is {address}, a loopback, private, link-local or metadata address "
        "(allow it with HUB_WEBHOOK_ALLOWED_NETWORKS)"
    )
