"""The seams between the hub's packages: what importing a module loads, where routes come
from, and what a channel plugin is given."""

import subprocess
import sys
import typing

from hub.api import all_routes, conversations
from hub.channel_plugins import CHANNELS, ChannelContext, ChannelPlugin, plugins
from hub.container import Services

CHANNEL_SDKS = ("telegram", "slack_bolt", "slack_sdk", "aioimaplib", "aiosmtplib")


def loaded_after(module: str) -> set[str]:
    """The modules a fresh interpreter has loaded after importing `module`."""
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_containers_type_hints_resolve():
    hints = typing.get_type_hints(Services)
    assert hints["channels"] == dict[str, ChannelPlugin]
    assert typing.get_type_hints(ChannelContext)["settings"].__name__ == "Settings"


def test_importing_an_api_module_or_the_plugin_contract_loads_no_channel_sdk():
    for module in ("hub.api.conversations", "hub.api.reports", "hub.channel_plugins.contract", "hub.app"):
        packages = {name.split(".")[0] for name in loaded_after(module)}
        assert not packages & set(CHANNEL_SDKS), module


def test_the_plugin_contract_imports_no_route_app_or_container():
    loaded = loaded_after("hub.channel_plugins.contract")
    assert not loaded & {"hub.api.routing", "hub.container", "hub.app", "aiohttp.web"}


def test_routes_are_collected_from_the_modules_and_the_registry_not_registered_on_import():
    table = all_routes.all_routes()
    paths = [(route.method, route.path) for route in table.routes]
    assert len(paths) == len(set(paths))
    assert ("POST", "/api/v1/conversations/{id}/messages") in paths
    for plugin in plugins():
        assert plugin.routes.routes, plugin.name  # every channel brings its webhook or pages
        assert all((r.method, r.path) in paths for r in plugin.routes.routes)
    # a module's table holds its own routes only
    assert {r.path.split("/")[3] for r in conversations.routes.routes} <= {
        "conversations",
        "inbox",
        "messages",
        "nlp",
    }
    assert [p.name for p in plugins()] == list(CHANNELS)
