"""Shared fixtures: one real MongoDB-compatible server per test session (the embedded
SecantusDB in memory, or HUB_TEST_MONGO_URI), a fresh database per test, and the real
hub app served over loopback TCP."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, async_playwright

from channels.base import hmac_sha256_signature
from hub.app import create_app
from hub.container import SERVICES, Services
from hub.embedded import EmbeddedServer
from hub.settings import Settings
from tests.fake_slack import FakeSlack
from tests.local_server import LocalServer
from tests.mail_peers import Dovecot, TestCA, make_ca, start_smtp

CHAT_SECRET = "test-chat-secret"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password-1"


# The slow tier: real Chromium, the mail server, processes of their own, the model, and the
# fault and fuzz runs. `bash scripts/test -m "not slow"` leaves them out (about a minute).
SLOW_FIXTURES = {"browser", "dovecot"}
SLOW_MODULES = {
    "test_console_browser", "test_widget_browser", "test_faults", "test_openapi_fuzz", "test_operations",
    "test_nlp", "test_nlp_automation", "test_email",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last result: {result!r})")
        await asyncio.sleep(interval)


async def all_events_handled(db) -> bool:
    """Every domain event handled by every listener (poll it with `eventually`)."""
    return await db.events.count_documents({"pending": {"$ne": []}}) == 0


@pytest.fixture(scope="session")
async def mongo_uri() -> AsyncIterator[str]:
    if uri := os.environ.get("HUB_TEST_MONGO_URI"):
        yield uri
        return
    server = EmbeddedServer(":memory:")
    yield await server.start()
    await server.stop()


@pytest.fixture
def settings(mongo_uri: str, tmp_path: Path) -> Settings:
    return Settings(
        mongo_uri=mongo_uri,
        mongo_db=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path,
        chat_secret=CHAT_SECRET,
        outbox_backoff_base=0.05,
        outbox_backoff_cap=0.2,
        shutdown_timeout=2.0,
        nlp_worker=False,  # tests of NLP and automation switch it on
    )


class Hub:
    """The hub under test, spoken to over HTTP like any client would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.services: Services = client.app[SERVICES]
        self.db = self.services.db

    async def chat(
        self, payload: dict[str, Any] | bytes, *, secret: str = CHAT_SECRET
    ) -> aiohttp.ClientResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "X-Hub-Signature-256": hmac_sha256_signature(secret, body),
            "Content-Type": "application/json",
        }
        return await self.client.post("/webhooks/chat", data=body, headers=headers)

    async def login(self, role: str, email: str | None = None) -> str:
        email = email or f"{role}-{uuid.uuid4().hex[:6]}@staff.example"
        await self.services.users.create(email, PASSWORD, role, name=f"{role.title()} User")
        resp = await self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["token"]

    async def upload(
        self, token: str, conversation_id: Any, content: Any, *, name: str, content_type: str,
        purpose: str | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        """A file uploaded for a reply (or `purpose` note) in the conversation."""
        query = {"name": name} | ({"purpose": purpose} if purpose else {})
        path = f"/api/v1/conversations/{conversation_id}/attachments"
        return await self.call("POST", path, token, params=query, data=content,
                               headers={"Content-Type": content_type})  # fmt: skip

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.client.request(method, path, headers=headers, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body


HubFactory = Callable[..., Awaitable[Hub]]


def serve_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a real `python -m hub serve` on its embedded database in `data_dir`:
    none of the caller's HUB_ settings, the test chat secret, a first admin, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return env | {"HUB_DATA_DIR": str(data_dir), "HUB_PORT": str(port), "HUB_CHAT_SECRET": CHAT_SECRET,
                  "HUB_ADMIN_EMAIL": ADMIN_EMAIL, "HUB_ADMIN_PASSWORD": ADMIN_PASSWORD, **extra}  # fmt: skip


async def start_hub_process(
    data_dir: Path, port: int, log: Path | None = None, **env_extra: str
) -> asyncio.subprocess.Process:
    """A real `python -m hub serve`, once it answers /readyz."""
    env = serve_env(data_dir, port, **env_extra)
    stderr = log.open("wb") if log else asyncio.subprocess.DEVNULL
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "serve", env=env, cwd=data_dir, stderr=stderr
    )

    async def ready():
        try:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            assert process.returncode is None, "hub exited during start-up"
            return False

    await eventually(ready, timeout=60, interval=0.1)
    return process


async def stop_hub_process(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


# Mail that once crashed the hub: raw Latin-1 bytes in headers, and more nested parts than the
# stdlib parser can recurse through.
LATIN1_MAIL = (
    b"From: Jos\xe9 <jose@example.com>\r\nTo: support@example.com\r\nSubject: Se\xf1al\r\n"
    b"Message-ID: <latin1@example.com>\r\n\r\nHola\r\n"
)


def nested_mail(depth: int = 3000) -> bytes:
    parts = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(depth)
    )
    return b"From: a@example.com\r\nMessage-ID: <nested@example.com>\r\n" + parts + b"\r\nbody\r\n"


async def post_email(hub: Hub, raw: bytes, *, secret: str = CHAT_SECRET) -> aiohttp.ClientResponse:
    """POST a raw message to /webhooks/email, signed as a forwarding provider would."""
    headers = {"X-Hub-Signature-256": hmac_sha256_signature(secret, raw), "Content-Type": "message/rfc822"}
    return await hub.client.post("/webhooks/email", data=raw, headers=headers)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (the widget's and the console's tests)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def make_hub(settings: Settings) -> AsyncIterator[HubFactory]:
    clients: list[TestClient] = []

    async def start(**overrides: Any) -> Hub:
        client = TestClient(TestServer(create_app(replace(settings, **overrides))))
        await client.start_server()
        clients.append(client)
        return Hub(client)

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def hub(make_hub: HubFactory) -> Hub:
    return await make_hub()


def unsure_analysis(intent: str, confidence: float = 0.4, model: str = "test-model") -> dict[str, Any]:
    """What the classifier says when it is not sure: for driving automation directly."""
    return {
        "intent": intent,
        "confidence": confidence,
        "confident": False,
        "model": model,
        "entities": [],
        "sentiment": {"label": "neutral", "score": 0.0},
        "urgency": {"urgent": False, "cues": []},
    }


def chat_message(text: str = "Hello, I need help with my order", **fields: Any) -> dict[str, Any]:
    sender = {"id": "customer-1", "name": "Ann Example", "email": "ann@example.com"} | fields.pop(
        "sender", {}
    )
    return {"external_id": uuid.uuid4().hex, "sender": sender, "text": text} | fields


class Receiver(LocalServer):
    """A local HTTP endpoint standing in for the system behind HUB_CHAT_OUTBOUND_URL."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__()
        self.statuses = list(statuses)  # answers to give, in order; 200 once they run out
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/outbound"

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/outbound", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver_factory() -> AsyncIterator[Callable[[list[int]], Awaitable[Receiver]]]:
    receivers: list[Receiver] = []

    async def start(statuses: list[int]) -> Receiver:
        receiver = await Receiver(statuses).start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        await receiver.stop()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> TestCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
async def dovecot(test_ca) -> AsyncIterator[Dovecot]:
    # Not under pytest's tmp dir: that is private to root, and dovecot's auth runs as its own user.
    root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
    root.chmod(0o755)  # noqa: ASYNC240 (test set-up, once per session)
    server = await Dovecot(root, test_ca).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def smtp_server(test_ca):
    controller, inbox = start_smtp(test_ca)
    yield controller, inbox
    controller.stop()
