"""Settings a hub cannot run with stop it at start with one line naming the variable, instead of
a traceback, or of quietly doing something else (a mail server's password sent unencrypted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.conftest import serve_env


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUB_IMAP_SECURITY", "ssl", "HUB_IMAP_SECURITY: 'ssl' is not one of tls, starttls, none"),
        ("HUB_SMTP_SECURITY", "tls1.2", "HUB_SMTP_SECURITY: 'tls1.2' is not one of tls, starttls, none"),
        ("HUB_TIMEZONE", "Asia/Beijing", "HUB_TIMEZONE: 'Asia/Beijing' is not a time zone"),
        ("HUB_TIMEZONE", "../../etc/passwd", "HUB_TIMEZONE: '../../etc/passwd' is not a time zone"),
        ("HUB_LOG_LEVEL", "verbose", "HUB_LOG_LEVEL: 'verbose' is not one of debug, info"),
        ("HUB_PORT", "80a", "HUB_PORT: '80a' is not an integer"),
        ("HUB_PHONE_REGION", "Germany", "HUB_PHONE_REGION: 'GERMANY' is not a region code"),
        ("HUB_IMAP_POLL_SECONDS", "1m", "HUB_IMAP_POLL_SECONDS: '1m' is not a number"),
        ("HUB_OUTBOX_BACKOFF_SECONDS", "inf", "HUB_OUTBOX_BACKOFF_SECONDS: 'inf' is not a number"),
        ("HUB_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal", "HUB_TRUSTED_PROXIES: 'proxy.internal' is not"),
    ],
)
def test_a_setting_the_hub_cannot_use_is_named(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Settings.from_env(env_file=None)


def test_good_values_are_taken_as_written(monkeypatch):
    for name, value in {
        "HUB_IMAP_SECURITY": " STARTTLS",
        "HUB_TIMEZONE": "Asia/Shanghai",
        "HUB_LOG_LEVEL": "warning",
        "HUB_PHONE_REGION": "cn",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(env_file=None)
    written = (settings.imap_security, settings.timezone, settings.log_level, settings.phone_region)
    assert written == ("starttls", "Asia/Shanghai", "WARNING", "CN")


@pytest.mark.slow  # a process of its own
def test_the_hub_stops_at_start_with_one_line(tmp_path):
    hub = subprocess.run(
        [sys.executable, "-m", "hub", "serve"],
        env=serve_env(tmp_path, 1, HUB_IMAP_SECURITY="ssl"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert hub.returncode == 2
    assert hub.stderr == "configuration error: HUB_IMAP_SECURITY: 'ssl' is not one of tls, starttls, none\n"
    assert not any(tmp_path.iterdir())  # stopped before it made anything


def test_the_configuration_page_lists_every_setting_the_code_reads_and_no_other():
    """The configuration table is the operator's only map: a setting read in code and missing
    there (HUB_CONSOLE_DIR was), or listed there and read nowhere, fails here."""
    root = Path(__file__).resolve().parents[1]
    code = set()
    for package in ("hub", "crm_core", "channels", "bots", "nlp"):
        for source in (root / package).rglob("*.py"):
            code |= set(re.findall(r'"(HUB_[A-Z_]+)"', source.read_text()))
    section = (root / "docs" / "configuration.md").read_text()
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `HUB_")]
    documented = {name for cell in first_cells for name in re.findall(r"`(HUB_[A-Z_]+)`", cell)}
    assert code - documented == set(), "read in code, missing from docs/configuration.md"
    assert documented - code == set(), "in docs/configuration.md, read nowhere"
