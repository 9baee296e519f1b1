"""/webhooks/email and the parser behind both email paths: charsets, HTML, attachments,
damaged mail. Nothing is lost, nothing crashes, nothing is stored twice."""

from __future__ import annotations

import base64
import quopri
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.conftest import post_email


def raw_mail(body: bytes, *, headers: str = "", content_type: str = "text/plain; charset=utf-8",
             encoding: str = "8bit", sender: str = "Jan <jan@example.cz>",
             subject: str = "Test") -> bytes:  # fmt: skip
    head = (
        f"From: {sender}\r\nTo: support@hub.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{ObjectId()}@example.cz>\r\nMIME-Version: 1.0\r\n{headers}"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode() + body


async def _stored(hub, response) -> dict:
    assert response.status == 201, await response.text()
    ack = await response.json()
    return await hub.db.messages.find_one({"_id": ObjectId(ack["id"])})


@pytest.mark.parametrize(
    "charset,encoding,text",
    [
        ("iso-8859-1", "quoted-printable", "Grüße aus München, das Paket fehlt."),
        ("windows-1252", "8bit", "Prix: 50€ \u2013 «urgent»"),
        ("koi8-r", "base64", "Здравствуйте, где мой заказ?"),
        ("iso-2022-jp", "7bit", "注文が届きません"),
        ("gb2312", "base64", "我的订单还没到"),
    ],
)
async def test_any_charset_and_transfer_encoding(hub, charset, encoding, text):
    encoded = text.encode(charset)
    if encoding == "base64":
        body = base64.encodebytes(encoded)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(encoded)
    else:
        body = encoded
    raw = raw_mail(body, content_type=f"text/plain; charset={charset}", encoding=encoding)
    message = await _stored(hub, await post_email(hub, raw))
    assert message["text"] == text
    assert message["flags"] == {}


@pytest.mark.parametrize(
    ("label", "encoding", "name", "subject", "text"),
    [
        # Labelled GB2312, written in GBK (镕 and 喆 are not in GB2312), headers raw as well.
        ("gb2312", "gbk", "王小镕", "关于订单的问题", "你好，我的订单还没到。陶喆"),
        ("GBK", "gb18030", "张三", "发票抬头", "请开增值税发票。"),
        ("big5", "big5hkscs", "陳大文", "訂單查詢", "我的訂單在哪裏？"),  # 裏 is an HKSCS-era form
    ],
)
async def test_chinese_mail_reads_as_written(hub, label, encoding, name, subject, text):
    """Older Chinese mail clients label GBK text as GB2312 and write headers as raw bytes in it."""
    head = (
        f"From: {name} <customer@example.cn>\r\nTo: support@hub.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.cn>\r\nContent-Type: text/plain; charset={label}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    raw = head.encode(encoding) + text.encode(encoding)
    message = await _stored(hub, await post_email(hub, raw))
    assert (message["sender"]["name"], message["subject"], message["text"]) == (name, subject, text)


async def test_unknown_or_lying_charset_keeps_the_message_readable(hub):
    message = await _stored(
        hub,
        await post_email(
            hub, raw_mail("caf\u00e9 ok".encode("latin-1"), content_type="text/plain; charset=x-nope")
        ),
    )
    assert message["text"].startswith("caf") and message["text"].endswith("ok")


async def test_html_only_mail_becomes_readable_text(hub):
    html = b"<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;team,</p><ul><li>one</li>" \
           b"<li>two &amp; three</li></ul><script>alert(1)</script><p>Thanks</p></body></html>"  # fmt: skip
    message = await _stored(
        hub, await post_email(hub, raw_mail(html, content_type="text/html; charset=utf-8"))
    )
    assert message["text"] == "Hello team,\n\n- one\n\n- two & three\n\nThanks"
    assert message["html"].startswith("<html>")


async def test_attachments_are_recorded_stored_and_downloadable(make_hub):
    hub = await make_hub(email_max_attachment_bytes=1000)
    small, large = b"%PDF-1.4 tiny invoice", b"x" * 5000
    boundary = "BOUNDARY42"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(small).decode()}\r\n"
        f"--{boundary}\r\nContent-Type: image/png\r\n"
        'Content-Disposition: attachment; filename="photo.png"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(large).decode()}\r\n"
        f"--{boundary}\r\nContent-Type: text/html\r\n"  # a customer's page: downloaded, never shown
        "Content-Disposition: attachment; filename*=utf-8''%E5%8F%91%E7%A5%A8%20%22Q4%22.html\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(b'<script>1</script>').decode()}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = await post_email(hub, raw_mail(body, content_type=f"multipart/mixed; boundary={boundary}"))
    message = await _stored(hub, response)
    assert message["text"] == "See attached."
    invoice, photo, page = message["attachments"]
    assert (invoice["name"], invoice["content_type"], invoice["size"]) == (
        "invoice.pdf",
        "application/pdf",
        len(small),
    )
    assert (photo["name"], photo["size"], "content" in photo) == ("photo.png", 5000, False)
    assert "larger than the 1000-byte limit" in photo["note"]

    agent = await hub.login("agent")
    _, thread = await hub.call("GET", f"/api/v1/conversations/{message['conversation_id']}/messages", agent)
    assert "content" not in thread["items"][0]["attachments"][0]
    async with hub.client.get(f"/api/v1/messages/{message['_id']}/attachments/0",
                              headers={"Authorization": f"Bearer {agent}"}) as resp:  # fmt: skip
        assert resp.status == 200 and resp.content_type == "application/pdf"
        assert await resp.read() == small
    status, body = await hub.call("GET", f"/api/v1/messages/{message['_id']}/attachments/1", agent)
    assert status == 404
    async with hub.client.get(f"/api/v1/messages/{message['_id']}/attachments/2",
                              headers={"Authorization": f"Bearer {agent}"}) as resp:  # fmt: skip
        assert page["name"] == '发票 "Q4".html' and await resp.read() == b"<script>1</script>"
        # Named in UTF-8 for browsers (RFC 6266), in ASCII for the rest; never rendered as a page.
        assert resp.headers["Content-Disposition"] == (
            "attachment; filename=\"__ _Q4_.html\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8%20%22Q4%22.html"
        )
        assert resp.headers["Content-Security-Policy"] == "sandbox"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    for index in ("%C2%B2", "-1", "x"):  # "²" passes str.isdigit() but not int()
        status, body = await hub.call("GET", f"/api/v1/messages/{message['_id']}/attachments/{index}", agent)
        assert (status, body["error"]["code"]) == (404, "not_found"), index


async def test_mail_without_from_is_kept_and_flagged(hub):
    raw = b"To: support@hub.example\r\nSubject: who am I\r\nMessage-ID: <nofrom@x>\r\n\r\nHello?"
    message = await _stored(hub, await post_email(hub, raw))
    assert message["flags"] == {"error": "no readable From: header"} and message["text"] == "Hello?"


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe garbage that is not mail at all",
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="open"\r\n\r\n--open\r\n',
        b"From: =?utf-8?q?broken\r\nSubject: =?bad?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody",
        b"Subject: no blank line and no body",
    ],
)
async def test_malformed_mime_is_stored_not_crashed(hub, raw):
    response = await post_email(hub, raw)
    assert response.status == 201, await response.text()
    assert await hub.db.messages.count_documents({}) == 1


