"""What the staff console needs from the hub: a cookie session with CSRF protection, inbox
counts, the staff directory, presence over the websocket, and the build served at `/`."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

from hub.presence import STALE_SECONDS, TYPING_SECONDS, viewers
from tests.conftest import PASSWORD, chat_message, eventually


async def sign_in(hub, role: str) -> tuple[dict, str]:
    email = f"{role}-console@staff.example"
    await hub.services.users.create(email, PASSWORD, role, name=f"{role.title()} Console")
    resp = await hub.client.post("/api/v1/auth/session", json={"email": email, "password": PASSWORD})
    assert resp.status == 200
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    body = await resp.json()
    assert "token" not in body
    return body["user"], body["csrf_token"]


async def test_a_browser_session_is_a_cookie_and_changes_need_the_csrf_token(hub):
    user, csrf = await sign_in(hub, "agent")
    # The cookie jar of the test client now holds the session: reads need nothing more.
    resp = await hub.client.get("/api/v1/auth/session")
    assert resp.status == 200 and (await resp.json())["csrf_token"] == csrf
    ack = await (await hub.chat(chat_message())).json()
    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"
    refused = await hub.client.post(path, json={"text": "hi", "private": True})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf"
    forged = await hub.client.post(path, json={"text": "hi", "private": True}, headers={"X-CSRF-Token": "x"})
    assert forged.status == 403
    sent = await hub.client.post(path, json={"text": "hi", "private": True}, headers={"X-CSRF-Token": csrf})
    assert sent.status == 201
    out = await hub.client.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf})
    assert out.status == 200
    assert (await hub.client.get("/api/v1/auth/session")).status == 401
    wrong = await hub.client.post("/api/v1/auth/session", json={"email": user["email"], "password": "nope"})
    assert wrong.status == 401


async def test_inbox_counts_per_view_and_status_and_the_staff_directory(hub):
    token = await hub.login("agent")
    me = (await hub.call("GET", "/api/v1/auth/me", token))[1]
    first = await (await hub.chat(chat_message(sender={"id": "a"}))).json()
    await hub.chat(chat_message(sender={"id": "b"}))
    status, _ = await hub.call(
        "PATCH", f"/api/v1/conversations/{first['conversation_id']}", token, json={"assignee_id": me["id"]}
    )
    assert status == 200
    status, counts = await hub.call("GET", "/api/v1/inbox/counts", token)
    assert status == 200
    assert counts["all"]["open"] == 2 and counts["mine"]["open"] == 1 and counts["unassigned"]["open"] == 1
    assert counts["mine"]["resolved"] == 0
    status, staff = await hub.call("GET", "/api/v1/staff", token)
    assert status == 200 and [s["email"] for s in staff["items"]] == [me["email"]]
    assert "password_hash" not in staff["items"][0]


async def test_presence_says_who_else_has_a_conversation_open(hub):
    ack = await (await hub.chat(chat_message())).json()
    conversation = ack["conversation_id"]
    first, second = await hub.login("agent"), await hub.login("manager")
    ws_first = await hub.client.ws_connect("/api/v1/stream", headers={"Authorization": f"Bearer {first}"})
    ws_second = await hub.client.ws_connect("/api/v1/stream", headers={"Authorization": f"Bearer {second}"})
    assert (await ws_first.receive_json())["type"] == "ready"
    assert (await ws_second.receive_json())["type"] == "ready"
    await ws_first.send_json({"type": "viewing", "conversation_id": conversation})

    async def presence(ws):
        event = await ws.receive_json()
        return event if event["type"] == "presence" else None

    event = await eventually(lambda: presence(ws_second))
    assert event["data"]["conversation_id"] == conversation
    assert [v["name"] for v in event["data"]["viewers"]] == ["Agent User"]
    await ws_first.close()
    left = await eventually(lambda: presence(ws_second))
    assert left["data"] == {"conversation_id": conversation, "viewers": []}
    await ws_second.close()


async def stream_of(hub, token: str):
    return await hub.client.ws_connect("/api/v1/stream", headers={"Authorization": f"Bearer {token}"})


async def test_presence_and_typing_reach_colleagues_on_another_hub_process(make_hub):
    first_hub, second_hub = await make_hub(), await make_hub()  # one database, two processes
    ack = await (await first_hub.chat(chat_message())).json()
    conversation = ack["conversation_id"]
    agent, manager = await first_hub.login("agent"), await second_hub.login("manager")
    ws_agent = await first_hub.client.ws_connect(
        "/api/v1/stream", headers={"Authorization": f"Bearer {agent}"}
    )
    ws_manager = await second_hub.client.ws_connect(
        "/api/v1/stream", headers={"Authorization": f"Bearer {manager}"}
    )
    assert (await ws_agent.receive_json())["type"] == "ready"
    assert (await ws_manager.receive_json())["type"] == "ready"

    async def presence(ws, **wanted):
        event = await ws.receive_json()
        if event["type"] != "presence":
            return None
        viewers = event["data"]["viewers"]
        return event if viewers and all(viewers[0].get(k) == v for k, v in wanted.items()) else None

    await ws_agent.send_json({"type": "viewing", "conversation_id": conversation})
    seen = await eventually(lambda: presence(ws_manager, name="Agent User", typing=False))
    assert seen["data"]["conversation_id"] == conversation
    await ws_agent.send_json({"type": "typing"})
    await eventually(lambda: presence(ws_manager, name="Agent User", typing=True))

    # A console opened later learns who is there from its first frame.
    late = await second_hub.client.ws_connect(
        "/api/v1/stream", headers={"Authorization": f"Bearer {manager}"}
    )
    ready = await late.receive_json()
    assert [v["name"] for v in ready["data"]["presence"][conversation]] == ["Agent User"]
    for ws in (ws_agent, ws_manager, late):
        await ws.close()


def test_a_viewer_whose_process_died_is_no_longer_shown():
    now = datetime.now(UTC)
    record = {"_id": "c1", "viewers": {
        "a": {"id": "u1", "name": "Ann", "at": now, "typing_at": now},
        "b": {"id": "u1", "name": "Ann", "at": now - timedelta(seconds=5)},
        "c": {"id": "u2", "name": "Bob", "at": now - timedelta(seconds=STALE_SECONDS + 1)},
        "d": {"id": "u3", "name": "Cy", "at": now, "typing_at": now - timedelta(seconds=TYPING_SECONDS + 1)},
    }}  # fmt: skip
    assert viewers(record) == [
        {"id": "u1", "name": "Ann", "typing": True}, {"id": "u3", "name": "Cy", "typing": False}]  # fmt: skip


async def test_the_console_build_is_served_with_client_routes_and_cached_assets(
    make_hub, tmp_path, monkeypatch
):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Hub</title>")
    script = b"console.log('hub')" * 100
    (tmp_path / "assets" / "index-abc123.js").write_bytes(script)
    (tmp_path / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(script))
    monkeypatch.setenv("HUB_CONSOLE_DIR", str(tmp_path))
    hub = await make_hub()
    for path in ("/", "/inbox", "/conversations/abc", "/sign-in?next=%2Freports"):
        resp = await hub.client.get(path)
        assert resp.status == 200 and "<title>Hub</title>" in await resp.text(), path
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    asset = await hub.client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert asset.status == 200 and asset.headers["Content-Encoding"] == "gzip"
    assert "immutable" in asset.headers["Cache-Control"] and await asset.read() == script
    assert (await hub.client.get("/assets/missing-000.js")).status == 404
    missing = await hub.client.get("/api/v1/nothing-here")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"


async def test_without_a_build_the_console_says_how_to_make_one(make_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_CONSOLE_DIR", str(tmp_path / "nothing"))
    hub = await make_hub()
    resp = await hub.client.get("/")
    assert resp.status == 503 and "npm run build" in await resp.text()
