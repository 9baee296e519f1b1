"""Serving the declared routes: it installs them on the app, checks bearer tokens and roles,
and validates JSON bodies; the installed table is the single source of the OpenAPI document."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from channels.base import PayloadError, parse_json
from crm_core.api_keys import API_KEY_ROLE, KEY_PREFIX, principal
from crm_core.audit import Audited
from hub.api.cursors import decode_cursor, next_cursor
from hub.api.errors import ApiError
from hub.api.route_table import Route, RouteTable
from hub.container import SERVICES, Services
from hub.jsonable import jsonable

SESSION_COOKIE = "hub_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Call:
    request: web.Request
    services: Services
    user: dict[str, Any] | None = None
    body: Any = None
    token: str = ""  # the bearer token or session cookie the user was authenticated with
    cookie_session: bool = False  # authenticated by the console's cookie (ambient, unlike a token)

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def query(self, name: str) -> str | None:
        return self.request.query.get(name) or None

    def limit(self, default: int = 25, maximum: int = 100) -> int:
        raw = self.request.query.get("limit")
        if raw is None:
            return default
        value = whole_number(raw)
        if value is None or not 1 <= value <= maximum:
            raise ApiError(400, "bad_query", f"limit: a whole number from 1 to {maximum}")
        return value

    def flag(self, name: str) -> bool | None:
        raw = self.query(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            raise ApiError(400, "bad_query", f"{name}: true or false")
        return raw == "true"

    def number(self, name: str, maximum: int) -> int | None:
        raw = self.query(name)
        if raw is None:
            return None
        value = whole_number(raw)
        if value is None or value > maximum:
            raise ApiError(400, "bad_query", f"{name}: a whole number from 0 to {maximum}")
        return value

    @contextlib.asynccontextmanager
    async def searching(self, q: str | None) -> AsyncIterator[None]:
        """Held around a read that searches for `q` (if any): a user may run `app.SEARCHES_PER_USER`
        searches at once (429 past that)."""
        if q is None:
            yield
            return
        with self.services.search_slots.slot(str(self.actor["_id"])) as free:
            if not free:
                raise ApiError(429, "too_many_searches", "wait for your other searches to finish",
                               headers={"Retry-After": "1"})  # fmt: skip
            yield

    @property
    def actor(self) -> dict[str, Any]:
        assert self.user is not None, "route registered without roles"
        return self.user

    async def listed(
        self, lister: Callable[..., Awaitable[list]], where: Any, cursor_field: str
    ) -> web.Response:
        """One page from a repository's `list(where, *, viewer_id, limit, cursor)`."""
        limit = self.limit()
        cursor = decode_cursor(self.query("cursor"))
        items = await lister(where, viewer_id=self.actor["_id"], limit=limit, cursor=cursor)
        return page(items, limit, cursor_field)

    def audited(self, action: str, target_type: str) -> Audited:
        """This user's change as the audit trail names it (the domain writes the entry in the
        change's own transaction)."""
        return Audited(self.actor, action, target_type)


def whole_number(raw: str) -> int | None:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return int(raw) if _DIGITS.fullmatch(raw) else None


_DIGITS = re.compile(r"[0-9]{1,12}")
ROUTES = web.AppKey("routes", RouteTable)  # every route the app serves
STREAMS_BODY = "streams_body"  # an endpoint's attribute: Route.streams_body


def install(table: RouteTable, app: web.Application) -> None:
    """Serve `table`'s routes on `app` (and keep the table, for the OpenAPI document and the stream)."""
    app[ROUTES] = table
    for route in table.routes:
        app.router.add_route(route.method, route.path, _endpoint(route))


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        call = Call(request=request, services=request.app[SERVICES])
        if route.roles is not None:
            call.user = await authenticate(call, websocket=route.websocket)
            if call.user["role"] == API_KEY_ROLE:
                _key_may(call, route)
            elif call.user["role"] not in route.roles:
                raise ApiError(403, "forbidden", f"role {call.user['role']!r} may not do this")
        if route.body is not None and route.raw_body is None:
            call.body = await read_body(request, route.body)
        return await route.handler(call)

    setattr(endpoint, STREAMS_BODY, route.streams_body)
    return endpoint


def streams_body(request: web.Request) -> bool:
    """Whether the request's route reads its body itself (a file upload), so nothing before it may."""
    return getattr(request.match_info.handler, STREAMS_BODY, False)


def _key_may(call: Call, route: Route) -> None:
    """An API key calls the routes of its scopes, at most its limit a minute."""
    key = call.actor
    if route.scope is None or route.scope not in key["scopes"]:
        needs = f"the scope {route.scope}" if route.scope else "a person's sign-in: keys may not"
        raise ApiError(403, "forbidden", f"this API key may not do this (it needs {needs})")
    if not call.services.api_key_limit.allow(str(key["_id"])):
        raise ApiError(429, "too_many_requests", "this API key's requests a minute are used up",
                       headers={"Retry-After": "60"})  # fmt: skip


def bearer_token(request: web.Request, *, websocket: bool = False) -> str | None:
    """The Authorization header's token. Browsers cannot set headers on websockets, so a
    websocket route's real upgrade may carry ?access_token= instead; nowhere else, since URLs
    end up in logs and browser history."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if websocket and is_websocket_upgrade(request):
        return request.query.get("access_token") or None
    return None


def is_websocket_upgrade(request: web.Request) -> bool:
    connection = {part.strip().lower() for part in request.headers.get("Connection", "").split(",")}
    return (
        request.method == "GET"
        and request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in connection
    )


def csrf_token(session: str) -> str:
    """Derived from the session token, so it needs no storage and no page script of another
    site can know it (the cookie it comes from is HttpOnly and SameSite=Strict)."""
    return hmac.new(session.encode(), b"csrf", hashlib.sha256).hexdigest()


async def authenticate(call: Call, *, websocket: bool = False) -> dict[str, Any]:
    """A bearer token (API clients), or the console's session cookie: then a state-changing
    request must also carry the session's CSRF token. The call keeps the token it used."""
    request = call.request
    token = bearer_token(request, websocket=websocket)
    if token is None and (token := request.cookies.get(SESSION_COOKIE)):
        call.cookie_session = True
        sent = request.headers.get("X-CSRF-Token", "")
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
            sent.encode(errors="replace"), csrf_token(token).encode()
        ):
            raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token for this session")
    if token is None:
        raise ApiError(401, "unauthorized", "missing bearer token or session")
    if token.startswith(KEY_PREFIX) and not call.cookie_session:
        key = await call.services.api_keys.for_key(token)
        if key is None:
            raise ApiError(401, "unauthorized", "unknown, revoked or expired API key")
        call.token = token
        return principal(key)
    user = await call.services.users.for_token(token)
    if user is None:
        raise ApiError(401, "unauthorized", "invalid or expired token")
    call.token = token
    return user


async def read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """The JSON body as `model`. Only a JSON media type is read: a cross-site form can post
    text/plain without asking the browser first, and must not sign anyone in."""
    if not is_json_media_type(request.content_type):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        data = parse_json(await request.read())
    except PayloadError as exc:
        raise ApiError(400, "bad_json", str(exc)) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "invalid", f"{where}: {first['msg']}") from exc


def is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def json_ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(jsonable(data), status=status)


def page(items: list[dict[str, Any]], limit: int, cursor_field: str) -> web.Response:
    return json_ok({"items": items, "next_cursor": next_cursor(items, limit, cursor_field)})
