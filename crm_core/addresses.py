"""Email addresses and phone numbers as the hub stores them: deliverable-looking, lower-cased
addresses; phones in E.164."""

from __future__ import annotations

import re

import phonenumbers

_EMAIL = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}@([^\s@<>()\[\],;:\"\\.]+\.)+[^\s@<>()\[\],;:\"\\.]+$")


def normalize_email(email: str | None) -> str | None:
    """Lower-cased, or None unless it looks like an address mail could reach: one @, a local
    part, a dotted domain, nothing that belongs to markup or a header (spaces, <>, quotes)."""
    email = (email or "").strip().lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else None


def normalize_phone(phone: str | None, region: str | None = None) -> str | None:
    """E.164, or None when the number cannot be understood."""
    if not phone or not phone.strip():
        return None
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
