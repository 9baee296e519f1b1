"""The widget in real headless Chromium (Debian's), driven by Playwright: a visitor chats on the
demo page, an agent answers from the staff API, reloads and dropped connections lose nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import eventually

# The README's picture; refreshed only on request (HUB_UPDATE_SCREENSHOTS=1) so tests leave the tree clean.
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "widget.png"


@pytest.fixture
async def widget_page(make_hub, browser):
    hub = await make_hub(widget_secret="browser-widget-secret")
    context = await browser.new_context(viewport={"width": 900, "height": 640})
    page = await context.new_page()
    await page.goto(str(hub.client.make_url("/widget/demo")))
    yield hub, page
    await context.close()


async def _open(page: Page) -> None:
    await page.locator('[data-hub="bubble"]').click()
    await expect(page.locator('[data-hub="status"]')).to_have_text("online")


async def _send(page: Page, text: str) -> None:
    await page.locator('[data-hub="input"]').fill(text)
    await page.locator('[data-hub="send"]').click()


async def _conversation(hub) -> str:
    message = await eventually(lambda: hub.db.messages.find_one({"channel": "webchat", "direction": "in"}))
    return str(message["conversation_id"])


async def test_visitor_and_agent_talk_through_reloads_tabs_and_a_dropped_connection(widget_page):
    hub, page = widget_page
    agent = await hub.login("agent")
    await _open(page)
    await _send(page, "Hi! Do you ship tents to Norway?")

    conversation = await _conversation(hub)
    _, thread = await hub.call("GET", f"/api/v1/conversations/{conversation}/messages", agent)
    assert [m["text"] for m in thread["items"]] == ["Hi! Do you ship tents to Norway?"]

    await hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                   json={"text": "We do! Delivery takes 3-5 days."})  # fmt: skip
    await hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                   json={"text": "note: check stock first", "private": True})  # fmt: skip
    replies = page.locator(".msg.out")
    await expect(replies).to_have_count(1)
    await expect(replies.first).to_contain_text("We do! Delivery takes 3-5 days.")
    await expect(page.locator(".msg.in")).to_have_count(1)
    screenshot = await page.screenshot()
    assert screenshot.startswith(b"\x89PNG")
    if os.environ.get("HUB_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.write_bytes(screenshot)

    await page.reload()
    await _open(page)
    await expect(page.locator(".msg")).to_have_count(2)
    await expect(page.locator(".msg.in")).to_have_text("Hi! Do you ship tents to Norway?")

    second_tab = await page.context.new_page()
    await second_tab.goto(page.url)
    await _open(second_tab)
    await expect(second_tab.locator(".msg")).to_have_count(2)
    await second_tab.close()

    # The server drops every widget connection; meanwhile the agent answers and the visitor types.
    hub.services.realtime.disconnect_all()
    await expect(page.locator('[data-hub="status"]')).not_to_have_text("online")
    await hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                   json={"text": "Anything else?"})  # fmt: skip
    await _send(page, "Sent while offline")
    await expect(page.locator('[data-hub="status"]')).to_have_text("online", timeout=15000)
    await expect(page.locator(".msg.out")).to_have_count(2)
    await expect(page.locator(".msg.out").last).to_contain_text("Anything else?")
    await expect(page.locator(".msg.in")).to_have_count(2)
    await expect(page.locator(".msg.pending")).to_have_count(0)
    stored = await eventually(
        lambda: hub.db.messages.find_one({"text": "Sent while offline", "direction": "in"})
    )
    assert await hub.db.messages.count_documents({"text": "Sent while offline"}) == 1
    assert str(stored["conversation_id"]) == conversation


async def test_text_is_rendered_as_text_never_as_html(widget_page):
    hub, page = widget_page
    agent = await hub.login("agent")
    await _open(page)
    attack = "<img src=x onerror=\"document.title='pwned'\">"
    await _send(page, attack)
    conversation = await _conversation(hub)
    await hub.call("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                   json={"text": "<b>bold?</b> <script>document.title='pwned'</script>"})  # fmt: skip
    await expect(page.locator(".msg.out")).to_contain_text("<b>bold?</b>")
    await expect(page.locator(".msg.in")).to_have_text(attack)
    assert (
        await page.locator('[data-hub="log"] img, [data-hub="log"] b, [data-hub="log"] script').count() == 0
    )
    assert await page.title() != "pwned"


async def test_prechat_asks_for_an_email_before_the_first_message(make_hub, browser):
    hub = await make_hub(widget_secret="browser-widget-secret")
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(str(hub.client.make_url("/widget/demo?prechat=email")))
    await page.locator('[data-hub="bubble"]').click()
    await expect(page.locator('[data-hub="input"]')).to_be_hidden()
    await page.locator('[data-hub="email"]').fill("walker@example.com")
    await page.locator('[data-hub="prechat-form"] button').click()
    await _send(page, "Which boots for winter hiking?")
    await _conversation(hub)
    # Typed into an anonymous widget, the address is the visitor's claim, kept unverified.
    contact = await eventually(lambda: hub.db.contacts.find_one({"unverified_emails": "walker@example.com"}))
    assert contact["identities"][0]["channel"] == "webchat" and contact["emails"] == []
    await context.close()
