"""Configuration from environment variables (and a `.env` file when present)."""

from __future__ import annotations

import math
import os
import ssl
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dotenv import load_dotenv

from channels.email.connections import SECURITY_MODES
from crm_core import money
from crm_core.errors import Invalid

N = TypeVar("N", int, float)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _float(name: str, default: float) -> float:
    return _number(name, default, float)


def _number(name: str, default: N, kind: type[N]) -> N:
    value = os.environ.get(name) or default
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):  # "inf" and "nan" parse as floats
        raise ValueError(f"{name}: {value!r} is not {'an integer' if kind is int else 'a number'}")
    return number


def _str(name: str) -> str | None:
    return os.environ.get(name) or None


def _time_zone(name: str, default: str) -> str:
    value = _str(name) or default
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"{name}: {value!r} is not a time zone (such as UTC or Asia/Shanghai)") from None
    return value


def _phone_region(name: str) -> str | None:
    """A region code such as DE or CN: an unknown one would quietly drop every phone number
    written without its country code."""
    value = (_str(name) or "").strip().upper() or None
    if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{name}: {value!r} is not a region code (such as US, DE or CN)")
    return value


def _currency(name: str, default: str) -> str:
    try:
        return money.currency(_str(name) or default)
    except Invalid as exc:
        raise ValueError(f"{name}: {exc}") from None


def _rates(name: str) -> dict[str, float]:
    """ "EUR=1.08, CNY=0.14": what one unit of each currency is worth in the base currency."""
    rates = {}
    for entry in filter(None, (part.strip() for part in (_str(name) or "").split(","))):
        code, _, rate = entry.partition("=")
        try:
            currency, value = money.currency(code), float(rate)
        except (Invalid, ValueError):
            raise ValueError(f"{name}: {entry!r} is not CODE=RATE (such as EUR=1.08)") from None
        if not 0 < value < 1e9:
            raise ValueError(f"{name}: {entry!r}: a rate is a positive number")
        rates[currency] = value
    return rates


