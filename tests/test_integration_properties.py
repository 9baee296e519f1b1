"""Property tests of the integration parts that read or sign what others wrote: any table a
spreadsheet writes reads back cell for cell, any row maps to a contact or a reason (never a
crash), and every webhook the hub signs verifies with the standardwebhooks package."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from crm_core.imports import MAX_CELL_CHARS, contact_row, guess_mapping, read_rows
from crm_core.webhooks import new_secret
from hub.webhook_delivery import _signatures

# Text a customer list holds: any printable text, Chinese included (no lone surrogates, which
# no file can hold).
cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
headers = st.lists(st.text("abcdefghij姓名邮箱", min_size=1, max_size=8), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=headers, data=st.data(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_any_table_reads_back_cell_for_cell(headers, data, encoding):
    rows = data.draw(st.lists(st.lists(cell, min_size=len(headers), max_size=len(headers)), max_size=8))
    out = io.StringIO()
    csv.writer(out).writerows([headers, *rows])
    read = list(read_rows(io.BytesIO(out.getvalue().encode(encoding)), "people.csv"))
    expected = [
        {header: _lines(value)[:MAX_CELL_CHARS] for header, value in zip(headers, row, strict=True)}
        for row in rows
    ]
    assert [{k: _lines(v) for k, v in row.items()} for row in read] == expected


def _lines(text: str) -> str:
    """Line ends as a CSV reader gives them back."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=200, deadline=None)
@given(
    row=st.dictionaries(
        st.sampled_from(["name", "email", "phone", "company", "labels", "consent", "其他"]), cell
    )
)
def test_any_row_is_a_contact_or_a_reason(row):
    found = contact_row(row, guess_mapping(list(row)), "GB")
    if not (found.email or found.phone):
        assert found.refused is not None  # nothing to know the customer by
    if found.refused is None:
        assert found.email is None or "@" in found.email
        assert found.phone is None or found.phone.startswith("+")


@settings(max_examples=100, deadline=None)
@given(body=st.text(max_size=500), event_id=st.text("abcdef0123456789", min_size=1, max_size=24),
       rotated=st.booleans())  # fmt: skip
def test_every_signed_delivery_verifies(body, event_id, rotated):
    secret, old = new_secret(), new_secret()
    now = datetime.now(UTC)
    endpoint = {
        "secret": secret,
        "previous_secret": old if rotated else None,
        "previous_until": now.replace(year=now.year + 1),
    }
    webhook_id = f"msg_{event_id}"
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": _signatures(endpoint, webhook_id, now, body)}  # fmt: skip
    for key in (secret, old) if rotated else (secret,):
        Webhook(key).verify(body, headers, json_parse=False)
