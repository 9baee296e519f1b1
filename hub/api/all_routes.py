"""Every route the app serves: each API module's table, then each channel plugin's, from the
registry. Collected when the app is built, not registered as a side effect of importing."""

from typing import Any

from hub.api import (
    api_keys,
    audit,
    contacts,
    conversations,
    customer_value,
    imports,
    jobs,
    marketing,
    notifications,
    ops,
    reports,
    sales,
    segments,
    shop_orders,
    staff,
    stream,
    tickets,
    webhooks,
)
from hub.api.openapi import openapi_document
from hub.api.route_table import RouteTable
from hub.channel_plugins import plugins

API_MODULES = (
    api_keys,
    audit,
    contacts,
    conversations,
    customer_value,
    imports,
    jobs,
    marketing,
    notifications,
    ops,
    reports,
    sales,
    segments,
    shop_orders,
    staff,
    stream,
    tickets,
    webhooks,
)


def all_routes() -> RouteTable:
    return RouteTable.joined([module.routes for module in API_MODULES] + [p.routes for p in plugins()])


def served_document() -> dict[str, Any]:
    """The OpenAPI document the app serves at /api/openapi.json (`python -m hub openapi`)."""
    return openapi_document(all_routes().routes)
