"""Inbound mail: RFC 5322 parsing with threading headers, quote stripping, charsets read
as written, and loop protection; the forwarding webhook's signature."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from email_reply_parser import EmailReplyParser

from channels.base import (
    Attachment,
    InboundMessage,
    Sender,
    utc_moment,
    verify_hmac_sha256,
)

CHANNEL = "email"
SIGNATURE_HEADER = "X-Hub-Signature-256"
UNKNOWN_SENDER = "unknown-sender@invalid"
MAX_REFERENCES = 20
MAX_DAMAGED_TEXT = 64 * 1024

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# A quoted local part ("a,bcc: b"@x) or a domain literal (a@[10.0.0.1]) is legal mail, but no
# address we keep or write back into a header: only plain addresses are read.
_PLAIN_ADDRESS = re.compile(r"[^\s\"\\(),:;<>@\[\]]+@[^\s\"\\(),:;<>@\[\]]+\.[^\s\"\\(),:;<>@\[\]]+")
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|wg|antw|tr|vs|rv)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_SIGNATURE = re.compile(r"^(-- ?|__+)\s*$")
_HEADER_BLOCK = re.compile(r"^(From|Von|De|Da|Van|Från|Fra):\s", re.IGNORECASE)
_HEADER_BLOCK_NEXT = re.compile(
    r"^(Sent|Gesendet|Envoyé|Inviato|Verzonden|Skickat|Sendt|Date|Datum):\s", re.IGNORECASE
)
_BULK_PRECEDENCE = {"bulk", "list", "junk"}
_DAEMONS = ("mailer-daemon", "postmaster")


def verify(secret: str, body: bytes, signature: str | None) -> None:
    verify_hmac_sha256(secret, body, signature)


def parse(raw: bytes, *, max_attachment_bytes: int = 5 * 1024 * 1024) -> InboundMessage:
    """Never raises on bad mail: what cannot be read is flagged on the message instead, and a
    mail the parser cannot take apart at all (3,000 nested parts, say) is kept as text."""
    try:
        return _parse(raw, max_attachment_bytes)
    except Exception as exc:  # the stdlib parser has many ways to fail on hostile input
        return damaged(raw, f"unreadable mail ({exc.__class__.__name__})")


def damaged(raw: bytes, reason: str) -> InboundMessage:
    """What can be kept of a mail that could not be read: its first bytes as text, flagged,
    from an unknown sender, so an agent sees it and nothing acts on it automatically."""
    external_id = _fallback_id(raw)
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id,
        thread_key=external_id,
        sender=Sender(external_id=UNKNOWN_SENDER),
        text=raw[:MAX_DAMAGED_TEXT].decode("utf-8", errors="replace"),
        sent_at=datetime.now(UTC),
        route={},
        email={"message_id": external_id, "size": len(raw)},
        flags={"error": reason},
    )


def _fallback_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@hub.invalid>"


def _parse(raw: bytes, max_attachment_bytes: int) -> InboundMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    flags: dict[str, str] = {}
    sender = _sender(msg, flags)
    message_id = _ids(_header(msg, "Message-ID"))
    external_id = message_id[0] if message_id else _fallback_id(raw)
    in_reply_to = _ids(_header(msg, "In-Reply-To"))
    references = _ids(_header(msg, "References"))
    subject = (_header(msg, "Subject") or "").strip()
    text, html_body = _bodies(msg, flags)
    reply = strip_quoted(text)
    if reason := auto_reason(msg, sender.email or ""):
        flags["auto"] = reason
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id,
        thread_key=external_id,
        sender=sender,
        text=reply,
        original_text=text if reply != text else None,
        html=html_body,
        sent_at=_date(msg),
        attachments=tuple(_attachments(msg, max_attachment_bytes)),
        subject=subject or None,
        subject_key=normalize_subject(subject) or None,
        thread_refs=tuple(dict.fromkeys([*in_reply_to, *reversed(references)])),
        route={
            "to": sender.email,
            "subject": subject,
            "message_id": external_id,
            "references": [*references, external_id][-MAX_REFERENCES:],
        },
        email={
            "message_id": external_id,
            "in_reply_to": in_reply_to[0] if in_reply_to else None,
            "references": references,
            "subject": subject,
            "from": sender.email,
            "to": _addresses(msg, "To"),
            "cc": _addresses(msg, "Cc"),
        },
        flags=flags,
    )


def _header(msg: EmailMessage, name: str) -> str | None:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, TypeError):
        return None
    if value is None:
        return None
    if "\ufffd" in str(value):
        # The parser gave up on raw 8-bit bytes in this header: read them ourselves.
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
    return one_line(_text(str(value), msg))


def one_line(text: str) -> str:
    """Header text on one line. An encoded word can hide a line break
    (`=?utf-8?q?a=0D=0A...?=`): kept, it would reach the reply's Subject, which the mail
    library refuses, so a customer could make every reply to them fail."""
    return " ".join(text.split())


def _text(value: str, msg: EmailMessage) -> str:
    """Header text as storable Unicode. Raw 8-bit bytes in a header (against the RFC, but
    common: older Chinese mail clients write GBK) reach us as surrogate escapes: read them as
    UTF-8 if they are, else in a charset the mail declares for its text, else as
    Windows-1252, the usual culprit."""
    try:
        value.encode()
        return value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", errors="surrogateescape")
    for charset in ("utf-8", *_declared_charsets(msg)):
        try:
            return raw.decode(_codec(charset))
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("cp1252", errors="replace")


def _declared_charsets(msg: EmailMessage) -> list[str]:
    try:
        return list(dict.fromkeys(c for c in msg.get_charsets() if c))
    except (ValueError, TypeError, AttributeError):
        return []


# Labels that mail declares for what is in fact a superset: "GB2312" and "GBK" mail carries GBK
# and GB18030 characters, "Big5" mail HKSCS ones (browsers read them so too, per the WHATWG
# Encoding standard). Read strictly as labelled, such characters came out as "\ufffd".
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
              "big5": "big5hkscs"}  # fmt: skip


def _codec(charset: str) -> str:
    """The Python codec to read text labelled `charset` with."""
    label = charset.strip().lower()
    return _SUPERSETS.get(label, label)


def _ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def _sender(msg: EmailMessage, flags: dict[str, str]) -> Sender:
    try:
        header = msg.get("From")
        address = header.addresses[0] if header is not None and header.addresses else None
    except (ValueError, IndexError, TypeError, AttributeError):
        address = None
    email = _plain(address.addr_spec, msg) if address is not None else None
    if address is None or email is None:
        flags["error"] = "no readable From: header"
        return Sender(external_id=UNKNOWN_SENDER)
    return Sender(external_id=email, name=_text(address.display_name, msg) or None, email=email)


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    try:
        header = msg.get(name)
        found = [_plain(a.addr_spec, msg) for a in header.addresses] if header is not None else []
    except (ValueError, IndexError, TypeError, AttributeError):
        return []
    return [address for address in found if address is not None]


def _plain(addr_spec: str, msg: EmailMessage) -> str | None:
    address = _text(addr_spec.lower(), msg)
    return address if _PLAIN_ADDRESS.fullmatch(address) else None


def _date(msg: EmailMessage) -> datetime:
    """The Date header in UTC; now, when it is missing, unreadable or out of range."""
    try:
        return utc_moment(parsedate_to_datetime(_header(msg, "Date") or ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        return datetime.now(UTC)


def _decoded(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):  # a multipart part has none
            return ""
        charset = part.get_content_charset() or "utf-8"
    except (ValueError, TypeError, AssertionError, AttributeError):
        return ""
    try:
        return payload.decode(_codec(charset), errors="replace")
    except LookupError:
        # Unknown charset: keep every byte readable rather than lose the message.
        return payload.decode("utf-8", errors="replace")


def _bodies(msg: EmailMessage, flags: dict[str, str]) -> tuple[str, str | None]:
    try:
        plain = msg.get_body(preferencelist=("plain",))
        rich = msg.get_body(preferencelist=("html",))
    except (KeyError, ValueError, TypeError, AttributeError):
        plain = rich = None
    html_body = _decoded(rich) if rich is not None else None
    if plain is not None:
        return _decoded(plain).strip(), html_body
    if html_body is not None:
        return html_to_text(html_body), html_body
    if not msg.is_multipart():
        flags.setdefault("error", f"unreadable body ({msg.get_content_type()})")
        return _decoded(msg).strip(), None
    return "", None


def _attachments(msg: EmailMessage, limit: int) -> list[Attachment]:
    found = []
    try:
        parts = list(msg.iter_attachments())
    except (KeyError, ValueError, TypeError, AttributeError):
        return found
    for part in parts:
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""  # a multipart attachment has none
        keep = len(payload) <= limit
        found.append(
            Attachment(
                name=_text(part.get_filename() or "attachment", msg),
                content_type=part.get_content_type(),
                size=len(payload),
                content=payload if keep else None,
                note=None if keep else f"content dropped: larger than the {limit}-byte limit",
            )
        )
    return found


def auto_reason(msg: EmailMessage, sender: str) -> str | None:
    """Why this mail was sent by a machine (auto-reply, bounce, bulk), or None."""
    auto_submitted = (_header(msg, "Auto-Submitted") or "no").strip().lower()
    if auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(msg, name):
            return f"{name} header"
    if (_header(msg, "Precedence") or "").strip().lower() in _BULK_PRECEDENCE:
        return f"Precedence: {(_header(msg, 'Precedence') or '').strip().lower()}"
    if _header(msg, "List-Unsubscribe") or _header(msg, "List-Id"):
        return "mailing list"
    if sender.split("@")[0] in _DAEMONS:
        return f"sent by {sender}"
    if msg.get_content_type() == "multipart/report":
        return "delivery status notification"
    return None


def normalize_subject(subject: str) -> str:
    return " ".join(_SUBJECT_PREFIX.sub("", subject or "").split()).lower()


def strip_quoted(text: str) -> str:
    """What the customer wrote this time: no quoted thread, no signature."""
    reply = EmailReplyParser.parse_reply(text) if text.strip() else ""
    lines = reply.splitlines()
    for index, line in enumerate(lines):
        ahead = lines[index + 1 : index + 4]
        if _SIGNATURE.match(line) or (
            _HEADER_BLOCK.match(line) and any(_HEADER_BLOCK_NEXT.match(a) for a in ahead)
        ):
            lines = lines[:index]
            break
    return "\n".join(lines).strip() or text.strip()


class _TextExtractor(HTMLParser):
    _BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
