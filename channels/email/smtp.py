"""Agent replies by SMTP, threaded into the customer's conversation."""

from __future__ import annotations

import html
import ssl
from email.message import EmailMessage

import aiosmtplib

from channels.base import AttachmentPolicy, DeliveryError, OutboundMessage
from channels.email.parse import CHANNEL, UNKNOWN_SENDER, normalize_subject, one_line

# Attached as MIME parts; most mail servers refuse messages past 10-25 MB in all.
REPLY_ATTACHMENTS = AttachmentPolicy(max_bytes=5 * 1024 * 1024)


class EmailSender:
    """Agent replies by SMTP, threaded so the customer's client files them with the original."""

    channel = CHANNEL

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        username: str | None = None,
        password: str | None = None,
        security: str = "starttls",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host, self._port = host, port
        self._from = from_address
        self._username, self._password = username, password
        self._security = security
        self._tls_context = tls_context

    def message_id(self, delivery_id: str) -> str:
        """Stable across retries, so a resent reply is recognisably the same mail."""
        return f"<{delivery_id}@{self._from.rpartition('@')[2] or 'hub.invalid'}>"

    def compose(self, message: OutboundMessage) -> EmailMessage:
        route = message.route
        mail = EmailMessage()
        mail["From"] = self._from
        mail["To"] = route["to"]
        # Subjects stored by earlier versions may still hold line breaks.
        subject = one_line(route.get("subject") or "") or "Your message"
        replying = bool(route.get("message_id"))
        already_re = normalize_subject(subject) != subject.lower().strip()
        mail["Subject"] = f"Re: {subject}" if replying and not already_re else subject
        mail["Message-ID"] = self.message_id(message.delivery_id)
        if replying:
            mail["In-Reply-To"] = route["message_id"]
            mail["References"] = " ".join(route.get("references") or [route["message_id"]])
        if route.get("list_unsubscribe"):  # marketing mail: one-click unsubscribe (RFC 8058)
            mail["List-Unsubscribe"] = f"<{route['list_unsubscribe']}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["Auto-Submitted"] = "no"
        mail.set_content(message.text)
        mail.add_alternative(
            '<html><body><div style="font-family:sans-serif;white-space:pre-wrap">'
            f"{html.escape(message.text)}</div></body></html>",
            subtype="html",
        )
        for attachment in message.attachments:
            maintype, _, subtype = (attachment.content_type or "application/octet-stream").partition("/")
            mail.add_attachment(attachment.content or b"", maintype, subtype, filename=attachment.name)
        return mail

    async def send(self, message: OutboundMessage) -> str:
        if not message.route.get("to") or message.route["to"] == UNKNOWN_SENDER:
            raise DeliveryError("the conversation has no email address to reply to", retryable=False)
        mail = self.compose(message)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._security == "tls",
                start_tls=True
                if self._security == "starttls"
                else False
                if self._security == "none"
                else None,
                tls_context=self._tls_context,
                timeout=30,
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", retryable=exc.code < 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP server unreachable: {exc.__class__.__name__}", retryable=True) from exc
        return mail["Message-ID"]
