"""Email against real peers: dovecot (IMAP + STARTTLS, fed over LMTP) for inbound, aiosmtpd
(STARTTLS + AUTH) for the hub's replies. Threading, quoting, loops, restarts, charsets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from bson import ObjectId

from tests.conftest import LATIN1_MAIL, eventually, nested_mail, post_email
from tests.mail_peers import SMTP_PASSWORD, SMTP_USER

SUPPORT = "support@hub.example"


def mail(
    sender: str = "Ann Example <ann@example.com>",
    subject: str = "Order 88412 never arrived",
    body: str = "Hello,\n\nmy parcel never arrived. Can you help?\n\nAnn",
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = headers.pop("message_id", make_msgid(domain="example.com"))
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@pytest.fixture
async def email_hub(make_hub, dovecot, smtp_server, test_ca):
    controller, inbox = smtp_server
    user, password = dovecot.add_user()
    overrides = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.imap_port,
        "imap_user": user,
        "imap_password": password,
        "imap_security": "starttls",
        # Longer than any wait below: new mail must arrive by IDLE, not by polling.
        "imap_poll_seconds": 120.0,
        "smtp_host": "127.0.0.1",
        "smtp_port": controller.port,
        "smtp_user": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "smtp_from": SUPPORT,
        "smtp_security": "starttls",
        "tls_ca_file": str(test_ca.ca_file),
    }
    hub = await make_hub(**overrides)
    hub.mail_user, hub.smtp_inbox, hub.overrides = user, inbox, overrides
    return hub


async def _messages(hub, minimum: int) -> list[dict]:
    async def enough():
        found = (
            await hub.db.messages.find({"direction": "in"})
            .sort([("created_at", 1), ("_id", 1)])
            .to_list(None)
        )
        return found if len(found) >= minimum else None

    return await eventually(enough, timeout=15)


async def test_thread_survives_agent_reply_and_every_kind_of_customer_answer(email_hub, dovecot):
    hub = email_hub
    agent = await hub.login("agent")
    original = mail()
    await dovecot.deliver(hub.mail_user, original)
    [first] = await _messages(hub, 1)
    conversation_id = first["conversation_id"]
    assert first["channel"] == "email" and first["external_id"] == original["Message-ID"]
    assert first["subject"] == "Order 88412 never arrived"

    status, reply = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                                   json={"text": "Sorry Ann, we are on it.\nThe support team"})  # fmt: skip
    assert status == 201
    sent = await eventually(lambda: asyncio.sleep(0, hub.smtp_inbox.messages))
    [outgoing] = sent
    assert outgoing["To"] == "ann@example.com" and outgoing["From"] == SUPPORT
    assert outgoing["Subject"] == "Re: Order 88412 never arrived"
    assert outgoing["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in outgoing["References"]
    assert outgoing.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == (
        "Sorry Ann, we are on it.\nThe support team"
    )
    assert "Sorry Ann" in outgoing.get_body(("html",)).get_content()
    stored_reply = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"})
    )
    assert stored_reply["external_id"] == outgoing["Message-ID"]

    answer = mail(
        subject="Re: Order 88412 never arrived",
        body="Thanks, that was quick!\n\nOn Mon, support wrote:\n> Sorry Ann, we are on it.\n> The team",
        In_Reply_To=outgoing["Message-ID"],
        References=f"{original['Message-ID']} {outgoing['Message-ID']}",
    )
    only_references = mail(subject="Re: Order 88412 never arrived", body="One more thing.",
                           References=original["Message-ID"])  # fmt: skip
    outlook = mail(
        subject="RE: Order 88412 never arrived",
        body="Any news?",
        In_Reply_To="<AM0PR01MB1234@outlook.example>",
        References=outgoing["Message-ID"],
    )
    subject_only = mail(subject="AW: Order 88412 never arrived", body="Noch etwas.")
    stranger = mail(sender="Bob <bob@example.org>", body="Same subject, different person.")
    for message in (answer, only_references, outlook, subject_only, stranger):
        await dovecot.deliver(hub.mail_user, message)
    messages = await _messages(hub, 6)
    by_id = {m["external_id"]: m for m in messages}
    for message in (answer, only_references, outlook, subject_only):
        assert by_id[message["Message-ID"]]["conversation_id"] == conversation_id, message["Subject"]
    assert by_id[stranger["Message-ID"]]["conversation_id"] != conversation_id

    threaded = by_id[answer["Message-ID"]]
    assert threaded["text"] == "Thanks, that was quick!"
    assert "> Sorry Ann" in threaded["original_text"]
    assert threaded["email"]["in_reply_to"] == outgoing["Message-ID"]
    conversation = await hub.db.conversations.find_one({"_id": conversation_id})
    assert conversation["message_count"] == 6


async def test_poller_restart_neither_skips_nor_reingests(email_hub, dovecot, make_hub):
    hub = email_hub
    first, second = mail(subject="one"), mail(subject="two")
    await dovecot.deliver(hub.mail_user, first)
    await dovecot.deliver(hub.mail_user, second)
    await _messages(hub, 2)
    await hub.client.close()

    while_down = mail(subject="three")
    await dovecot.deliver(hub.mail_user, while_down)
    restarted = await make_hub(**hub.overrides)
    messages = await _messages(restarted, 3)
    assert [m["subject"] for m in messages] == ["one", "two", "three"]
    # The UID is saved right after each message is stored.
    await eventually(lambda: restarted.db.mailboxes.find_one({"last_uid": 3}))
    # A fresh message after the restart arrives by IDLE, once.
    await dovecot.deliver(hub.mail_user, mail(subject="four"))
    assert [m["subject"] for m in await _messages(restarted, 4)] == ["one", "two", "three", "four"]
    assert await restarted.db.messages.count_documents({}) == 4


async def test_auto_replies_are_stored_flagged_and_never_acted_on(email_hub, dovecot):
    hub = email_hub
    agent = await hub.login("agent")
    await dovecot.deliver(hub.mail_user, mail())
    [first] = await _messages(hub, 1)
    await hub.call(
        "PATCH", f"/api/v1/conversations/{first['conversation_id']}", agent, json={"status": "resolved"}
    )
    out_of_office = mail(subject="Automatic reply: Order 88412 never arrived", body="I am away until Monday.",
                         Auto_Submitted="auto-replied", References=first["external_id"])  # fmt: skip
    bounce = mail(sender="MAILER-DAEMON@mx.example.com", subject="Undelivered Mail Returned to Sender",
                  body="This is the mail system.")  # fmt: skip
    bulk = mail(sender="news@shop.example", subject="Our summer sale", body="50% off", Precedence="bulk")
    for message in (out_of_office, bounce, bulk):
        await dovecot.deliver(hub.mail_user, message)
    messages = await _messages(hub, 4)
    flagged = {m["subject"]: m for m in messages[1:]}
    assert flagged["Automatic reply: Order 88412 never arrived"]["flags"] == {
        "auto": "Auto-Submitted: auto-replied"
    }
    assert flagged["Undelivered Mail Returned to Sender"]["flags"]["auto"].startswith("sent by mailer-daemon")
    assert flagged["Our summer sale"]["flags"] == {"auto": "Precedence: bulk"}
    assert all(m["nlp"] == {"status": "skipped"} for m in messages[1:])
    assert messages[0]["nlp"] == {"status": "pending"}
    conversation = await hub.db.conversations.find_one({"_id": first["conversation_id"]})
    assert conversation["status"] == "resolved" and conversation["message_count"] == 2
    assert await hub.db.jobs.count_documents({}) == 0
    assert hub.smtp_inbox.messages == []


async def test_smtp_refusals_are_retried_or_reported(email_hub):
    hub = email_hub
    agent = await hub.login("agent")
    ack = await (await post_email(hub, mail().as_bytes())).json()
    hub.smtp_inbox.fail_next = ["451 4.3.0 try again later"]
    _, reply = await hub.call("POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent,
                              json={"text": "retry me"})  # fmt: skip
    sent = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"}),
        timeout=10,
    )
    assert sent["delivery"]["attempts"] == 2 and len(hub.smtp_inbox.messages) == 1

    hub.smtp_inbox.fail_next = ["550 5.1.1 no such user"]
    _, refused = await hub.call("POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent,
                                json={"text": "refuse me"})  # fmt: skip
    failed = await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(refused["id"]), "delivery.status": "failed"})
    )
    assert "550" in failed["delivery"]["error"] and failed["delivery"]["attempts"] == 1


async def test_a_line_break_hidden_in_the_subject_neither_breaks_nor_forges_the_reply(email_hub):
    hub = email_hub
    agent = await hub.login("agent")
    raw = (
        mail(subject="placeholder")
        .as_bytes()
        .replace(b"Subject: placeholder", b"Subject: =?utf-8?q?Order_help=0D=0ABcc:_spy@evil.example?=")
    )
    ack = await (await post_email(hub, raw)).json()
    stored = await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})
    assert stored["subject"] == "Order help Bcc: spy@evil.example"
    # A route stored by an earlier version, line break and all, is answered on one line too.
    await hub.db.messages.update_one(
        {"_id": stored["_id"]}, {"$set": {"subject": "Order help\r\nBcc: spy@evil.example"}}
    )
    await hub.db.conversations.update_one(
        {"_id": stored["conversation_id"]}, {"$set": {"route.subject": "Order help\r\nBcc: spy@evil.example"}}
    )
    _, reply = await hub.call("POST", f"/api/v1/conversations/{ack['conversation_id']}/messages", agent,
                              json={"text": "On it."})  # fmt: skip
    await eventually(
        lambda: hub.db.messages.find_one({"_id": ObjectId(reply["id"]), "delivery.status": "sent"})
    )
    [outgoing] = hub.smtp_inbox.messages
    assert outgoing["Subject"] == "Re: Order help Bcc: spy@evil.example"
    assert outgoing["Bcc"] is None and outgoing["To"] == "ann@example.com"


def _imaps(dovecot, user: str, password: str, **extra) -> dict:
    """Settings for the poller on dovecot's implicit-TLS port."""
    return {"imap_host": "127.0.0.1", "imap_port": dovecot.imaps_port, "imap_user": user,
            "imap_password": password, "imap_security": "tls", **extra}  # fmt: skip


