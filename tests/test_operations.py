"""Health, readiness, metrics, the OpenAPI document, the demo, restarts and start-up errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aiohttp
from pymongo import AsyncMongoClient

from channels.base import hmac_sha256_signature
from hub.embedded import EmbeddedServer, embedded_uri
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CHAT_SECRET,
    Hub,
    chat_message,
    eventually,
    start_hub_process,
    stop_hub_process,
)
from tests.mail_peers import free_port


async def test_health_readiness_and_metrics(hub):
    assert (await hub.call("GET", "/healthz"))[0] == 200
    status, ready = await hub.call("GET", "/readyz")
    assert status == 200 and ready["realtime"] == "change_streams"
    payload = chat_message()
    await hub.chat(payload)
    await hub.chat(payload)
    await hub.chat(b"{")
    status, text = await hub.call("GET", "/metrics")
    assert status == 200
    assert 'hub_ingest_messages_total{channel="chat",result="stored"} 1.0' in text
    assert 'hub_ingest_messages_total{channel="chat",result="duplicate"} 1.0' in text
    assert 'hub_ingest_messages_total{channel="chat",result="rejected"} 1.0' in text
    assert 'hub_ingest_seconds_count{channel="chat"} 2.0' in text
    assert 'hub_http_requests_total{route="/webhooks/chat",status="4xx"} 1.0' in text


async def test_every_route_is_in_the_openapi_document(hub):
    status, spec = await hub.call("GET", "/api/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in hub.client.app.router.routes()
        if route.method != "HEAD" and not (route.name or "").startswith("console-")
    }
    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations}
    assert served == documented
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    schema_name = login["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][schema_name]["properties"]) == {"email", "password"}
    assert spec["paths"]["/api/v1/conversations"]["get"]["security"] == [{"bearer": []}]


async def test_readyz_turns_503_when_the_database_goes_away(make_hub):
    server = EmbeddedServer(":memory:")
    uri = await server.start()
    hub = await make_hub(mongo_uri=uri, mongo_timeout_ms=300)
    assert (await hub.call("GET", "/readyz"))[0] == 200
    await server.stop()
    status, body = await hub.call("GET", "/readyz")
    assert status == 503 and body["error"]["code"] == "database_unavailable"
    token_status, body = await hub.call("GET", "/api/v1/conversations", headers={"Authorization": "Bearer x"})
    assert token_status == 503 and body["error"]["code"] == "database_unavailable"


async def test_demo_fills_a_fresh_hub_through_the_pipeline(settings, make_hub):
    from hub.demo import fill

    assert await fill(settings) == 0
    hub: Hub = await make_hub()
    assert await hub.db.conversations.count_documents({}) >= 30
    assert await hub.db.contacts.count_documents({}) == 12
    assert await hub.db.messages.count_documents({"direction": "in", "nlp.status": "pending"}) >= 40
    assert await hub.db.conversations.count_documents({"status": "resolved"}) >= 1
    assert await fill(settings) == 1  # refuses to pile demo data onto a hub that has some


async def test_start_up_drops_the_indexes_earlier_versions_made_and_nothing_reads(make_hub):
    first = await make_hub()
    await first.db.conversations.create_index("waiting_since", name="sla_waiting", sparse=True)
    await first.db.messages.create_index([("created_at", 1), ("channel", 1)], name="reports_period")
    old_identity = [("identities.channel", 1), ("identities.external_id", 1)]
    await first.db.contacts.create_index(old_identity, name="identity", unique=True, sparse=True)
    upgraded = await make_hub()
    contacts = await upgraded.db.contacts.index_information()
    assert "identity" not in contacts and contacts["identity_by_external_id"]["unique"]
    conversations = await upgraded.db.conversations.index_information()
    assert "sla_waiting" not in conversations and "inbox_status" in conversations
    messages = await upgraded.db.messages.index_information()
    assert "reports_period" not in messages and "thread" in messages


async def test_the_hub_writes_to_the_embedded_server_without_retryable_writes(hub):
    """That server keeps each retryable write's record for 30 minutes and scans them all on every
    write (sorting them past 10,000): ingest from new customers fell from 160 to 31 msg/s after
    8,000 of them (bench/README.md). The hub, and every client of the URI it is given, write
    without them."""
    assert hub.db.client.options.retry_writes is False
    client = AsyncMongoClient(embedded_uri(27017), connect=False)
    assert client.options.retry_writes is False
    await client.close()


async def test_data_survives_a_stop_and_start_of_the_hub_on_its_embedded_database(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(chat_message("remember me", external_id="persist-1")).encode()
    headers = {"X-Hub-Signature-256": hmac_sha256_signature(CHAT_SECRET, body)}
    process = await start_hub_process(tmp_path, port)
    assert (tmp_path / "embedded.port").exists()  # lets `create-user`/`demo` share the running server
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/webhooks/chat", data=body, headers=headers) as resp,
    ):
        assert resp.status == 201
        first = await resp.json()
    assert await stop_hub_process(process) == 0
    assert not (tmp_path / "embedded.port").exists()

    process = await start_hub_process(tmp_path, port)
    try:
        async with aiohttp.ClientSession() as http:
            login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            async with http.post(f"{base}/api/v1/auth/login", json=login) as resp:
                token = (await resp.json())["token"]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(
                f"{base}/api/v1/conversations/{first['conversation_id']}/messages", headers=auth
            ) as resp:
                assert [m["text"] for m in (await resp.json())["items"]] == ["remember me"]
            async with http.post(f"{base}/webhooks/chat", data=body, headers=headers) as resp:
                assert resp.status == 200 and (await resp.json())["id"] == first["id"]
    finally:
        assert await stop_hub_process(process) == 0


async def test_unreachable_database_is_one_clear_line_and_a_nonzero_exit(tmp_path):
    env = {
        **os.environ,
        "HUB_MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/",
        "HUB_MONGO_TIMEOUT_MS": "300",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "serve", "--port", str(free_port()), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    error_lines = [line for line in err.decode().splitlines() if line.startswith("hub: ")]
    assert error_lines == [error_lines[0]] and "cannot reach MongoDB" in error_lines[0]
    assert "Traceback" not in err.decode()


async def test_no_token_reaches_the_log_and_half_sent_requests_are_closed(tmp_path):
    port, log = free_port(), tmp_path / "hub.log"
    process = await start_hub_process(tmp_path, port, log, HUB_HTTP_IDLE_SECONDS="1")
    try:
        # An over-long request line and header make aiohttp log the request's first bytes.
        for request in (
            b"GET /api/v1/stream?access_token=SECRET-TOKEN-1" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nAuthorization: Bearer SECRET-TOKEN-2" + b"y" * 9000 + b"\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            assert (await reader.read(100)).split(b" ")[1].startswith(b"4")
            writer.close()
        # A client that never finishes its headers is closed after HUB_HTTP_IDLE_SECONDS.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    finally:
        assert await stop_hub_process(process) == 0
    text = log.read_text()
    # Requests aiohttp cannot parse are a debug line each, so nobody fills the log with them.
    assert "Error handling request" not in text and "Traceback" not in text and "LineTooLong" not in text
    assert "SECRET-TOKEN" not in text
    assert ADMIN_EMAIL not in text  # the first admin's email is not logged either


async def test_a_client_that_leaves_mid_request_is_one_debug_line_not_an_error(tmp_path):
    """A dropped connection used to log an error with a traceback and count as a 500: anyone
    could fill the log. (Served as in production: aiohttp's test server cancels instead.)"""
    port, log = free_port(), tmp_path / "hub.log"
    process = await start_hub_process(tmp_path, port, log, HUB_LOG_LEVEL="debug")
    head = b'POST /webhooks/chat HTTP/1.1\r\nHost: hub\r\nContent-Length: 1000\r\n\r\n{"text": '
    try:
        for _ in range(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def counted():
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            lines = text.splitlines()
            return [
                line for line in lines if line.startswith('hub_http_requests_total{route="/webhooks/chat"')
            ]

        [line] = await eventually(counted)
        assert 'status="4xx"' in line
    finally:
        assert await stop_hub_process(process) == 0
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    gone = [e for e in entries if e["msg"] == "client closed the connection"]
    assert len(gone) == 5 and all(e["level"] == "debug" and "exc" not in e for e in gone)
    assert not [e for e in entries if e["level"] in ("warning", "error", "critical")]
