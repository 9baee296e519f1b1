"""Who the client is when the hub sits behind reverse proxies the operator trusts
(`HUB_TRUSTED_PROXIES`).

Per-address limits (sign-in throttling, the widget's) and the access log key on the client's
address. Behind a proxy the connection's address is the proxy's, shared by every client: one
guesser would throttle everyone. Each proxy appends the address it saw to X-Forwarded-For, so,
read from the right, a hop is believed while the one that reported it is trusted, and the first
hop not trusted is the client. What a client writes in the header itself is never reached: a
connection not from a trusted proxy keeps its own address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from ipaddress import ip_address

from aiohttp import hdrs, web

from hub.settings import Network

# The client's address as the access log should show it (the log sees the request as received).
CLIENT_ADDRESS = web.RequestKey("client_address", str)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The connection's address (`peer`), or, while the hop at hand is a trusted proxy, the
    address that proxy reported before it. All hops trusted: the first one reported."""
    reported = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    hops = [peer, *reversed([hop for hop in reported if hop])]
    for hop in hops[:-1]:
        if not _trusted(hop, trusted):
            return hop
    return hops[-1]


def _trusted(hop: str | None, trusted: Sequence[Network]) -> bool:
    try:
        address = ip_address(hop or "")
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in trusted)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def forwarded_client(
    trusted: Sequence[Network],
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware: handlers see the client's address as `request.remote`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        remote = client_address(request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, []), trusted)
        if remote is None or remote == request.remote:
            return await handler(request)
        request[CLIENT_ADDRESS] = remote
        return await handler(request.clone(remote=remote))

    return middleware
