"""The IMAP mailbox the poller reads: new messages by UID, IDLE when offered."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aioimaplib import aioimaplib


class ImapMailbox:
    """One IMAP mailbox: new messages by UID, and a wait that uses IDLE when offered."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        mailbox: str = "INBOX",
        security: str = "tls",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = f"{user}@{host}:{port}/{mailbox}"
        self._host, self._port = host, port
        self._user, self._password = user, password
        self._mailbox = mailbox
        self._security = security
        self._tls_context = tls_context or ssl.create_default_context()
        self._client: aioimaplib.IMAP4 | None = None

    async def open(self) -> int:
        """Connect, log in, select; returns the mailbox's UIDVALIDITY."""
        if self._security == "tls":
            client = aioimaplib.IMAP4_SSL(self._host, self._port, ssl_context=self._tls_context)
        else:
            client = aioimaplib.IMAP4(self._host, self._port)
        self._client = client
        await client.wait_hello_from_server()
        if self._security == "starttls":
            await self._starttls(client)
        _check(await client.login(self._user, self._password), "LOGIN")
        uidvalidity, _ = await self.select()
        return uidvalidity

    async def select(self) -> tuple[int, int]:
        """(UIDVALIDITY, UIDNEXT), fresh from the server. Selecting again is also how the
        poller learns of mail whose EXISTS notice aioimaplib drops between commands."""
        selected = _check(await self._require().select(self._mailbox), "SELECT")
        found = {}
        for line in selected.lines:
            if match := re.search(rb"(UIDVALIDITY|UIDNEXT) (\d+)", bytes(line)):
                found[match.group(1)] = int(match.group(2))
        if b"UIDVALIDITY" not in found:
            raise aioimaplib.Error("server sent no UIDVALIDITY")
        return found[b"UIDVALIDITY"], found.get(b"UIDNEXT", 0)

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        # aioimaplib has no STARTTLS helper: ask, then upgrade the live transport in place.
        protocol = client.protocol
        if protocol is None or not isinstance(protocol.transport, asyncio.WriteTransport):
            raise aioimaplib.Error("not connected")
        await protocol.capability()
        if "STARTTLS" not in protocol.capabilities:
            raise aioimaplib.Error("server does not offer STARTTLS")
        loop = asyncio.get_running_loop()
        _check(
            await protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=loop)),
            "STARTTLS",
        )
        protocol.transport = await loop.start_tls(
            protocol.transport, protocol, self._tls_context, server_hostname=self._host
        )
        await protocol.capability()

    async def fetch_after(self, last_uid: int) -> AsyncIterator[tuple[int, bytes]]:
        """(uid, raw message) for every message with a UID above `last_uid`, oldest first."""
        client = self._require()
        found = _check(await client.uid_search(f"UID {last_uid + 1}:*"), "SEARCH")
        uids = sorted(int(u) for line in found.lines[:1] for u in bytes(line).split() if u.isdigit())
        for uid in (u for u in uids if u > last_uid):
            response = _check(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), "FETCH")
            raw = next((bytes(line) for line in response.lines if isinstance(line, bytearray)), None)
            if raw is not None:
                yield uid, raw

    async def wait_for_new(self, timeout: float) -> None:
        """Return when the server announces new mail (IDLE), or after `timeout` seconds."""
        client = self._require()
        if not client.has_capability("IDLE"):
            await asyncio.sleep(timeout)
            return
        idle = await client.idle_start(timeout=timeout + 5)
        try:
            while True:
                pushed = await client.wait_server_push(timeout=timeout)
                lines = pushed if isinstance(pushed, list) else [pushed]
                if any(isinstance(line, bytes | bytearray) and b"EXISTS" in line for line in lines):
                    break
        except TimeoutError:
            pass
        client.idle_done()
        await asyncio.wait_for(idle, 10)

    async def close(self) -> None:
        """Drop the connection. No LOGOUT: it would wait behind an unfinished IDLE, and the
        server treats a closed connection the same way."""
        client, self._client = self._client, None
        transport = getattr(client.protocol, "transport", None) if client is not None else None
        if transport is not None:
            transport.close()

    def _require(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise aioimaplib.Error("mailbox is not open")
        return self._client


def _check(response: Any, command: str) -> Any:
    if response.result != "OK":
        raise aioimaplib.Error(f"{command} failed: {response.result} {response.lines[-1:]!r}")
    return response
