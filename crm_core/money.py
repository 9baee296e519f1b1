"""Money as the domain takes it: an amount is a decimal from 0 to MAX_AMOUNT with at most two
decimal places (stored as the float that prints as that decimal), in an ISO 4217 currency."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry

from crm_core.errors import Invalid

MAX_AMOUNT = Decimal(10) ** 12  # a trillion: past any deal, order or coupon we would hold
DECIMAL_PLACES = 2
# ISO 4217's codes for "no currency" and "testing" are no money.
_NOT_MONEY = {"XXX", "XTS"}


def amount(value: Any, field: str = "value") -> float:
    """A JSON number or decimal string as a bounded amount; Invalid otherwise (infinity, NaN,
    1e308, negative, or finer than a cent)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise Invalid(f"{field}: a number")
    try:
        decimal = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise Invalid(f"{field}: a number") from exc
    if not decimal.is_finite() or not 0 <= decimal <= MAX_AMOUNT:
        raise Invalid(f"{field}: a number from 0 to {MAX_AMOUNT:,}")
    if decimal != decimal.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)):
        raise Invalid(f"{field}: at most {DECIMAL_PLACES} decimal places")
    return float(decimal)


def currency(code: Any, field: str = "currency") -> str:
    """An ISO 4217 currency code, upper-cased; Invalid for anything else."""
    normalized = code.strip().upper() if isinstance(code, str) else ""
    known = len(normalized) == 3 and pycountry.currencies.get(alpha_3=normalized) is not None
    if not known or normalized in _NOT_MONEY:
        raise Invalid(f"{field}: an ISO 4217 currency code such as USD, EUR or CNY")
    return normalized


def held(value: float) -> float | None:
    """An amount read from text (a budget a customer named) to the cent, or None when it is
    past what money can be."""
    try:
        return amount(round(value, DECIMAL_PLACES))
    except Invalid:  # infinity, NaN or past the bound
        return None
