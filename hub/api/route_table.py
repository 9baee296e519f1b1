"""Route declarations: what a route is (method, path, roles, body, documentation) and the
tables modules and channel plugins declare theirs in. Nothing here serves HTTP: the app
collects the tables (hub.api.all_routes) and installs them (hub.api.routing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

# A route's handler takes the call (hub.api.routing.Call) and answers with an aiohttp response.
Handler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    type: str = "string"


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: Sequence[str] | None
    body: type[BaseModel] | None
    query: Sequence[QueryParam] = field(default_factory=tuple)
    ok_status: int = 200
    # Routes that must see the raw bytes (signatures) read the body themselves; `raw_body` is its
    # media type, and `body`, if given, only documents its shape.
    raw_body: str | None = None
    # A websocket route: its upgrade request may carry the token as ?access_token=.
    websocket: bool = False
    # A route taking a body past the app's JSON limit (a file) reads it itself, as it streams in.
    streams_body: bool = False
    # The API key scope that lets an integration call it (None: keys may not; people only).
    scope: str | None = None


class RouteTable:
    """The routes one module (or channel plugin) declares, in order."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes: list[Route] = list(routes)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        roles: Sequence[str] | None,
        body: type[BaseModel] | None = None,
        query: Sequence[QueryParam] = (),
        ok_status: int = 200,
        raw_body: str | None = None,
        websocket: bool = False,
        streams_body: bool = False,
        scope: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.routes.append(
                Route(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    roles,
                    body,
                    tuple(query),
                    ok_status,
                    raw_body=raw_body,
                    websocket=websocket,
                    streams_body=streams_body,
                    scope=scope,
                )
            )
            return handler

        return declare

    def roles_of(self, method: str, path: str) -> Sequence[str]:
        """Who may call a route (nobody signed in, for a route open to all: none)."""
        route = next(r for r in self.routes if r.method == method and r.path == path)
        return route.roles or ()

    @classmethod
    def joined(cls, tables: Iterable[RouteTable]) -> RouteTable:
        return cls(route for table in tables for route in table.routes)