async def test_poller_over_implicit_tls(make_hub, dovecot, test_ca):
    user, password = dovecot.add_user()
    hub = await make_hub(**_imaps(dovecot, user, password, tls_ca_file=str(test_ca.ca_file)))
    await dovecot.deliver(user, mail(subject="over TLS"))
    [message] = await _messages(hub, 1)
    assert message["subject"] == "over TLS"


async def test_poller_refuses_a_server_it_cannot_verify(make_hub, dovecot, caplog):
    user, password = dovecot.add_user()
    await dovecot.deliver(user, mail(subject="must wait"))
    caplog.set_level("WARNING", logger="hub.channel_plugins.email")
    hub = await make_hub(**_imaps(dovecot, user, password))
    # Without the test CA the certificate is untrusted: the poller says why and reads nothing.
    refused = await eventually(
        lambda: asyncio.sleep(
            0, [r for r in caplog.records if r.getMessage() == "mailbox unavailable; retrying"]
        )
    )
    assert "CERTIFICATE_VERIFY_FAILED" in refused[0].error
    assert await hub.db.messages.count_documents({}) == 0


async def test_a_poisoned_mail_never_blocks_the_mailbox(email_hub, dovecot):
    """Raw 8-bit headers and a mail no parser can take apart are stored (the latter flagged),
    and the mail after them is read as usual."""
    hub = email_hub
    for raw in (LATIN1_MAIL, nested_mail()):
        await dovecot.deliver(hub.mail_user, raw)
    await dovecot.deliver(hub.mail_user, mail(subject="after the poison"))
    messages = await _messages(hub, 3)
    assert messages[0]["sender"]["name"] == "José", messages[0].get("flags")
    assert "error" in messages[1]["flags"]
    assert messages[2]["subject"] == "after the poison"


async def test_a_reply_with_a_file_goes_as_a_mime_attachment(email_hub, dovecot):
    hub = email_hub
    agent = await hub.login("agent")
    await dovecot.deliver(hub.mail_user, mail())
    [first] = await _messages(hub, 1)
    conversation_id = first["conversation_id"]
    pdf = {"name": "发票.pdf", "content_type": "application/pdf"}
    status, uploaded = await hub.upload(agent, conversation_id, b"%PDF-1.4 invoice", **pdf)
    assert status == 201
    sending = {"text": "Your invoice is attached.", "attachments": [uploaded["id"]]}
    status, _ = await hub.call("POST", f"/api/v1/conversations/{conversation_id}/messages", agent,
                               json=sending)  # fmt: skip
    assert status == 201
    [outgoing] = await eventually(lambda: asyncio.sleep(0, hub.smtp_inbox.messages))
    [attached] = list(outgoing.iter_attachments())
    assert attached.get_filename() == "发票.pdf" and attached.get_content_type() == "application/pdf"
    assert attached.get_content() == b"%PDF-1.4 invoice"
    assert "Your invoice is attached." in outgoing.get_body(("plain",)).get_content()
