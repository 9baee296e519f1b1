"""The staff console in real headless Chromium (Debian's), driven by Playwright against a real
hub serving the console's build: sign-in, the live inbox, replies and notes, presence, the
dashboard, roles, Chinese, untrusted text, and axe-core on every screen."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from ipaddress import ip_network
from pathlib import Path

import pytest
from bson import ObjectId
from playwright.async_api import Page, expect
from standardwebhooks.webhooks import Webhook

from hub.console import console_dir
from tests.conftest import PASSWORD, chat_message, eventually, post_email, unsure_analysis
from tests.test_webhooks import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
XSS = "<img src=x onerror=alert(1)> hello"

pytestmark = pytest.mark.skipif(
    not (console_dir() / "index.html").is_file(), reason="the console is not built (scripts/test builds it)"
)


async def staff(hub, role: str, name: str) -> str:
    email = f"{name.lower()}@staff.example"
    await hub.services.users.create(email, PASSWORD, role, name=name)
    return email


async def signed_in(
    browser, hub, email: str, path: str = "/inbox", password: str = PASSWORD, width: int = 1200,
    init_script: str | None = None,
) -> Page:  # fmt: skip
    # bypass_csp: axe-core is injected as an inline script, which the console's CSP refuses.
    context = await browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    await page.goto(str(hub.client.make_url(path)))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    return page


async def picture(page: Page, name: str) -> None:
    """The README's pictures; refreshed only on request (HUB_UPDATE_SCREENSHOTS=1)."""
    if os.environ.get("HUB_UPDATE_SCREENSHOTS") == "1":
        await page.screenshot(path=str(ROOT / "docs" / f"console-{name}.png"))


async def no_serious_violations(page: Page) -> None:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => await axe.run(document)")
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps([(v["id"], v["nodes"][0]["html"]) for v in serious])


