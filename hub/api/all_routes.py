"""Importing this module registers every route module's routes on `api`."""

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
    webhooks,
    widget,
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
    webhooks,
    widget,
)

__all__ = ["ROUTE_MODULES", "api"]
