"""Email: parsing inbound mail (parse), the IMAP mailbox the poller reads (imap), SMTP
delivery of agent replies (smtp), and the signed unsubscribe link (unsubscribe)."""

from channels.email.connections import SECURITY_MODES
from channels.email.imap import ImapMailbox
from channels.email.parse import (
    CHANNEL,
    SIGNATURE_HEADER,
    damaged,
    parse,
    verify,
)
from channels.email.smtp import EmailSender
from channels.email.unsubscribe import unsubscribe_signature, verify_unsubscribe

__all__ = [
    "CHANNEL",
    "SECURITY_MODES",
    "SIGNATURE_HEADER",
    "EmailSender",
    "ImapMailbox",
    "damaged",
    "parse",
    "unsubscribe_signature",
    "verify",
    "verify_unsubscribe",
]
