"""How connections to the mail servers (IMAP and SMTP) are encrypted."""

SECURITY_MODES = ("tls", "starttls", "none")
