"""Importing this module registers every route module's routes on `api` (the channels' own
routes come with the channel registry)."""

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
from hub.channel_plugins import REGISTRY

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
)

__all__ = ["REGISTRY", "ROUTE_MODULES", "api"]
