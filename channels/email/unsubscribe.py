"""The signed unsubscribe link of marketing mail."""

from __future__ import annotations

from channels.base import (
    hmac_sha256_signature,
    verify_hmac_sha256,
)


def unsubscribe_signature(secret: str, contact_id: str) -> str:
    """Signs the unsubscribe link in marketing mail, so nobody can opt out someone else."""
    return hmac_sha256_signature(secret, f"unsubscribe:{contact_id}".encode()).removeprefix("sha256=")


def verify_unsubscribe(secret: str, contact_id: str, signature: str) -> None:
    """Raises SignatureError unless `signature` is this contact's."""
    verify_hmac_sha256(secret, f"unsubscribe:{contact_id}".encode(), f"sha256={signature}")
