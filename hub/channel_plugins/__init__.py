"""The channel registry: every channel the hub speaks, listed once. The app builds the
configured ones, their routes are registered by importing them, and the API, campaigns,
reports, commands and the CLI take the list of channels from here."""

from hub.channel_plugins.chat import ChatChannel
from hub.channel_plugins.email import EmailChannel
from hub.channel_plugins.plugin import ChannelPlugin
from hub.channel_plugins.slack import SlackChannel
from hub.channel_plugins.telegram import TelegramChannel
from hub.channel_plugins.webchat import WebchatChannel

REGISTRY: tuple[type[ChannelPlugin], ...] = (
    ChatChannel,
    EmailChannel,
    WebchatChannel,
    TelegramChannel,
    SlackChannel,
)
CHANNELS: tuple[str, ...] = tuple(plugin.name for plugin in REGISTRY)

__all__ = ["CHANNELS", "REGISTRY", "ChannelPlugin"]
