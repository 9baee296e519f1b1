"""The channel registry: the one list of channels the API, campaigns, reports and commands take
theirs from, and each channel's health in /readyz (a channel that is down leaves the hub ready)."""

from __future__ import annotations

from hub.channel_plugins import CHANNELS
from tests.conftest import chat_message, eventually
from tests.mail_peers import free_port


async def test_readyz_lists_every_channel_and_a_mailbox_that_cannot_be_read_is_down(make_hub):
    hub = await make_hub(
        imap_host="127.0.0.1",
        imap_port=free_port(),
        imap_user="support",
        imap_password="pw",
        imap_security="none",
    )

    async def email_down():
        status, ready = await hub.call("GET", "/readyz")
        assert status == 200, ready  # one channel's outage does not take the hub out of service
        return ready if ready["channels"]["email"]["status"] == "down" else None

    ready = await eventually(email_down, timeout=30)
    assert list(ready["channels"]) == list(CHANNELS)
    email = ready["channels"]["email"]
    assert email["reads_mailbox"] and email["webhook"] and not email["sends"]  # no SMTP configured
    assert "Connect" in email["problem"] or "refused" in email["problem"].lower(), email["problem"]
    assert ready["channels"]["chat"] == {"status": "ok", "sends": True}
    assert ready["channels"]["telegram"] == ready["channels"]["slack"] == {"status": "off"}
    assert (await hub.chat(chat_message())).status == 201


async def test_staff_see_the_channels_in_registry_order_with_their_health(hub):
    token = await hub.login("agent")
    status, body = await hub.call("GET", "/api/v1/channels", token)
    assert status == 200
    assert [item["name"] for item in body["items"]] == list(CHANNELS)
    states = {item["name"]: item["status"] for item in body["items"]}
    assert states == {"chat": "ok", "email": "ok", "webchat": "off", "telegram": "off", "slack": "off"}
    assert (await hub.call("GET", "/api/v1/channels"))[0] == 401


async def test_an_unconfigured_channel_answers_404_channel_disabled_on_its_routes(hub):
    for path in ("/webhooks/telegram", "/webhooks/slack/events", "/webhooks/slack/commands"):
        status, body = await hub.call("POST", path, data=b"{}")
        assert (status, body["error"]["code"]) == (404, "channel_disabled"), path
    status, body = await hub.call("GET", "/widget.js")
    assert (status, body["error"]["code"]) == (404, "channel_disabled")


async def test_campaigns_reports_and_the_api_spec_take_the_channels_from_the_registry(hub):
    token = await hub.login("manager")
    campaign = {
        "key": "fax-drip",
        "name": "Fax",
        "steps": [{"channel": "fax", "template": "Hi", "delay_minutes": 0}],
    }
    status, body = await hub.call("POST", "/api/v1/campaigns", token, json=campaign)
    assert status == 422 and body["error"]["message"].startswith("steps.0.channel"), body
    campaign["steps"][0]["channel"] = CHANNELS[-1]
    assert (await hub.call("POST", "/api/v1/campaigns", token, json=campaign))[0] == 201
    status, body = await hub.call("GET", "/api/v1/reports/summary?channel=fax", token)
    assert status == 400 and all(name in body["error"]["message"] for name in CHANNELS)
    status, spec = await hub.call("GET", "/api/openapi.json")
    step_schema = spec["components"]["schemas"]
    assert any(schema.get("properties", {}).get("channel", {}).get("enum") == list(CHANNELS)
               for schema in step_schema.values())  # fmt: skip
