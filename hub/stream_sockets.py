"""The realtime stream's open sockets in this hub process, by user and by the token they were
opened with: a user may hold only so many (each one costs the fan-out a queue), and a socket
ends with its session (signed out, deactivated, a new password or role)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# A console per browser tab and device, with room to spare; a token opening thousands of
# sockets slowed every delivery of the hub.
MAX_SOCKETS_PER_USER = 10


class TooManySockets(Exception):
    """The user holds MAX_SOCKETS_PER_USER sockets in this process already."""


@dataclass(eq=False)
class StreamSocket:
    user_id: str
    token: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class StreamSockets:
    def __init__(self, per_user: int = MAX_SOCKETS_PER_USER) -> None:
        self._per_user = per_user
        self._open: set[StreamSocket] = set()

    @contextlib.contextmanager
    def opened(self, user_id: str, token: str) -> Iterator[StreamSocket]:
        """Hold a socket for the stream's lifetime; its `ended` is set when its session ends."""
        if sum(1 for socket in self._open if socket.user_id == user_id) >= self._per_user:
            raise TooManySockets(user_id)
        socket = StreamSocket(user_id, token)
        self._open.add(socket)
        try:
            yield socket
        finally:
            self._open.discard(socket)

    def end_token(self, token: str) -> None:
        """The token was revoked: its sockets end."""
        self._end(lambda socket: socket.token == token)

    def end_user(self, user_id: str) -> None:
        """The user's sessions were revoked, or their role changed: all their sockets end."""
        self._end(lambda socket: socket.user_id == user_id)

    def _end(self, ends: Callable[[StreamSocket], bool]) -> None:
        for socket in self._open:
            if ends(socket):
                socket.ended.set()
