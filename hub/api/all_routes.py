"""Every route the app serves: each API module's table, then each channel plugin's, from the
registry. Collected when the app is built, not registered as a side effect of importing."""

from hub.api import (
    audit,
    contacts,
    conversations,
    jobs,
    marketing,
    ops,
    reports,
    sales,
    staff,
    stream,
    tickets,
)
from hub.api.route_table import RouteTable
from hub.channel_plugins import plugins

API_MODULES = (audit, contacts, conversations, jobs, marketing, ops, reports, sales, staff, stream, tickets)


def all_routes() -> RouteTable:
    return RouteTable.joined([module.routes for module in API_MODULES] + [p.routes for p in plugins()])