def _networks(name: str) -> tuple[Network, ...]:
    try:
        return parse_networks(_str(name) or "")
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices`: a typo must not quietly pick another behaviour (an unknown TLS mode
    would have logged in to the mail server without encryption)."""
    value = (_str(name) or default).strip().lower()
    if value not in choices:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value


def _on(name: str, default: bool) -> bool:
    value = _str(name)
    return default if value is None else value.lower() not in ("0", "off", "false", "no")


Network = IPv4Network | IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses and networks ("127.0.0.1, 10.0.0.0/8, ::1")."""
    networks = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


@dataclass
class Settings:
    mongo_uri: str | None = None
    mongo_db: str = "hub"
    mongo_timeout_ms: int = 5000
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    chat_secret: str | None = field(default=None, repr=False)
    chat_outbound_url: str | None = None
    email_webhook_secret: str | None = field(default=None, repr=False)
    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: str | None = field(default=None, repr=False)
    imap_mailbox: str = "INBOX"
    imap_security: str = "tls"
    imap_poll_seconds: float = 60.0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_security: str = "starttls"
    email_max_attachment_bytes: int = 5 * 1024 * 1024
    tls_ca_file: str | None = None
    widget_secret: str | None = field(default=None, repr=False)
    widget_new_per_minute: int = 20
    widget_messages_per_minute: int = 30
    telegram_token: str | None = field(default=None, repr=False)
    telegram_secret: str | None = field(default=None, repr=False)
    telegram_api_url: str | None = None
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    slack_inbox_channel: str | None = None
    timezone: str = "UTC"
    sla_minutes: int = 60
    phone_region: str | None = None
    token_ttl_hours: float = 24 * 30
    outbox_max_attempts: int = 8
    outbox_backoff_base: float = 2.0
    outbox_backoff_cap: float = 600.0
    admin_email: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    change_streams: bool = True
    embedded_sync: bool = True
    nlp_worker: bool = True
    nlp_lease_seconds: float = 60.0
    listener_lease_seconds: float = 30.0
    public_url: str | None = None
    unsubscribe_secret: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    shutdown_timeout: float = 15.0
    http_idle_seconds: float = 15.0
    http_body_seconds: float = 30.0
    trusted_proxies: tuple[Network, ...] = ()
    # Addresses webhooks may reach although loopback, private or link-local (tests, on-premises
    # receivers); every other non-public address is refused.
    webhook_allowed_networks: tuple[Network, ...] = ()
    api_key_requests_per_minute: int = 600  # per key and hub process
    import_max_bytes: int = 50 * 1024 * 1024  # a spreadsheet to import, at most
    message_retention_days: int = 0  # message bodies older than this are removed; 0: kept
    orders_webhook_secret: str | None = field(default=None, repr=False)
    shopify_webhook_secret: str | None = field(default=None, repr=False)
    base_currency: str = "USD"  # what customers' spend is counted in (RFM, points)
    currency_rates: dict[str, float] = field(default_factory=dict)  # other currencies, in the base one

    @property
    def email_secret(self) -> str | None:
        """`/webhooks/email` is signed like the chat webhook, with its own secret if set."""
        return self.email_webhook_secret or self.chat_secret

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def base_url(self) -> str:
        """Where customers reach this hub (links in campaign emails)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def unsubscribe_key(self) -> str | None:
        """Signs unsubscribe links; its own secret if set, else the widget or chat secret."""
        return self.unsubscribe_secret or self.widget_secret or self.chat_secret

    def tls_context(self) -> ssl.SSLContext:
        """Server certificates are always verified; HUB_TLS_CA_FILE adds a private CA."""
        return ssl.create_default_context(cafile=self.tls_ca_file)

    @classmethod
    def from_env(cls, env_file: str | None = ".env") -> Settings:
        if env_file and Path(env_file).is_file():
            load_dotenv(env_file, override=False)
        return cls(
            mongo_uri=_str("HUB_MONGO_URI"),
            mongo_db=_str("HUB_MONGO_DB") or "hub",
            mongo_timeout_ms=_int("HUB_MONGO_TIMEOUT_MS", 5000),
            data_dir=Path(_str("HUB_DATA_DIR") or "var"),
            host=_str("HUB_HOST") or "127.0.0.1",
            port=_int("HUB_PORT", 8080),
            chat_secret=_str("HUB_CHAT_SECRET"),
            chat_outbound_url=_str("HUB_CHAT_OUTBOUND_URL"),
            email_webhook_secret=_str("HUB_EMAIL_WEBHOOK_SECRET"),
            imap_host=_str("HUB_IMAP_HOST"),
            imap_port=_int("HUB_IMAP_PORT", 993),
            imap_user=_str("HUB_IMAP_USER"),
            imap_password=_str("HUB_IMAP_PASSWORD"),
            imap_mailbox=_str("HUB_IMAP_MAILBOX") or "INBOX",
            imap_security=_choice("HUB_IMAP_SECURITY", "tls", SECURITY_MODES),
            imap_poll_seconds=_float("HUB_IMAP_POLL_SECONDS", 60.0),
            smtp_host=_str("HUB_SMTP_HOST"),
            smtp_port=_int("HUB_SMTP_PORT", 587),
            smtp_user=_str("HUB_SMTP_USER"),
            smtp_password=_str("HUB_SMTP_PASSWORD"),
            smtp_from=_str("HUB_SMTP_FROM"),
            smtp_security=_choice("HUB_SMTP_SECURITY", "starttls", SECURITY_MODES),
            email_max_attachment_bytes=_int("HUB_EMAIL_MAX_ATTACHMENT_BYTES", 5 * 1024 * 1024),
            tls_ca_file=_str("HUB_TLS_CA_FILE"),
            widget_secret=_str("HUB_WIDGET_SECRET"),
            widget_new_per_minute=_int("HUB_WIDGET_NEW_PER_MINUTE", 20),
            widget_messages_per_minute=_int("HUB_WIDGET_MESSAGES_PER_MINUTE", 30),
            telegram_token=_str("HUB_TELEGRAM_TOKEN"),
            telegram_secret=_str("HUB_TELEGRAM_SECRET"),
            telegram_api_url=_str("HUB_TELEGRAM_API_URL"),
            slack_bot_token=_str("HUB_SLACK_BOT_TOKEN"),
            slack_signing_secret=_str("HUB_SLACK_SIGNING_SECRET"),
            slack_api_url=_str("HUB_SLACK_API_URL"),
            slack_inbox_channel=_str("HUB_SLACK_INBOX_CHANNEL"),
            timezone=_time_zone("HUB_TIMEZONE", "UTC"),
            sla_minutes=_int("HUB_SLA_MINUTES", 60),
            phone_region=_phone_region("HUB_PHONE_REGION"),
            token_ttl_hours=_float("HUB_TOKEN_TTL_HOURS", 24 * 30),
            outbox_max_attempts=_int("HUB_OUTBOX_MAX_ATTEMPTS", 8),
            outbox_backoff_base=_float("HUB_OUTBOX_BACKOFF_SECONDS", 2.0),
            outbox_backoff_cap=_float("HUB_OUTBOX_BACKOFF_CAP_SECONDS", 600.0),
            admin_email=_str("HUB_ADMIN_EMAIL"),
            admin_password=_str("HUB_ADMIN_PASSWORD"),
            change_streams=_on("HUB_CHANGE_STREAMS", True),
            embedded_sync=_on("HUB_EMBEDDED_SYNC", True),
            nlp_worker=_on("HUB_NLP_WORKER", True),
            nlp_lease_seconds=_float("HUB_NLP_LEASE_SECONDS", 60.0),
            listener_lease_seconds=_float("HUB_LISTENER_LEASE_SECONDS", 30.0),
            public_url=_str("HUB_PUBLIC_URL"),
            unsubscribe_secret=_str("HUB_UNSUBSCRIBE_SECRET"),
            log_level=_choice("HUB_LOG_LEVEL", "info", LOG_LEVELS).upper(),
            shutdown_timeout=_float("HUB_SHUTDOWN_TIMEOUT", 15.0),
            http_idle_seconds=_float("HUB_HTTP_IDLE_SECONDS", 15.0),
            http_body_seconds=_float("HUB_HTTP_BODY_SECONDS", 30.0),
            trusted_proxies=_networks("HUB_TRUSTED_PROXIES"),
            webhook_allowed_networks=_networks("HUB_WEBHOOK_ALLOWED_NETWORKS"),
            api_key_requests_per_minute=_int("HUB_API_KEY_REQUESTS_PER_MINUTE", 600),
            import_max_bytes=_int("HUB_IMPORT_MAX_BYTES", 50 * 1024 * 1024),
            message_retention_days=_int("HUB_MESSAGE_RETENTION_DAYS", 0),
            orders_webhook_secret=_str("HUB_ORDERS_WEBHOOK_SECRET"),
            shopify_webhook_secret=_str("HUB_SHOPIFY_WEBHOOK_SECRET"),
            base_currency=_currency("HUB_BASE_CURRENCY", "USD"),
            currency_rates=_rates("HUB_CURRENCY_RATES"),
        )