async def test_redelivered_mail_is_stored_once_and_mail_without_message_id_dedupes_by_content(hub):
    raw = raw_mail(b"hello")
    first, again = await post_email(hub, raw), await post_email(hub, raw)
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    anonymous = b"From: x@example.com\r\nSubject: no id\r\n\r\nsame bytes"
    one, two = await post_email(hub, anonymous), await post_email(hub, anonymous)
    assert (one.status, two.status) == (201, 200)
    assert await hub.db.messages.count_documents({}) == 2


async def test_email_webhook_checks_its_signature_and_body(make_hub):
    hub = await make_hub(email_webhook_secret="email-only-secret")
    raw = raw_mail(b"hi")
    assert (await post_email(hub, raw)).status == 401  # signed with the chat secret: wrong one
    assert (await post_email(hub, raw, secret="email-only-secret")).status == 201
    empty = await post_email(hub, b"  ", secret="email-only-secret")
    assert empty.status == 400 and (await empty.json())["error"]["code"] == "bad_payload"
    unsigned = await hub.client.post("/webhooks/email", data=raw)
    assert unsigned.status == 401
    assert await hub.db.messages.count_documents({}) == 1


async def test_a_reply_by_subject_alone_joins_the_conversation_only_while_it_is_recent(hub):
    first = await _stored(hub, await post_email(hub, raw_mail(b"Where is it?", subject="Order 5521")))
    reply = await _stored(hub, await post_email(hub, raw_mail(b"Any news?", subject="Re: Order 5521")))
    assert reply["conversation_id"] == first["conversation_id"]
    other = await _stored(hub, await post_email(hub, raw_mail(b"Hi", subject="Re: Order 5521",
                                                              sender="Eva <eva@example.cz>")))  # fmt: skip
    assert other["conversation_id"] != first["conversation_id"]

    two_weeks_ago = datetime.now(UTC) - timedelta(days=15)
    await hub.db.conversations.update_one(
        {"_id": first["conversation_id"]}, {"$set": {"last_message_at": two_weeks_ago}}
    )
    late = await _stored(hub, await post_email(hub, raw_mail(b"Still nothing", subject="RE: Order 5521")))
    assert late["conversation_id"] not in (first["conversation_id"], other["conversation_id"])
