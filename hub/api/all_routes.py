"""Importing this module registers every route module's routes on `api` (the channels' own
routes come with the channel registry)."""

from hub import channel_plugins
from hub.api import (
    audit,
    contacts,
    conversations,
    marketing,
    ops,
    reports,
    sales,
    staff,
    stream,
    tickets,
)
from hub.api.routing import api

ROUTE_MODULES = (
    audit,
    contacts,
    conversations,
    marketing,
    ops,
    reports,
    sales,
    staff,
    stream,
    tickets,
    channel_plugins,
)

__all__ = ["ROUTE_MODULES", "api"]
