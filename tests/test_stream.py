"""The realtime stream answers by role as the routes do, ends with its session, opens a cookie
session from the hub's own pages only, and holds a bounded number of sockets per user."""

from __future__ import annotations

import re

import aiohttp
import pytest
from bson import ObjectId

from hub.api import stream
from hub.stream_sockets import MAX_SOCKETS_PER_USER
from tests.conftest import PASSWORD, chat_message, eventually

# A record of each kind the stream carries, and the route that reads that kind.
KINDS = {
    "ticket": ("tickets", "/api/v1/tickets"),
    "lead": ("leads", "/api/v1/leads"),
    "deal": ("deals", "/api/v1/deals"),
}


async def _signed_in(hub, role: str) -> tuple[str, str]:
    token = await hub.login(role)
    _, me = await hub.call("GET", "/api/v1/auth/me", token)
    return token, me["id"]


async def _events_until_marker(ws, marker_text: str) -> list[dict]:
    """Every event up to the message.created of the marker (written last, so the change
    stream has delivered or dropped everything written before it)."""
    seen = []
    while True:
        event = await ws.receive_json(timeout=10)
        seen.append(event)
        if event["type"] == "message.created" and event["data"].get("text") == marker_text:
            return seen


@pytest.mark.parametrize("role", ["agent", "sales", "manager"])
async def test_the_stream_shows_a_role_what_its_routes_let_it_read(hub, role):
    token, my_id = await _signed_in(hub, role)
    _, someone_else = await _signed_in(hub, "admin")
    async with hub.client.ws_connect("/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as ws:
        assert (await ws.receive_json())["type"] == "ready"
        for collection, _ in KINDS.values():
            await hub.db[collection].insert_one({"subject": "secret plans", "contact_id": ObjectId()})
        for user_id in (someone_else, my_id):
            await hub.db.notifications.insert_one({"user_id": ObjectId(user_id), "text": f"for {user_id}"})
        await hub.chat(chat_message("marker"))
        events = await _events_until_marker(ws, "marker")
    seen = {event["type"] for event in events}
    for kind, (_, path) in KINDS.items():
        status, _ = await hub.call("GET", path, token)
        assert status in (200, 403)
        assert (f"{kind}.created" in seen) == (status == 200), (role, kind, status)
    notes = [event["data"]["user_id"] for event in events if event["type"] == "notification.created"]
    assert notes == [my_id]


async def _session(hub, role: str) -> tuple[aiohttp.ClientSession, str, str]:
    """A browser's cookie session (its own cookie jar), its CSRF token and user id."""
    email = f"{role}-{ObjectId()}@staff.example"
    user = await hub.services.users.create(email, PASSWORD, role)
    jar = aiohttp.CookieJar(unsafe=True)  # the hub under test is at an IP address
    browser = aiohttp.ClientSession(base_url=str(hub.client.make_url("/")), cookie_jar=jar)
    async with browser.post("/api/v1/auth/session", json={"email": email, "password": PASSWORD}) as resp:
        assert resp.status == 200
        # A whole number of seconds ("2592000.0" is no valid Max-Age: jars drop or shorten it).
        assert re.search(r"Max-Age=[0-9]+;", resp.headers["Set-Cookie"])
        csrf = (await resp.json())["csrf_token"]
    return browser, csrf, str(user["_id"])


async def _ends(ws) -> int:
    """The close code once the hub closes the socket (events before it are skipped)."""

    async def closed():
        message = await ws.receive(timeout=15)
        return message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code

    return await eventually(closed, timeout=15)


async def test_signing_out_ends_the_stream_opened_with_that_session(hub):
    browser, csrf, _ = await _session(hub, "agent")
    async with browser, browser.ws_connect("/api/v1/stream") as ws:
        assert (await ws.receive_json())["type"] == "ready"
        async with browser.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf}) as out:
            assert out.status == 200
        assert await _ends(ws) == stream.SESSION_ENDED


async def test_logging_out_a_cookie_session_ends_it_too(hub):
    browser, csrf, _ = await _session(hub, "agent")
    async with browser:
        async with browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}) as out:
            assert out.status == 200
        async with browser.get("/api/v1/auth/session") as after:
            assert after.status == 401


async def test_deactivating_a_user_ends_their_streams_at_once(hub):
    admin = await hub.login("admin")
    token, user_id = await _signed_in(hub, "agent")
    async with hub.client.ws_connect(f"/api/v1/stream?access_token={token}") as ws:
        assert (await ws.receive_json())["type"] == "ready"
        status, _ = await hub.call("PATCH", f"/api/v1/users/{user_id}", admin, json={"active": False})
        assert status == 200
        assert await _ends(ws) == stream.SESSION_ENDED


async def test_a_sign_out_through_another_hub_process_ends_the_stream_too(make_hub, monkeypatch):
    monkeypatch.setattr(stream, "SESSION_CHECK_SECONDS", 0.2)
    first, second = await make_hub(), await make_hub()
    token, _ = await _signed_in(first, "agent")
    async with first.client.ws_connect(f"/api/v1/stream?access_token={token}") as ws:
        assert (await ws.receive_json())["type"] == "ready"
        status, _ = await second.call("POST", "/api/v1/auth/logout", token)
        assert status == 200
        assert await _ends(ws) == stream.SESSION_ENDED


async def test_a_cookie_session_opens_the_stream_from_the_hubs_own_origin_only(hub):
    browser, _, _ = await _session(hub, "agent")
    own = f"http://{hub.client.host}:{hub.client.port}"
    async with browser:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect("/api/v1/stream", headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        async with browser.ws_connect("/api/v1/stream", headers={"Origin": own}) as ws:
            assert (await ws.receive_json())["type"] == "ready"
    # A token is no ambient credential: an API client may name any origin.
    token = await hub.login("agent")
    headers = {"Origin": "https://tool.example", "Authorization": f"Bearer {token}"}
    async with hub.client.ws_connect("/api/v1/stream", headers=headers) as ws:
        assert (await ws.receive_json())["type"] == "ready"


async def test_one_user_holds_a_bounded_number_of_streams(hub):
    token = await hub.login("agent")
    url = f"/api/v1/stream?access_token={token}"
    sockets = [await hub.client.ws_connect(url) for _ in range(MAX_SOCKETS_PER_USER)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await hub.client.ws_connect(url)
    assert refused.value.status == 429
    other = await hub.login("agent")  # another user is not held back
    async with hub.client.ws_connect(f"/api/v1/stream?access_token={other}") as ws:
        assert (await ws.receive_json())["type"] == "ready"
    await sockets.pop().close()

    async def reopened():
        try:
            sockets.append(await hub.client.ws_connect(url))
        except aiohttp.WSServerHandshakeError:
            return False
        return True

    await eventually(reopened)
    for ws in sockets:
        await ws.close()


async def test_the_query_token_is_taken_only_on_the_streams_real_upgrade(hub):
    token = await hub.login("agent")
    status, _ = await hub.call(
        "GET", f"/api/v1/conversations?access_token={token}", headers={"Upgrade": "websocket"}
    )
    assert status == 401
