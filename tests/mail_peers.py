"""Real mail servers on loopback for the email tests: Debian's dovecot (IMAP with STARTTLS,
fed over LMTP) and aiosmtpd (STARTTLS + AUTH) receiving the hub's replies, with a test CA."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import smtplib
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "hub", "smtp-password"
USER_POOL = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TestCA:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_ca(directory: Path) -> TestCA:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    return TestCA(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")


class Dovecot:
    """One dovecot for the test session; each test gets its own mail user."""

    def __init__(self, root: Path, ca: TestCA) -> None:
        self.root = root
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.lmtp_port = free_port()
        self.users_file = root / "users"
        self._process: subprocess.Popen | None = None
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # All users up front: dovecot re-reads the users file by mtime, which misses additions
        # made within the same second as its last read.
        self._free_users = [(f"support{n}", secrets.token_hex(8)) for n in range(USER_POOL)]
        self.users_file.write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self._free_users))
        (root / "dovecot.conf").write_text(
            f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{ca.cert_file}
ssl_key = <{ca.key_file}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%n/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.users_file}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
"""
        )
        shutil.chown(root / "mail", "nobody", "nogroup")

    async def start(self) -> Dovecot:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self._process = subprocess.Popen([binary, "-F", "-c", str(self.root / "dovecot.conf")])
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.imap_port)
                writer.close()
                return self
            if self._process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                log = (self.root / "dovecot.log").read_text()[-2000:]
                raise RuntimeError(f"dovecot did not start: {log}")
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    def add_user(self) -> tuple[str, str]:
        """A mail user no other test has used."""
        return self._free_users.pop()

    async def deliver(self, user: str, message: EmailMessage | bytes) -> None:
        raw = message if isinstance(message, bytes) else message.as_bytes()

        def send() -> None:
            with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
                lmtp.sendmail("sender@example.net", [user], raw)

        await asyncio.to_thread(send)


@dataclass
class SmtpInbox:
    """What the hub sent, as the receiving SMTP server saw it."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)  # SMTP replies to give instead of accepting

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.fail_next:
            return self.fail_next.pop(0)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(BytesParser(policy=policy.default).parsebytes(envelope.original_content))
        return "250 OK"


def smtp_authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def start_smtp(ca: TestCA) -> tuple[Controller, SmtpInbox]:
    inbox = SmtpInbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=ca.server_context(),
        require_starttls=True,
        authenticator=smtp_authenticator,
        auth_required=True,
    )
    controller.start()
    return controller, inbox
