"""Login, tokens, passwords and the role matrix."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.conftest import PASSWORD, chat_message


async def test_login_gives_a_token_stored_only_as_a_hash(hub):
    await hub.services.users.create("Agent@Example.com", PASSWORD, "agent")
    status, body = await hub.call(
        "POST", "/api/v1/auth/login", json={"email": "agent@example.com", "password": PASSWORD}
    )
    assert status == 200 and body["user"]["role"] == "agent" and "password_hash" not in body["user"]
    token = body["token"]
    stored = await hub.db.api_tokens.find_one({})
    assert token not in str(stored)
    user = await hub.db.users.find_one({})
    assert user["password_hash"].startswith("$argon2") and PASSWORD not in user["password_hash"]

    status, _ = await hub.call("POST", "/api/v1/auth/logout", token)
    assert status == 200
    status, body = await hub.call("GET", "/api/v1/auth/me", token)
    assert status == 401 and body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "email,password", [("agent@example.com", "wrong-password"), ("nobody@example.com", PASSWORD)]
)
async def test_bad_credentials_are_refused_alike(hub, email, password):
    await hub.services.users.create("agent@example.com", PASSWORD, "agent")
    status, body = await hub.call("POST", "/api/v1/auth/login", json={"email": email, "password": password})
    assert status == 401 and body["error"]["code"] == "bad_credentials"


async def test_deactivated_user_loses_access_at_once(hub):
    admin = await hub.login("admin")
    agent = await hub.login("agent", email="leaver@example.com")
    _, me = await hub.call("GET", "/api/v1/auth/me", agent)
    status, _ = await hub.call("PATCH", f"/api/v1/users/{me['id']}", admin, json={"active": False})
    assert status == 200
    status, _ = await hub.call("GET", "/api/v1/conversations", agent)
    assert status == 401
    status, _ = await hub.call(
        "POST", "/api/v1/auth/login", json={"email": "leaver@example.com", "password": PASSWORD}
    )
    assert status == 401
    assert await hub.db.audit.find_one({"action": "user.update"}) is not None


# (role, method, path template, body, expected status)
MATRIX = [
    ("agent", "GET", "/api/v1/conversations", None, 200),
    ("manager", "GET", "/api/v1/conversations", None, 200),
    ("sales", "GET", "/api/v1/conversations", None, 200),
    ("admin", "GET", "/api/v1/conversations", None, 200),
    ("sales", "GET", "/api/v1/contacts", None, 200),
    ("agent", "POST", "/api/v1/conversations/{conversation}/messages", {"text": "hi", "private": True}, 201),
    (
        "manager",
        "POST",
        "/api/v1/conversations/{conversation}/messages",
        {"text": "hi", "private": True},
        201,
    ),
    ("sales", "POST", "/api/v1/conversations/{conversation}/messages", {"text": "hi"}, 403),
    ("sales", "PATCH", "/api/v1/conversations/{conversation}", {"status": "resolved"}, 403),
    ("agent", "PATCH", "/api/v1/conversations/{conversation}", {"status": "resolved"}, 200),
    ("sales", "POST", "/api/v1/contacts", {"name": "X"}, 403),
    # Sales reps keep contact details and marketing consent up to date too.
    ("sales", "PATCH", "/api/v1/contacts/{contact}", {"name": "X"}, 200),
    ("agent", "PATCH", "/api/v1/contacts/{contact}", {"name": "X"}, 200),
    ("agent", "GET", "/api/v1/users", None, 403),
    ("manager", "GET", "/api/v1/users", None, 403),
    ("admin", "GET", "/api/v1/users", None, 200),
    (
        "manager",
        "POST",
        "/api/v1/users",
        {"email": "n@example.com", "password": "longenough1", "role": "agent"},
        403,
    ),
    (
        "admin",
        "POST",
        "/api/v1/users",
        {"email": "n@example.com", "password": "longenough1", "role": "agent"},
        201,
    ),
    ("agent", "GET", "/api/v1/audit?target_type=contact&target_id={contact}", None, 403),
    ("manager", "GET", "/api/v1/audit?target_type=contact&target_id={contact}", None, 200),
]


@pytest.mark.parametrize("role,method,path,body,expected", MATRIX)
async def test_role_matrix(hub, role, method, path, body, expected):
    ack = await (await hub.chat(chat_message())).json()
    token = await hub.login(role)
    url = path.format(conversation=ack["conversation_id"], contact=ack["contact_id"])
    status, response = await hub.call(method, url, token, json=body)
    assert status == expected, response
    if expected == 403:
        assert response["error"]["code"] == "forbidden"
        assert await hub.db.audit.count_documents({}) == 0


@pytest.mark.slow  # a process of its own
async def test_create_user_command_makes_a_user_that_can_log_in(hub, settings):
    env = {**os.environ, "HUB_MONGO_URI": settings.mongo_uri, "HUB_MONGO_DB": settings.mongo_db}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "create-user", "--email", "cli@example.com", "--password", PASSWORD,
        "--role", "manager", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0 and b"created manager cli@example.com" in out
    status, body = await hub.call(
        "POST", "/api/v1/auth/login", json={"email": "cli@example.com", "password": PASSWORD}
    )
    assert status == 200 and body["user"]["role"] == "manager"
