"""Logging in and out, and user management (admins only)."""

from __future__ import annotations

import math

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_core.users import public_user
from crm_core.vocabularies import ADMINS, ALL_STAFF, Role
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import SESSION_COOKIE, Call, bearer_token, csrf_token, json_ok

routes = RouteTable()


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class NewUserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    role: Role
    name: str | None = Field(default=None, max_length=200)


class UserChangesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


async def _sign_in(call: Call) -> tuple[str, dict]:
    """(token, user) for the body's email and password, throttled per account and address."""
    services = call.services
    account, address = call.body.email.strip().lower(), call.request.remote or "?"
    if (wait := services.login_throttle.admit(account, address)) > 0:
        services.metrics.logins.labels("throttled").inc()
        raise ApiError(
            429,
            "too_many_attempts",
            "too many failed sign-ins; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    result = await services.users.login(call.body.email, call.body.password)
    if result is None:
        services.metrics.logins.labels("failed").inc()
        raise ApiError(401, "bad_credentials", "wrong email or password, or the account is inactive")
    services.login_throttle.succeeded(account, address)
    services.metrics.logins.labels("succeeded").inc()
    return result


@routes.route("POST", "/api/v1/auth/login", summary="Exchange email and password for a bearer token.",
           tag="auth", roles=None, body=LoginBody)  # fmt: skip
async def login(call: Call) -> web.Response:
    token, user = await _sign_in(call)
    return json_ok({"token": token, "user": public_user(user)})


@routes.route("POST", "/api/v1/auth/session",
           summary="Sign a browser in: an HttpOnly, SameSite=Strict session cookie (Secure behind "
           "HTTPS) and the CSRF token that its state-changing requests must send as X-CSRF-Token.",
           tag="auth", roles=None, body=LoginBody)  # fmt: skip
async def open_session(call: Call) -> web.Response:
    token, user = await _sign_in(call)
    response = json_ok({"user": public_user(user), "csrf_token": csrf_token(token)})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(call.services.settings.token_ttl_hours * 3600),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_over_https(call),
    )
    return response


@routes.route("GET", "/api/v1/auth/session", summary="The signed-in browser's user and CSRF token.",
           tag="auth", roles=ALL_STAFF)  # fmt: skip
async def current_session(call: Call) -> web.Response:
    token = call.request.cookies.get(SESSION_COOKIE) or bearer_token(call.request) or ""
    return json_ok({"user": public_user(call.actor), "csrf_token": csrf_token(token)})


@routes.route("DELETE", "/api/v1/auth/session", summary="Sign the browser out: revoke its session.",
           tag="auth", roles=ALL_STAFF)  # fmt: skip
async def close_session(call: Call) -> web.Response:
    return await _end_session(call)


async def _end_session(call: Call) -> web.Response:
    """Revoke the token the request was signed in with (bearer or session cookie), close the
    realtime streams it opened, and drop the cookie."""
    await call.services.users.logout(call.token)
    call.services.stream_sockets.end_token(call.token)
    response = json_ok({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _over_https(call: Call) -> bool:
    forwarded = call.request.headers.get("X-Forwarded-Proto", "")
    return call.request.secure or forwarded == "https" or call.services.settings.base_url.startswith("https:")


@routes.route("POST", "/api/v1/auth/logout", summary="Revoke the token or session used for this request.",
           tag="auth", roles=ALL_STAFF)  # fmt: skip
async def logout(call: Call) -> web.Response:
    return await _end_session(call)


@routes.route(
    "GET", "/api/v1/auth/me", summary="The user this token belongs to.", tag="auth", roles=ALL_STAFF
)
async def me(call: Call) -> web.Response:
    return json_ok(public_user(call.actor))


@routes.route("POST", "/api/v1/auth/link-code", summary="A one-time code to link your Telegram or Slack "
           "account: send `/link CODE` to the bot (Telegram) or `/hub link CODE` (Slack).",
           tag="auth", roles=ALL_STAFF, ok_status=201)  # fmt: skip
async def link_code(call: Call) -> web.Response:
    code, expires_at = await call.services.users.issue_link_code(call.actor)
    return json_ok({"code": code, "expires_at": expires_at}, status=201)


@routes.route("GET", "/api/v1/staff", summary="Active colleagues (id, name, email, role) for assignee "
           "pickers and presence.", tag="users", roles=ALL_STAFF)  # fmt: skip
async def staff_directory(call: Call) -> web.Response:
    return json_ok({"items": await call.services.users.directory()})


@routes.route("GET", "/api/v1/users", summary="List staff users.", tag="users", roles=ADMINS)
async def list_users(call: Call) -> web.Response:
    return json_ok({"items": await call.services.users.list()})


@routes.route("POST", "/api/v1/users", summary="Create a staff user.", tag="users", roles=ADMINS,
           body=NewUserBody, ok_status=201)  # fmt: skip
async def create_user(call: Call) -> web.Response:
    body = call.body
    audited = call.audited("user.create", "user")
    user = await call.services.users.create(body.email, body.password, body.role, body.name, audited)
    return json_ok(public_user(user), status=201)


@routes.route("PATCH", "/api/v1/users/{id}", summary="Change a user's name, role, active flag or password.",
           tag="users", roles=ADMINS, body=UserChangesBody)  # fmt: skip
async def update_user(call: Call) -> web.Response:
    fields = call.body.model_dump(exclude_unset=True)
    user, _ = await call.services.users.update(call.path("id"), fields, call.audited("user.update", "user"))
    if fields.keys() & {"active", "password", "role"}:
        call.services.stream_sockets.end_user(str(user["_id"]))  # reconnects get the new rights
    return json_ok(public_user(user))
