"""The channel registry: every channel the hub speaks, listed once, in order. The names are
known without importing any plugin (so an API module that lists the channels loads no channel
SDK); the running hub and the CLI load the plugins (`plugins()`), build the configured ones and
collect their routes. The API, campaigns, reports, commands and the CLI take the list of
channels from here."""

from __future__ import annotations

import functools
import importlib

from hub.channel_plugins.contract import ChannelContext, ChannelPlugin

# channel -> "module:class" of its plugin
REGISTRY: dict[str, str] = {
    "chat": "hub.channel_plugins.chat:ChatChannel",
    "email": "hub.channel_plugins.email:EmailChannel",
    "webchat": "hub.channel_plugins.webchat:WebchatChannel",
    "telegram": "hub.channel_plugins.telegram:TelegramChannel",
    "slack": "hub.channel_plugins.slack:SlackChannel",
}
CHANNELS: tuple[str, ...] = tuple(REGISTRY)


@functools.cache
def plugins() -> tuple[type[ChannelPlugin], ...]:
    """The plugins in registry order, imported on first use."""
    loaded = []
    for name, where in REGISTRY.items():
        module, _, attribute = where.partition(":")
        plugin = getattr(importlib.import_module(module), attribute)
        if not (isinstance(plugin, type) and issubclass(plugin, ChannelPlugin)) or plugin.name != name:
            raise TypeError(f"the registry's {name!r} is not a ChannelPlugin named {name!r}: {where}")
        loaded.append(plugin)
    return tuple(loaded)


__all__ = ["CHANNELS", "REGISTRY", "ChannelContext", "ChannelPlugin", "plugins"]