async def test_an_agent_works_a_live_inbox(make_hub, browser, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    agent = await staff(hub, "agent", "Alice")
    page = await signed_in(browser, hub, agent)
    await expect(page.get_by_role("link", name="Inbox")).to_be_visible()
    await expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    await no_serious_violations(page)

    # A customer writes while the inbox is open: it appears without a reload.
    await hub.chat(chat_message(XSS, sender={"id": "c-1", "name": "Carla Customer"}))
    row = page.get_by_role("link", name="Carla Customer")
    await expect(row).to_be_visible()
    await expect(page.get_by_role("tab", name="All")).to_have_text("All 1")
    await row.click()
    thread = page.get_by_role("list", name="Messages")
    await expect(thread).to_contain_text("<img src=x onerror=alert(1)> hello")
    assert await thread.locator("img").count() == 0

    await page.get_by_label("Reply").fill("We are on it!")
    await page.get_by_label("Reply").press("Control+Enter")
    await expect(thread).to_contain_text("We are on it!")

    async def delivered(text: bytes) -> list | None:
        return [body for _, body in receiver.requests if text in body] or None

    await eventually(lambda: delivered(b"We are on it!"), timeout=10)

    await page.get_by_role("button", name="Note", exact=True).click()
    await page.get_by_label("Note").fill("check the refund policy first")
    await page.get_by_role("button", name="Send").click()
    await expect(thread).to_contain_text("check the refund policy first")
    await expect(page.get_by_role("tab", name="All")).to_have_text("All 1")
    await expect(page.get_by_role("complementary", name="Contact")).to_contain_text("Carla Customer")
    await picture(page, "inbox")
    # The filter chips: each value says how many conversations it would show.
    await page.get_by_role("button", name="Priority").click()
    await expect(page.get_by_role("menuitemradio", name="Urgent")).to_contain_text("0")
    await page.get_by_role("menuitemradio", name="Urgent").click()
    await expect(page.get_by_role("button", name="Priority: Urgent")).to_be_visible()
    await expect(page.get_by_text("No conversations here.")).to_be_visible()
    await page.get_by_role("button", name="Priority: Urgent").click()
    await page.get_by_role("menuitemradio", name="All priorities").click()
    await expect(row).to_be_visible()
    await page.get_by_role("button", name="Channel").click()
    await expect(page.get_by_role("menuitemradio", name="chat 1", exact=True)).to_be_visible()
    await page.keyboard.press("Escape")
    await no_serious_violations(page)
    note = await hub.db.messages.find_one({"kind": "note"})
    assert note["text"] == "check the refund policy first"
    assert await delivered(b"refund policy") is None

    # The customer's other conversation shows beside this one; unread messages are counted.
    earlier = chat_message(
        "about my last order", sender={"id": "c-1", "name": "Carla Customer"}, thread_id="t-2"
    )
    await hub.chat(earlier)
    other_row = (
        page.get_by_role("region", name="Conversations")
        .get_by_role("listitem")
        .filter(has_text="about my last order")
    )
    await expect(other_row.get_by_label("1 unread")).to_be_visible()
    await expect(page.get_by_role("list", name="Other conversations")).to_contain_text("about my last order")
    await other_row.get_by_role("link").click()  # read now: for the whole team
    await expect(other_row.get_by_label("1 unread")).to_have_count(0)
    await page.keyboard.press("Escape")
    await page.locator("body").press("?")
    shortcuts = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(shortcuts).to_contain_text("Ctrl+K")
    await page.keyboard.press("Escape")
    await expect(shortcuts).to_have_count(0)
    await page.locator("body").press("x")  # picks the open conversation for a bulk action
    await expect(other_row.get_by_role("checkbox")).to_be_checked()
    await expect(page.get_by_role("toolbar", name="Selected conversations")).to_contain_text("1 selected")


DROP_A_PNG = """() => {
  const data = new DataTransfer()
  data.items.add(new File([new Uint8Array([137, 80, 78, 71])], 'photo.png', { type: 'image/png' }))
  const drop = new DragEvent('drop', { dataTransfer: data, bubbles: true })
  document.querySelector('.composer').dispatchEvent(drop)
}"""


async def test_an_agent_attaches_files_to_a_chat_reply(make_hub, browser, receiver_factory):
    receiver = await receiver_factory([])
    hub = await make_hub(chat_outbound_url=receiver.url)
    agent = await staff(hub, "agent", "Alice")
    await hub.chat(chat_message("Can you send the invoice?", sender={"id": "c-1", "name": "Carla Customer"}))
    page = await signed_in(browser, hub, agent)
    await page.get_by_role("link", name="Carla Customer").click()
    await expect(page.get_by_role("list", name="Messages")).to_contain_text("Can you send the invoice?")

    files = page.get_by_label("Attach files")
    await files.set_input_files(
        [{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    await expect(page.get_by_role("alert")).to_contain_text("setup.exe was not attached")
    await files.set_input_files(
        [{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}]
    )
    await page.evaluate(DROP_A_PNG)  # an image dropped on the composer joins it
    attached = page.get_by_role("list", name="Files to send")
    await expect(attached).to_contain_text("invoice.pdf")
    await expect(attached).to_contain_text("photo.png")
    await no_serious_violations(page)
    await page.get_by_label("Reply").fill("Here you are")
    await page.get_by_label("Reply").press("Control+Enter")
    thread = page.get_by_role("list", name="Messages")
    await expect(thread.get_by_role("link", name="invoice.pdf")).to_be_visible()
    await expect(attached).to_have_count(0)

    async def delivered() -> dict | None:
        return next((json.loads(body) for _, body in receiver.requests if b"Here you are" in body), None)

    sent = await eventually(delivered, timeout=10)
    assert [(f["name"], f["content_type"]) for f in sent["attachments"]] == [
        ("invoice.pdf", "application/pdf"), ("photo.png", "image/png")]  # fmt: skip


async def test_an_agent_picks_conversations_and_resolves_assigns_and_labels_them_at_once(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Alice")
    await staff(hub, "agent", "Bob")
    for name in ("Ann", "Ben", "Cat", "Dan"):
        sender = {"id": name, "name": name, "email": f"{name.lower()}@example.com"}
        await hub.chat(chat_message(f"Hello from {name}", sender=sender))
    page = await signed_in(browser, hub, agent)
    await expect(page.get_by_role("checkbox", name="Select Ann")).to_be_visible()
    await page.get_by_role("checkbox", name="Select Dan").click()
    await page.get_by_role("checkbox", name="Select Ben").click(modifiers=["Shift"])  # Dan, Cat, Ben
    bar = page.get_by_role("toolbar", name="Selected conversations")
    await expect(bar).to_contain_text("3 selected")
    await no_serious_violations(page)
    await bar.get_by_role("button", name="Label", exact=True).click()
    await bar.get_by_label("Label to add").fill("Shipping")
    await bar.get_by_label("Label to add").press("Enter")
    await expect(bar).to_have_count(0)  # done: the selection is cleared

    for name in ("Ben", "Cat"):
        await page.get_by_role("checkbox", name=f"Select {name}").click()
    await bar.get_by_role("button", name="Assign", exact=True).click()
    await bar.get_by_role("button", name="Bob").click()
    await expect(bar).to_have_count(0)
    for name in ("Ben", "Cat"):
        await page.get_by_role("checkbox", name=f"Select {name}").click()
    await bar.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("checkbox", name="Select Cat")).to_have_count(0)  # resolved: not Open
    await expect(page.get_by_text("2 conversations resolved")).to_be_visible()
    await expect(page.get_by_role("checkbox", name="Select Ann")).to_be_visible()

    for name in ("Ann", "Dan"):
        await page.get_by_role("checkbox", name=f"Select {name}").click()
    await bar.get_by_role("button", name="Priority").click()
    await page.get_by_role("menuitem", name="High").click()
    await expect(page.get_by_text("2 conversations reprioritised")).to_be_visible()
    for name in ("Ann", "Dan"):
        await page.get_by_role("checkbox", name=f"Select {name}").click()
    await bar.get_by_role("button", name="Snooze").click()
    await page.get_by_role("menuitem", name="Until tomorrow, 9:00").click()
    await expect(page.get_by_role("checkbox", name="Select Ann")).to_have_count(0)  # snoozed: not Open

    by_name = {}
    for conversation in await hub.db.conversations.find().to_list(None):
        contact = await hub.db.contacts.find_one({"_id": conversation["contact_id"]})
        by_name[contact["name"]] = conversation
    bob = await hub.db.users.find_one({"name": "Bob"})
    assert [by_name[n]["status"] for n in ("Ann", "Ben", "Cat", "Dan")] == [
        "snoozed",
        "resolved",
        "resolved",
        "snoozed",
    ]
    assert by_name["Ann"]["priority"] == by_name["Dan"]["priority"] == "high"
    assert by_name["Ann"]["snoozed_until"] > datetime.now(UTC)
    assert [by_name[n]["labels"] for n in ("Ann", "Ben", "Cat", "Dan")] == [
        [],
        ["shipping"],
        ["shipping"],
        ["shipping"],
    ]
    assert by_name["Ben"]["assignee_id"] == by_name["Cat"]["assignee_id"] == bob["_id"]


async def test_the_command_palette_finds_a_contacts_latest_conversation_and_acts_on_it(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Alice")
    me = await hub.db.users.find_one({"name": "Alice"})
    carla = {"id": "carla", "name": "Carla Quinn", "email": "carla@example.com"}
    await hub.chat(chat_message("First question", sender=carla))
    latest = await (await hub.chat(chat_message("Another thing", sender=carla, thread_id="second"))).json()
    await hub.chat(chat_message("Unrelated", sender={"id": "d", "name": "Dora", "email": "dora@example.com"}))
    page = await signed_in(browser, hub, agent, "/contacts")
    await expect(page.get_by_role("link", name="Inbox")).to_be_visible()  # signed in
    await page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Command palette")
    await expect(palette).to_be_visible()
    await no_serious_violations(page)
    await palette.get_by_role("combobox", name="Search commands and contacts").fill("Carla Qu")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(str(hub.client.make_url(f"/inbox/{latest['conversation_id']}")))
    await expect(palette).to_be_hidden()
    await expect(page.get_by_role("list", name="Messages")).to_contain_text("Another thing")

    await page.keyboard.press("Control+k")
    await palette.get_by_role("combobox").fill("assign to me")
    await page.keyboard.press("Enter")
    conversation = ObjectId(latest["conversation_id"])
    assigned = {"_id": conversation, "assignee_id": me["_id"]}
    await eventually(lambda: hub.db.conversations.find_one(assigned))
    await page.keyboard.press("Control+k")
    await palette.get_by_role("combobox").fill("go to tick")
    await page.keyboard.press("ArrowDown")  # nothing else matches: still the one
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(str(hub.client.make_url("/tickets")))


async def test_a_mention_in_a_note_reaches_the_colleagues_notifications(make_hub, browser):
    hub = await make_hub()
    alice = await staff(hub, "agent", "Alice")
    bob = await staff(hub, "agent", "Bob")
    ack = await (await hub.chat(chat_message("My parcel is lost"))).json()
    bobs = await signed_in(browser, hub, bob)
    await expect(bobs.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    page = await signed_in(browser, hub, alice, f"/inbox/{ack['conversation_id']}")
    await page.get_by_role("button", name="Note", exact=True).click()
    note = page.get_by_label("Note")
    await note.press_sequentially("@Bo")
    colleagues = page.get_by_role("listbox", name="Colleagues to mention")
    await expect(colleagues.get_by_role("option", name="Bob")).to_be_visible()
    await note.press("Enter")
    await expect(colleagues).to_have_count(0)
    await note.press_sequentially("please call the courier")
    await expect(note).to_have_value("@Bob please call the courier")
    await note.press("Control+Enter")
    await expect(page.get_by_role("list", name="Messages")).to_contain_text("@Bob please call the courier")

    bell = bobs.get_by_role("button", name="Notifications (1)")
    await expect(bell).to_be_visible()  # live, without a reload
    await no_serious_violations(bobs)
    await bell.click()
    await expect(bobs.get_by_role("region", name="Your notifications")).to_contain_text(
        "Alice mentioned you: @Bob please call the courier"
    )
    await expect(bobs.get_by_role("button", name="Notifications", exact=True)).to_be_visible()  # read now
    await bobs.get_by_role("button", name="Alice mentioned you").click()
    await expect(bobs).to_have_url(str(hub.client.make_url(f"/inbox/{ack['conversation_id']}")))


async def test_drafts_stay_with_their_conversation_across_switches_and_a_reload(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Alice")
    first = await (
        await hub.chat(chat_message("One", sender={"id": "a", "name": "Ann", "email": "a@x.example"}))
    ).json()
    second = await (
        await hub.chat(chat_message("Two", sender={"id": "b", "name": "Ben", "email": "b@x.example"}))
    ).json()
    page = await signed_in(browser, hub, agent, f"/inbox/{first['conversation_id']}")
    await page.get_by_label("Reply").fill("Half a reply to Ann")
    await page.goto(str(hub.client.make_url(f"/inbox/{second['conversation_id']}")))
    await expect(page.get_by_label("Reply")).to_have_value("")
    await page.get_by_role("button", name="Note", exact=True).click()
    await page.get_by_label("Note").fill("A note about Ben")
    await page.reload()
    await expect(page.get_by_label("Note")).to_have_value("A note about Ben")
    await page.goto(str(hub.client.make_url(f"/inbox/{first['conversation_id']}")))
    await expect(page.get_by_label("Reply")).to_have_value("Half a reply to Ann")
    await page.get_by_label("Reply").press("Control+Enter")
    await expect(page.get_by_role("list", name="Messages")).to_contain_text("Half a reply to Ann")
    await page.reload()
    await expect(page.get_by_label("Reply")).to_have_value("")  # sent: the draft is gone
    await page.context.set_offline(True)
    await expect(page.get_by_role("status").filter(has_text="You are offline")).to_be_visible()
    await page.get_by_label("Reply").fill("Written offline")
    await page.context.set_offline(False)
    await expect(page.get_by_role("status").filter(has_text="You are offline")).to_have_count(0)
    await page.reload()
    await expect(page.get_by_label("Reply")).to_have_value("Written offline")


# The browser's notifications as the page sees them, recorded (as granted by the agent).
RECORDED_NOTIFICATIONS = """
window.__alerts = [];
window.Notification = class {
  static permission = 'granted';
  static requestPermission() { return Promise.resolve('granted'); }
  constructor(title, options) { window.__alerts.push({ title, body: (options || {}).body }); }
};
"""


async def test_an_agent_is_told_by_the_browser_and_the_tab_title(make_hub, browser):
    hub = await make_hub()
    alice = await staff(hub, "agent", "Alice")
    bob = await hub.login("agent")
    alice_id = str((await hub.db.users.find_one({"name": "Alice"}))["_id"])
    ack = await (await hub.chat(chat_message("Where is my parcel?"))).json()
    page = await signed_in(browser, hub, alice, "/contacts", init_script=RECORDED_NOTIFICATIONS)
    await expect(page.get_by_role("button", name="Notifications", exact=True)).to_be_visible()

    async def alerted(text: str):
        told = await page.evaluate("window.__alerts")
        return [a for a in told if text in (a["title"], a["body"])] or None

    path = f"/api/v1/conversations/{ack['conversation_id']}"
    assert (await hub.call("PATCH", path, bob, json={"assignee_id": alice_id}))[0] == 200
    await eventually(lambda: alerted("A conversation was assigned to you"))
    await hub.chat(chat_message("Any news?"))  # the same customer, the same conversation
    await eventually(lambda: alerted("A customer answered your conversation"))
    note = {"text": "@Alice see this", "private": True, "mentions": [alice_id]}
    assert (await hub.call("POST", f"{path}/messages", bob, json=note))[0] == 201
    await expect(page).to_have_title("(1) Hub console")
    await eventually(lambda: alerted("Agent User mentioned you: @Alice see this"))
    await page.get_by_role("button", name="Notifications (1)").click()
    await expect(page).to_have_title("Hub console")
    await expect(page.get_by_role("button", name="Browser notifications")).to_have_attribute(
        "aria-pressed", "true"
    )


async def test_every_screen_passes_axe_in_the_dark_theme_too(make_hub, browser):
    hub = await make_hub()
    admin = await staff(hub, "admin", "Ada")
    ack = await (await hub.chat(chat_message("Where is my order #88412?"))).json()
    page = await signed_in(browser, hub, admin, f"/inbox/{ack['conversation_id']}")
    await page.get_by_label("Theme").select_option("dark")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    for screen, ready in (
        (f"/inbox/{ack['conversation_id']}", page.get_by_role("list", name="Messages")),
        ("/contacts", page.get_by_role("heading", name="Contacts")),
        (f"/contacts/{ack['contact_id']}", page.get_by_role("list", name="Timeline")),
        ("/tickets", page.get_by_role("heading", name="Tickets")),
        ("/sales", page.get_by_role("heading", name="Sales")),
        ("/campaigns", page.get_by_role("heading", name="Campaigns")),
        ("/reports", page.get_by_role("heading", name="Reports")),
        ("/settings", page.get_by_role("heading", name="Settings")),
    ):
        await page.goto(str(hub.client.make_url(screen)))
        await expect(ready).to_be_visible()
        assert await page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
        await no_serious_violations(page)
    # The parts that open over a screen: a filter chip's menu, the snooze popover.
    await page.goto(str(hub.client.make_url(f"/inbox/{ack['conversation_id']}")))
    await expect(page.get_by_role("list", name="Messages")).to_contain_text("88412")
    await picture(page, "dark")
    await page.get_by_role("button", name="Priority").click()
    await expect(page.get_by_role("menuitemradio", name="Urgent")).to_be_visible()
    await no_serious_violations(page)
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name="Snooze", exact=True).click()
    await expect(page.get_by_label("Snooze until")).to_be_visible()
    await no_serious_violations(page)


async def test_a_colleague_sees_assignment_resolve_and_presence_live(make_hub, browser):
    hub = await make_hub()
    alice, bob = await staff(hub, "agent", "Alice"), await staff(hub, "agent", "Bob")
    ack = await (await hub.chat(chat_message("my parcel is late", sender={"name": "Dora"}))).json()
    path = f"/inbox/{ack['conversation_id']}"
    first = await signed_in(browser, hub, alice, path)
    second = await signed_in(browser, hub, bob, path)
    await expect(second.get_by_role("status").filter(has_text="Also viewing")).to_contain_text("Alice")
    await first.get_by_label("Reply").press_sequentially("On it")
    await expect(second.get_by_role("status").filter(has_text="typing")).to_contain_text("Alice is typing")
    await expect(second.get_by_role("status").filter(has_text="Also viewing")).to_contain_text(
        "Alice", timeout=10_000
    )

    await first.get_by_label("Assignee", exact=True).select_option(label="Alice")
    await expect(second.get_by_label("Assignee", exact=True)).to_have_value(
        str((await hub.db.users.find_one({"name": "Alice"}))["_id"])
    )
    await first.keyboard.press("Escape")
    await first.get_by_role("button", name="Resolve").click()
    await expect(second.get_by_label("Status", exact=True)).to_have_value("resolved")


async def test_the_dashboard_shows_the_api_figures_and_the_console_speaks_chinese(make_hub, browser):
    hub = await make_hub()
    manager = await staff(hub, "manager", "Mona")
    for n in range(3):
        await hub.chat(
            chat_message(f"hello {n}", sender={"id": f"c{n}", "name": f"王小明 {n}", "email": None})
        )
    page = await signed_in(browser, hub, manager, "/reports")
    await expect(page).to_have_url(str(hub.client.make_url("/reports")))
    token = await hub.login("manager")
    _, summary = await hub.call("GET", "/api/v1/reports/summary", token)
    card = page.locator('[data-figure="conversations_new"] .value')
    await expect(card).to_have_text(str(summary["figures"]["conversations_new"]))
    # The volume chart's data (a table for screen readers) holds the day's three chat messages.
    volume = page.get_by_role("table", name="Inbound messages per day, by channel")
    await expect(volume.get_by_role("row").nth(1)).to_contain_text("3")
    await picture(page, "dashboard")
    await expect(page.locator('[data-figure="messages_in"] .value')).to_have_text(
        str(summary["figures"]["messages_in"])
    )
    await no_serious_violations(page)
    # The day's conversations as a file a spreadsheet opens with the names as written.
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Export CSV").click()
    csv_file = await asyncio.to_thread(Path(await (await download.value).path()).read_bytes)
    assert csv_file.startswith(b"\xef\xbb\xbf") and "王小明 2".encode() in csv_file

    await page.get_by_label("Language").select_option("zh-CN")
    await expect(page.get_by_role("link", name="收件箱")).to_be_visible()
    await expect(page.get_by_role("heading", name="报表")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("link", name="收件箱")).to_be_visible()


async def test_an_attachment_downloads_under_its_chinese_name(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Ann")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "李雷 <li@example.cn>", "support@hub.example", "发票"
    mail.set_content("请查收附件。")
    mail.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="发票（2026）.pdf"
    )
    stored = await post_email(hub, mail.as_bytes())
    conversation_id = (await stored.json())["conversation_id"]
    page = await signed_in(browser, hub, agent, f"/inbox/{conversation_id}")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="发票（2026）.pdf").click()
    assert (await download.value).suggested_filename == "发票（2026）.pdf"


async def test_sign_in_errors_and_the_way_back(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Ann")
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    await page.goto(str(hub.client.make_url("/reports")))
    await expect(page.get_by_role("heading", name="Sign in to the hub")).to_be_visible()
    await no_serious_violations(page)
    await page.get_by_label("Email").fill(agent)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Wrong email or password, or the account is inactive."
    )
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    # An agent may not see reports: the way back ends in the inbox.
    await expect(page).to_have_url(str(hub.client.make_url("/inbox")))
    cookies = await context.cookies()
    [session] = [c for c in cookies if c["name"] == "hub_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Email")).to_be_visible()


async def test_a_sales_rep_drags_a_deal_to_won_and_the_api_agrees(make_hub, browser):
    hub = await make_hub()
    rep = await staff(hub, "sales", "Sam")
    now = datetime.now(UTC)
    deals = [
        {"_id": ObjectId(), "pipeline": "default", "title": title, "stage": "proposal", "open": True,
         "value": value, "currency": "EUR", "owner_id": None, "contact_id": ObjectId(), "lead_id": ObjectId(),
         "source_conversation_ids": [], "created_at": now, "updated_at": now}
        for title, value in (("Acme rollout", 12000), ("Globex pilot", 3000))
    ]  # fmt: skip
    await hub.db.deals.insert_many(deals)
    buyer = {"id": "jo", "name": "Jo Buyer", "email": "jo@globex.example"}
    ack = await (await hub.chat(chat_message("We need 40 seats, can we get a demo?", sender=buyer))).json()
    inquiry = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    await hub.services.automation.act(
        inquiry, unsure_analysis("sales_inquiry"), await hub.services.rules.get()
    )
    page = await signed_in(browser, hub, rep, "/sales")
    await expect(page.get_by_role("link", name="Inbox")).to_be_visible()
    lead = page.get_by_role("row").filter(has_text="Jo Buyer")
    await expect(lead).to_contain_text("chat")  # who the lead is, and where it came from
    await expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    await expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    proposal = page.get_by_role("region", name="Proposal")
    await expect(proposal).to_contain_text("€15,000")
    await picture(page, "pipeline")
    await no_serious_violations(page)

    await page.locator(f'[data-deal="{deals[0]["_id"]}"]').drag_to(page.get_by_role("region", name="Won"))
    await expect(page.get_by_role("region", name="Won")).to_contain_text("Acme rollout")
    token = await hub.login("sales")
    _, deal = await hub.call("GET", f"/api/v1/deals/{deals[0]['_id']}", token)
    assert deal["stage"] == "won"

    # The keyboard way: each card's stage picker.
    await page.get_by_label("Stage of Globex pilot").select_option("lost")
    await expect(page.get_by_role("region", name="Lost")).to_contain_text("Globex pilot")
    assert (await hub.call("GET", f"/api/v1/deals/{deals[1]['_id']}", token))[1]["stage"] == "lost"

    # A colleague's move shows on the open board without a reload.
    status, _ = await hub.call("PATCH", f"/api/v1/deals/{deals[1]['_id']}", token, json={"stage": "new"})
    assert status == 200
    await expect(page.get_by_role("region", name="New")).to_contain_text("Globex pilot")


async def test_admins_manage_users_and_agents_see_no_settings(make_hub, browser):
    hub = await make_hub()
    admin = await staff(hub, "admin", "Ada")
    page = await signed_in(browser, hub, admin, "/settings")
    await expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    # Each channel of the hub's registry, with its health here.
    channels = page.get_by_role("table", name="Channels")
    for name, state in (("chat", "Working"), ("telegram", "Not set up")):
        row = channels.get_by_role("row").filter(has=page.get_by_role("cell", name=name, exact=True))
        await expect(row).to_contain_text(state)
    await no_serious_violations(page)
    form = page.locator("form")
    await form.get_by_label("Email address").fill("new.agent@staff.example")
    await form.get_by_label("Name").fill("Nia")
    await form.get_by_label("Initial password").fill("a-long-password")
    await page.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("cell", name="new.agent@staff.example", exact=True)).to_be_visible()

    # Rules: the API's validation message shows at the field it names; a valid change is saved.
    urgent = page.get_by_label("First response minutes (Urgent)")
    await urgent.fill("0")
    await page.get_by_role("button", name="Save rules").click()
    await expect(urgent).to_have_attribute("aria-invalid", "true")
    await expect(urgent).to_be_focused()
    await expect(page.locator("#rules-field-error")).to_contain_text("greater than or equal to 1")
    await urgent.fill("15")
    await page.get_by_label("Label", exact=True).first.fill("junk")
    await page.get_by_role("button", name="Save rules").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    rules = await hub.services.rules.get()
    assert rules.tickets.sla["urgent"].first_response_minutes == 15 and rules.labels[0].label == "junk"
    await no_serious_violations(page)

    agent_page = await signed_in(browser, hub, "new.agent@staff.example", "/settings", "a-long-password")
    await expect(agent_page).to_have_url(str(hub.client.make_url("/inbox")))
    await expect(agent_page.get_by_role("link", name="Settings")).to_have_count(0)


async def test_an_admin_sees_a_parked_reply_and_tries_it_again(make_hub, browser, receiver_factory):
    receiver = await receiver_factory([500])
    hub = await make_hub(chat_outbound_url=receiver.url, outbox_max_attempts=1)
    admin = await staff(hub, "admin", "Ada")
    agent = await hub.login("agent")
    ack = await (await hub.chat(chat_message())).json()
    path = f"/api/v1/conversations/{ack['conversation_id']}/messages"
    reply = (await hub.call("POST", path, agent, json={"text": "Sorry, on its way"}))[1]
    await eventually(lambda: hub.db.jobs.find_one({"status": "parked"}))
    page = await signed_in(browser, hub, admin, "/settings")
    parked = page.get_by_role("table", name="Parked jobs")
    await expect(parked.get_by_role("row").filter(has_text="Reply delivery")).to_contain_text("HTTP 500")
    await no_serious_violations(page)
    await page.get_by_role("button", name="Try again: Reply delivery").click()
    await expect(page.get_by_text("No parked jobs")).to_be_visible()
    await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"})
    )
    assert len(receiver.requests) == 2


async def test_contacts_and_tickets_screens(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Tia")
    first = await (
        await hub.chat(chat_message("the app crashes", sender={"id": "p1", "name": "Pat Doe"}))
    ).json()
    await hub.chat(
        chat_message("me again", sender={"id": "p2", "name": "Pat Duplicate", "email": "pat@x.example"})
    )
    message = await hub.db.messages.find_one({"_id": ObjectId(first["id"])})
    unsure = unsure_analysis("support_request")
    await hub.services.automation.act(message, unsure, await hub.services.rules.get())

    page = await signed_in(browser, hub, agent, "/tickets")
    await expect(page.get_by_role("heading", name="Tickets")).to_be_visible()
    await expect(page.get_by_role("link", name="the app crashes")).to_be_visible()
    await expect(page.get_by_text("Unsure classification")).to_be_visible()
    await expect(page.get_by_role("cell", name="min left").first).to_be_visible()
    await no_serious_violations(page)

    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_role("link", name="Pat Doe")).to_contain_text("SLA:")
    await page.get_by_role("link", name="Tickets").click()
    await page.get_by_role("link", name="the app crashes").click()
    # The ticket went to Tia, the only agent; handed back, she takes it again in one click.
    await page.get_by_label("Assignee", exact=True).select_option(label="Unassigned")
    await page.get_by_role("button", name="Assign to me").click()
    await expect(page.get_by_label("Assignee", exact=True)).to_have_value(
        str((await hub.db.users.find_one({"name": "Tia"}))["_id"])
    )
    await expect(page.get_by_text("Ticket: Medium, Open")).to_be_visible()
    await page.get_by_label("Add a label").fill("VIP")
    await page.get_by_label("Add a label").press("Enter")
    await expect(page.get_by_role("button", name="Remove label vip")).to_be_visible()
    conversation = await hub.db.conversations.find_one({"_id": ObjectId(first["conversation_id"])})
    assert conversation["labels"] == ["vip"]
    await page.get_by_role("button", name="Snooze", exact=True).click()
    await page.get_by_label("Snooze until").fill("2030-01-02T09:30")
    await page.get_by_role("button", name="Snooze until then").click()
    await expect(page.get_by_label("Status", exact=True)).to_have_value("snoozed")
    await no_serious_violations(page)

    await page.get_by_role("link", name="Contacts").click()
    await page.get_by_label("Search contacts").fill("Pat")
    table = page.get_by_role("table", name="Contact list")
    listed = table.get_by_role("row").filter(has_text="Pat Doe")
    await expect(listed).to_contain_text("1 open")  # snoozed counts: not resolved
    await expect(listed).to_contain_text("chat")
    await expect(page.get_by_role("button", name="Export CSV")).to_have_count(0)  # agents do not export
    await table.get_by_role("button", name="Name").click()
    await expect(table.get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "ascending")
    await expect(table.get_by_role("row").nth(1)).to_contain_text("Pat Doe")
    await table.get_by_role("button", name="Name").click()
    await expect(table.get_by_role("row").nth(1)).to_contain_text("Pat Duplicate")
    await page.get_by_role("link", name="Pat Doe").click()
    profile = page.get_by_role("region", name="Contact profile")
    await expect(profile).to_contain_text("Conversations (1)")
    await expect(profile).to_contain_text("Tickets (1)")
    timeline = profile.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text("Ticket opened")
    await expect(timeline).to_contain_text("Conversation started on")
    await picture(page, "contact")
    await no_serious_violations(page)
    await page.get_by_label("Find the other contact").fill("Duplicate")
    await page.get_by_role("button", name="Find").click()
    await page.get_by_role("button", name="Preview merging Pat Duplicate").click()
    await expect(page.get_by_role("status")).to_contain_text("1 conversations")
    await page.get_by_role("button", name="Merge", exact=True).click()
    await expect(profile).to_contain_text("Conversations (2)")
    await expect(profile).to_contain_text("pat@x.example")


async def downloaded(download) -> str:
    """A CSV the page downloaded (UTF-8 with the byte-order mark spreadsheets want)."""
    return await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")


async def test_a_manager_exports_the_rows_a_table_shows(make_hub, browser):
    hub = await make_hub()
    manager = await staff(hub, "manager", "Max")
    for n, name in enumerate(("Ann Able", "=cmd|' /C calc'!A0", "Bea Best")):
        await hub.chat(chat_message("hi", sender={"id": f"c{n}", "name": name, "email": f"c{n}@x.example"}))
    page = await signed_in(browser, hub, manager, "/contacts")
    table = page.get_by_role("table", name="Contact list")
    await expect(table.get_by_role("row")).to_have_count(4)
    await page.get_by_label("Filter rows").fill("b")  # Ann Able and Bea Best
    await expect(table.get_by_role("row")).to_have_count(3)
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export CSV").click()
    lines = (await downloaded(await download.value)).splitlines()
    assert lines[0].startswith("Name,Email,Phone,Company,Channels") and len(lines) == 3
    assert {line.split(",")[0] for line in lines[1:]} == {"Ann Able", "Bea Best"}
    await page.get_by_label("Filter rows").fill("cmd")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export CSV").click()
    exported = await downloaded(await download.value)
    assert exported.splitlines()[1].startswith("'=cmd")  # a formula stays text in a spreadsheet
    assert (await download.value).suggested_filename.startswith("contacts-")


async def test_managers_create_campaigns_and_sales_reps_see_their_results(make_hub, browser):
    hub = await make_hub()
    manager, rep = await staff(hub, "manager", "Max"), await staff(hub, "sales", "Sue")
    page = await signed_in(browser, hub, manager, "/campaigns")
    await page.get_by_label("Key (used by automation rules)").fill("welcome")
    await page.get_by_label("Campaign name").fill("Welcome series")
    await page.get_by_label("Email subject").fill("Welcome aboard")
    await page.get_by_label("Message").fill("Hi {first_name}, welcome!")
    await page.get_by_role("button", name="Add a step").click()
    await page.locator("#step-channel-1").select_option("chat")
    await page.get_by_label("Message").nth(1).fill("Anything we can help with?")
    await page.get_by_label("Delay in minutes").nth(1).fill("1440")
    await page.get_by_role("button", name="Create campaign").click()
    card = page.get_by_role("article", name="Welcome series")
    await expect(card).to_contain_text("email after 0 min")
    await expect(card).to_contain_text("chat after 1440 min")
    await no_serious_violations(page)
    await page.get_by_label("Campaign status").select_option("paused")
    campaign = await eventually(lambda: hub.db.campaigns.find_one({"key": "welcome", "status": "paused"}))
    assert len(campaign["steps"]) == 2

    await page.get_by_role("button", name="Edit Welcome series").click()
    await page.get_by_label("Campaign name").fill("Welcome, renamed")
    await page.get_by_role("button", name="Save campaign").click()
    await expect(page.get_by_role("article", name="Welcome, renamed")).to_be_visible()
    assert (await hub.db.campaigns.find_one({"key": "welcome"}))["name"] == "Welcome, renamed"

    rep_page = await signed_in(browser, hub, rep, "/campaigns")
    await expect(rep_page.get_by_role("article", name="Welcome, renamed")).to_contain_text("Enrolled")
    await expect(rep_page.get_by_role("button", name="Create campaign")).to_have_count(0)
    await expect(rep_page.get_by_label("Campaign status")).to_have_count(0)


async def test_on_a_phone_list_thread_and_contact_stack(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Pia")
    await hub.chat(chat_message("is my order on its way?", sender={"id": "m1", "name": "Mo Bile"}))
    page = await signed_in(browser, hub, agent, width=390)
    # The screens are a tab bar at the bottom; the filters wait behind one button.
    tabs = page.get_by_role("navigation", name="Main")
    box = await tabs.bounding_box()
    assert box is not None and box["y"] + box["height"] >= 800 - 2
    await expect(page.get_by_role("button", name="Status: Open")).to_be_hidden()
    await page.get_by_role("button", name="Filters").click()
    await expect(page.get_by_role("button", name="Status: Open")).to_be_visible()
    await page.get_by_role("button", name="Filters").click()
    await page.get_by_role("link", name="Mo Bile").click()
    await expect(page.get_by_role("region", name="Conversations")).to_be_hidden()
    await expect(page.get_by_role("list", name="Messages")).to_contain_text("is my order on its way?")
    await expect(page.get_by_role("complementary", name="Contact")).to_be_visible()
    reply = await page.get_by_label("Reply").bounding_box()
    assert reply is not None and reply["y"] + reply["height"] <= 800  # the composer is in reach
    await picture(page, "phone")
    await no_serious_violations(page)
    manifest = await page.request.get(str(hub.client.make_url("/manifest.webmanifest")))
    assert manifest.ok and (await manifest.json())["display"] == "standalone"
    await page.get_by_role("button", name="Back to the list").click()
    await expect(page.get_by_role("link", name="Mo Bile")).to_be_visible()


async def test_a_console_whose_session_ends_elsewhere_asks_to_sign_in_again(hub, browser):
    agent = await staff(hub, "agent", "Dora")
    page = await signed_in(browser, hub, agent, path="/inbox")
    await expect(page.get_by_role("link", name="Inbox")).to_be_visible()

    async def stream_open():
        _, metrics = await hub.call("GET", "/metrics")
        return "hub_stream_clients 1.0" in metrics

    await eventually(stream_open)
    admin = await hub.login("admin")
    user = await hub.services.users.active_by_email(agent)
    status, _ = await hub.call("PATCH", f"/api/v1/users/{user['_id']}", admin, json={"active": False})
    assert status == 200
    await expect(page.get_by_label("Email")).to_be_visible()
    assert page.url.endswith("/sign-in?next=/inbox")  # back to the inbox once signed in again
    await page.context.close()


async def test_an_admin_adds_a_webhook_sees_its_deliveries_and_sends_one_again(make_hub, browser):
    receiver = await WebhookReceiver().start()
    try:
        hub = await make_hub(webhook_allowed_networks=(ip_network("127.0.0.1/32"),))
        admin = await staff(hub, "admin", "Ada")
        page = await signed_in(browser, hub, admin, "/settings")
        panel = page.get_by_role("region", name="Webhooks")
        await expect(panel).to_contain_text("No webhook endpoints yet.")
        await panel.get_by_label("Endpoint URL").fill(receiver.url)
        await panel.get_by_label("ticket.opened").check()
        await panel.get_by_role("button", name="Add endpoint").click()
        await expect(panel.get_by_role("status")).to_contain_text("whsec_")
        secret = (await panel.locator(".shown-once code").inner_text()).strip()
        await panel.get_by_role("button", name="I have kept it").click()
        await expect(panel.get_by_role("row").filter(has_text=receiver.url)).to_contain_text(
            "message.received"
        )
        await no_serious_violations(page)

        await hub.chat(chat_message("Hello there"))
        await eventually(lambda: asyncio.sleep(0, receiver.received), timeout=10)
        headers, body = receiver.received[0]
        assert Webhook(secret).verify(body, headers)["type"] == "message.received"

        await panel.get_by_role("button", name=f"Deliveries to {receiver.url}").click()
        sheet = page.get_by_role("dialog", name=f"Deliveries to {receiver.url}")
        await expect(sheet.get_by_role("row").filter(has_text="message.received")).to_contain_text("200")
        await sheet.get_by_role("button", name="Send again").click()
        await expect(page.get_by_text("Queued to be sent again.")).to_be_visible()
        await eventually(lambda: asyncio.sleep(0, len(receiver.received) == 2), timeout=10)
        assert receiver.received[1][0]["webhook-id"] == headers["webhook-id"]
    finally:
        await receiver.stop()


async def test_an_admin_makes_an_api_key_that_works_once_and_revokes_it(make_hub, browser):
    hub = await make_hub()
    admin = await staff(hub, "admin", "Ada")
    page = await signed_in(browser, hub, admin, "/settings")
    panel = page.get_by_role("region", name="API keys")
    await panel.get_by_label("Integration").fill("shop sync")
    await panel.get_by_label("contacts:read").uncheck()
    await panel.get_by_label("tickets:read").check()
    await panel.get_by_role("button", name="Create key").click()
    await expect(panel.get_by_role("status")).to_contain_text("hubk_")
    key = (await panel.locator(".shown-once code").inner_text()).strip()
    await panel.get_by_role("button", name="I have kept it").click()
    await expect(panel.get_by_role("row").filter(has_text="shop sync")).to_contain_text("tickets:read")
    await no_serious_violations(page)
    assert (await hub.call("GET", "/api/v1/tickets", key))[0] == 200
    assert (await hub.call("GET", "/api/v1/contacts", key))[0] == 403
    await panel.get_by_role("button", name="Revoke shop sync").click()
    await expect(panel.get_by_role("row").filter(has_text="shop sync")).to_contain_text("Revoked")
    assert (await hub.call("GET", "/api/v1/tickets", key))[0] == 401


async def test_an_admin_exports_a_customers_data_and_erases_them(make_hub, browser):
    hub = await make_hub()
    admin = await staff(hub, "admin", "Ada")
    ack = await (
        await hub.chat(chat_message("Please delete my data", sender={"id": "e1", "name": "Eve Erase"}))
    ).json()
    page = await signed_in(browser, hub, admin, f"/contacts/{ack['contact_id']}")
    privacy = page.get_by_role("region", name="The customer's data")
    async with page.expect_download() as download:
        await privacy.get_by_role("link", name="Export everything held about them (zip)").click()
    assert (await download.value).suggested_filename == f"contact-{ack['contact_id']}.zip"
    await no_serious_violations(page)
    erase = privacy.get_by_role("button", name="Erase this customer")
    await expect(erase).to_be_disabled()
    await privacy.get_by_label("To erase this customer, type their id").fill(ack["contact_id"])
    await erase.click()
    await expect(page.get_by_text("The customer was erased.")).to_be_visible()
    await expect(page.get_by_role("table", name="Contact list")).not_to_contain_text("Eve Erase")
    assert await hub.db.messages.count_documents({"contact_id": ObjectId(ack["contact_id"])}) == 0


async def test_a_manager_imports_a_chinese_spreadsheet_after_a_dry_run(make_hub, browser, tmp_path):
    hub = await make_hub()
    manager = await staff(hub, "manager", "Mona")
    await hub.chat(chat_message("Hi", sender={"id": "k1", "name": "Known Kim", "email": "kim@example.com"}))
    sheet = tmp_path / "客户.csv"
    sheet.write_bytes(
        "姓名,邮箱,手机,会员等级,备注\n王小明,wang@example.cn,+86 138 0013 8000,金卡,老客户\n"
        "Kim,KIM@example.com,,银卡,\n无效,not-an-address,,,\n".encode("gb18030")
    )
    page = await signed_in(browser, hub, manager, "/contacts")
    await page.get_by_role("button", name="Import contacts").click()
    sheet_panel = page.get_by_role("dialog", name="Import contacts")
    await sheet_panel.get_by_label("Spreadsheet file").set_input_files(str(sheet))
    mapping = sheet_panel.get_by_role("table", name="Column mapping")
    await expect(mapping.get_by_role("row", name="邮箱")).to_contain_text("wang@example.cn")
    await expect(sheet_panel.get_by_label("Column 邮箱 imports as")).to_have_value("email")
    await expect(sheet_panel.get_by_label("Column 会员等级 imports as")).to_have_value("attributes.会员等级")
    await sheet_panel.get_by_label("Column 备注 imports as").select_option(label="Ignore")
    verdict = "Dry run: 1 would be created, 1 updated, 0 unchanged, 1 refused."
    await expect(sheet_panel).to_contain_text(verdict)
    await sheet_panel.get_by_role("button", name="Dry run again").click()
    await expect(sheet_panel.get_by_role("button", name="Start import")).to_be_enabled()
    await no_serious_violations(page)
    assert await hub.db.contacts.count_documents({}) == 1  # a dry run changes nothing

    await sheet_panel.get_by_role("button", name="Start import").click()
    await expect(sheet_panel.get_by_label("Import progress")).to_have_attribute("value", "100")
    await expect(sheet_panel).to_contain_text("Imported: 1 created, 1 updated, 0 unchanged, 1 refused.")
    async with page.expect_download() as download:
        await sheet_panel.get_by_role("link", name="Download the refused rows").click()
    assert "not-an-address" in await downloaded(await download.value)
    wang = await hub.db.contacts.find_one({"emails": "wang@example.cn"})
    assert wang["attributes"] == {"会员等级": "金卡"} and wang["phones"] == ["+8613800138000"]
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("table", name="Contact list")).to_contain_text("王小明")


async def test_an_agent_sees_what_a_customer_is_worth_and_gives_a_goodwill_coupon(make_hub, browser):
    hub = await make_hub()
    agent = await staff(hub, "agent", "Alice")
    admin = await hub.login("admin")
    sender = {"id": "v1", "name": "Vera Value", "email": "vera@example.com"}
    ack = await (await hub.chat(chat_message("My parcel for order 88001 is late", sender=sender))).json()
    body = {"number": "88001", "email": "vera@example.com", "status": "paid", "currency": "USD",
            "total": "120.00", "placed_at": datetime.now(UTC).isoformat(),
            "items": [{"name": "Teapot", "quantity": 1, "price": "120.00"}]}  # fmt: skip
    assert (await hub.call("POST", "/api/v1/orders", admin, json=body))[0] == 201
    entities = [{"type": "order", "value": "88001", "text": "order 88001"}]  # as the NLP finds it
    await hub.db.messages.update_one({"_id": ObjectId(ack["id"])}, {"$set": {"nlp.entities": entities}})
    page = await signed_in(browser, hub, agent, f"/inbox/{ack['conversation_id']}")
    worth = page.get_by_role("region", name="Customer value")
    await expect(worth.get_by_role("list", name="Orders mentioned here")).to_contain_text("Teapot")
    await expect(page.get_by_role("region", name="Conversations").get_by_role("link")).to_contain_text(
        "Promising"
    )
    await expect(worth).to_contain_text("Promising")
    await expect(worth).to_contain_text("120")  # points: one per dollar
    await expect(worth.get_by_role("list", name="Last orders")).to_contain_text("#88001")
    await no_serious_violations(page)

    await worth.get_by_role("button", name="Give a goodwill coupon").click()
    await worth.get_by_label("Coupon amount (USD)").fill("7.50")
    await worth.get_by_role("button", name="Give coupon").click()
    await expect(page.get_by_text("given.")).to_be_visible()
    coupon = await hub.db.coupons.find_one({"contact_id": ObjectId(ack["contact_id"])})
    assert coupon["amount"] == 7.5 and coupon["currency"] == "USD"
    await expect(worth.get_by_role("list", name="Coupons")).to_contain_text(coupon["code"])

    # A refund reaches the open panel live.
    assert (await hub.call("POST", "/api/v1/orders", admin, json=body | {"status": "refunded"}))[0] == 200
    await expect(worth.get_by_role("list", name="Last orders")).to_contain_text("Refunded")


async def test_a_sales_rep_builds_a_segment_with_a_live_count_and_saves_it(make_hub, browser):
    hub = await make_hub()
    rep = await staff(hub, "sales", "Sam")
    admin = await hub.login("admin")
    for number, email in (("G-1", "gold@example.com"), ("G-2", "green@example.com")):
        body = {"number": number, "email": email, "status": "paid", "currency": "USD",
                "total": "500.00" if number == "G-1" else "20.00", "placed_at": datetime.now(UTC).isoformat(),
                "items": []}  # fmt: skip
        assert (await hub.call("POST", "/api/v1/orders", admin, json=body))[0] == 201
    page = await signed_in(browser, hub, rep, "/segments")
    builder = page.get_by_role("region", name="Segment builder")
    await builder.get_by_label("Field of condition 1").select_option(label="Spend")
    await builder.get_by_label("Comparison of condition 1").select_option(label="≥")
    await builder.get_by_label("Value of condition 1").fill("100")
    await expect(builder).to_contain_text("1 contacts")
    await expect(builder.get_by_role("list", name="First members")).to_contain_text("gold@example.com")
    await no_serious_violations(page)
    await builder.get_by_label("Segment name").fill("Big spenders")
    await builder.get_by_role("button", name="Save segment").click()
    saved = page.get_by_role("table", name="Saved segments")
    await expect(saved.get_by_role("row", name="Big spenders")).to_contain_text("1")
    assert await hub.db.segments.count_documents({"name": "Big spenders"}) == 1
