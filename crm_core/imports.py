"""Importing contacts from a spreadsheet (CSV in UTF-8, with or without BOM, or GB18030 as
Chinese Excel writes it; or .xlsx): columns mapped to contact fields (guessed from English and
Chinese headers), each row through the same identity resolution as inbound messages (email
lower-cased, phone in E.164), so a known customer is updated, never made twice. A row whose
email or phone is malformed, or that has neither, is refused with its reason and nothing of it
is imported. Formulas are text: nothing is evaluated. An import runs as a job in batches, each
batch's contacts and the import's counters in one transaction, so a crash resumes after the
last batch without counting or creating anything twice."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import io
import itertools
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from bson import Binary, ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.addresses import normalize_email, normalize_phone
from crm_core.audit import Audited
from crm_core.contacts import contact_terms, new_contact
from crm_core.errors import Invalid, NotFound
from crm_core.jobs import enqueue, new_job
from crm_core.order_imports import ORDER_HEADER_GUESSES, ORDER_TARGETS, OrderRows, order_groups
from crm_core.orders import Orders
from crm_core.records import find_by_id, transaction, utcnow

IMPORT = "import"  # the job kind
KINDS = ("contacts", "orders")
BATCH = 500
SAMPLE_ROWS = 3  # kept with an import, for the console's column-mapping step
CHUNK_BYTES = 1024 * 1024  # the stored file, in chunks a document holds
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000
MAX_XLSX_UNPACKED = 500 * 1024 * 1024  # what an .xlsx may unpack to (a zip bomb is refused)
MAX_XLSX_RATIO = 200  # and how much smaller than that it may be
# Header words (lower-cased) -> the field; Chinese as Chinese spreadsheets name them.
HEADER_GUESSES = {
    "name": "name", "full name": "name", "contact": "name", "customer": "name",
    "姓名": "name", "名字": "name", "客户": "name", "客户名称": "name", "联系人": "name",
    "email": "email", "e-mail": "email", "email address": "email", "mail": "email",
    "邮箱": "email", "电子邮件": "email", "电子邮箱": "email",
    "phone": "phone", "mobile": "phone", "telephone": "phone", "phone number": "phone", "tel": "phone",
    "手机": "phone", "手机号": "phone", "电话": "phone", "联系电话": "phone",
    "company": "company", "organization": "company", "organisation": "company",
    "公司": "company", "单位": "company", "企业": "company",
    "labels": "labels", "tags": "labels", "标签": "labels",
    "consent": "consent", "marketing consent": "consent", "营销同意": "consent",
}  # fmt: skip
YES = {"yes", "y", "true", "1", "是", "同意", "x"}
TARGETS = frozenset(HEADER_GUESSES.values())
Item = TypeVar("Item")  # the fields a column may fill (besides attributes.*)


def guess_mapping(headers: list[str], kind: str = "contacts") -> dict[str, str]:
    """column -> field, for the headers a person would recognise; other columns become a
    contact's custom attributes under their own name (an order's are ignored)."""
    mapping = {}
    for header in headers:
        key = header.strip().lower()
        if kind == "orders":
            mapping[header] = ORDER_HEADER_GUESSES.get(key, "")
        else:
            mapping[header] = HEADER_GUESSES.get(key, f"attributes.{header.strip()}" if key else "")
    return mapping


def fields_of(kind: str) -> list[str]:
    """What a column may fill in an import of this kind (a contact's: also "attributes.<key>")."""
    return sorted(ORDER_TARGETS if kind == "orders" else TARGETS)


def unknown_targets(mapping: dict[str, str], kind: str) -> set[str]:
    """The fields a mapping names that an import of this kind has not."""
    if kind == "orders":
        return {t for t in mapping.values() if t and t not in ORDER_TARGETS}
    return {t for t in mapping.values() if t and t not in TARGETS and not t.startswith("attributes.")}


def read_rows(data: IO[bytes], filename: str) -> Generator[dict[str, str]]:
    """The file's rows as {column: text}, by its name's extension. Raises Invalid for a file
    it cannot read."""
    if filename.lower().endswith(".xlsx"):
        yield from _xlsx_rows(data)
    else:
        yield from _csv_rows(data)


def _csv_rows(data: IO[bytes]) -> Iterator[dict[str, str]]:
    text = io.TextIOWrapper(data, encoding=_encoding(data), newline="")
    reader = csv.reader(text)
    try:
        headers = next(reader, None)
        if headers is None:
            return
        _check_width(headers)
        for row in reader:
            yield _row(headers, row)
    except UnicodeDecodeError as exc:
        raise Invalid("file: not text in UTF-8 or GB18030; save it as CSV (UTF-8) and send it again") from exc
    except csv.Error as exc:
        raise Invalid(f"file: not readable as CSV ({exc})") from exc
    finally:
        text.detach()  # the file stays open for its owner (a wrapper closes it when collected)


def _encoding(data: IO[bytes]) -> str:
    """UTF-8 (its BOM skipped) when the start of the file is UTF-8, else GB18030."""
    start = data.read(CHUNK_BYTES)
    data.seek(0)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _xlsx_rows(data: IO[bytes]) -> Iterator[dict[str, str]]:
    import openpyxl  # loaded only for spreadsheets

    try:
        with zipfile.ZipFile(data) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
            packed = sum(entry.compress_size for entry in archive.infolist()) or 1
    except zipfile.BadZipFile as exc:
        raise Invalid("file: not an .xlsx workbook") from exc
    if unpacked > MAX_XLSX_UNPACKED or unpacked / packed > MAX_XLSX_RATIO:
        raise Invalid("file: the workbook unpacks to far more than it holds (refused as a zip bomb)")
    data.seek(0)
    try:
        workbook = openpyxl.load_workbook(data, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise Invalid(f"file: not a readable .xlsx workbook ({exc.__class__.__name__})") from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        headers = [_text(cell) for cell in next(rows, ())]
        _check_width(headers)
        for row in rows:
            yield _row(headers, [_text(cell) for cell in row])
    finally:
        workbook.close()


def _text(cell: Any) -> str:
    """A cell as text: a formula stays its text ("=SUM(A1:A3)"), never its result."""
    return "" if cell is None else str(cell)


def _check_width(cells: list[str]) -> None:
    if len(cells) > MAX_COLUMNS:
        raise Invalid(f"file: a row of {len(cells)} columns; at most {MAX_COLUMNS}")


def _row(headers: list[str], cells: list[str]) -> dict[str, str]:
    _check_width(cells)
    return {header: cell[:MAX_CELL_CHARS] for header, cell in zip(headers, cells, strict=False) if header}


def _survey(content: IO[bytes], filename: str) -> tuple[list[dict[str, str]], int]:
    """The file's first rows and how many it has, reading all of it (raises Invalid)."""
    content.seek(0)
    with contextlib.closing(read_rows(content, filename)) as rows:
        sample = list(itertools.islice(rows, SAMPLE_ROWS))
        return sample, len(sample) + sum(1 for _ in rows)


@dataclass
class ContactRow:
    """One row as contact fields, or the reason it is refused."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    labels: list[str] = field(default_factory=list)
    consent: bool | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    refused: str | None = None


def contact_row(row: dict[str, str], mapping: dict[str, str], region: str | None) -> ContactRow:
    found = ContactRow()
    for column, target in mapping.items():
        value = (row.get(column) or "").strip()
        if not value or not target:
            continue
        if target == "email":
            found.email = normalize_email(value)
            if found.email is None:
                found.refused = f"email {value[:80]!r} is not an address"
        elif target == "phone":
            found.phone = normalize_phone(value, region)
            if found.phone is None:
                found.refused = f"phone {value[:40]!r} is not a number (give it in international form)"
        elif target == "labels":
            parts = value.replace("，", ",").split(",")
            found.labels = sorted({label.strip().lower()[:50] for label in parts if label.strip()})
        elif target == "consent":
            found.consent = value.lower() in YES
        elif target.startswith("attributes."):
            found.attributes[target.removeprefix("attributes.")[:100]] = value
        elif target in ("name", "company"):
            setattr(found, target, value[:200])
    if found.refused is None and not (found.email or found.phone):
        found.refused = "no email or phone: nothing to know the customer by"
    return found


class SpreadsheetImports:
    """Imports of contacts, or of orders (`orders` records them, as the API does)."""

    def __init__(self, db: AsyncDatabase, region: str | None, orders: Orders | None = None) -> None:
        self._db = db
        self._col = db.imports
        self._region = region
        self._orders = orders

    async def create(
        self,
        kind: str,
        filename: str,
        content: IO[bytes],
        mapping: dict[str, str] | None,
        dry_run: bool,
        audited: Audited,
        *,
        queued: bool = True,
    ) -> dict[str, Any]:
        """Keep the file and queue its import (unless the caller runs it: `queued=False`). The
        whole file is read first (in a thread: a large workbook takes seconds), so one that is
        unreadable anywhere is refused before anything of it is imported."""
        if kind not in KINDS:
            raise Invalid(f"kind: one of {', '.join(KINDS)}")
        sample, rows = await asyncio.to_thread(_survey, content, filename)
        size = content.seek(0, io.SEEK_END)
        headers = list(sample[0]) if sample else []
        guessed = guess_mapping(headers, kind) | (mapping or {})
        if unknown := unknown_targets(guessed, kind):
            raise Invalid(f"mapping: unknown fields {', '.join(sorted(unknown))}")
        record = {
            "_id": ObjectId(), "kind": kind, "filename": filename, "size": size, "mapping": guessed,
            "headers": headers, "sample": sample, "rows": rows,
            "dry_run": dry_run, "status": "queued", "processed": 0, "created": 0, "updated": 0, "skipped": 0,
            "failed_rows": 0, "created_at": utcnow(), "finished_at": None, "error": None,
        }  # fmt: skip
        content.seek(0)
        async with transaction(self._db) as session:
            await self._col.insert_one(record, session=session)
            for n, data in enumerate(iter(lambda: content.read(CHUNK_BYTES), b"")):
                chunk = {"import_id": record["_id"], "n": n, "data": Binary(data)}
                await self._db.import_chunks.insert_one(chunk, session=session)
            if queued:
                await enqueue(self._db, new_job(IMPORT, {"import_id": record["_id"]}), session)
            await audited.record(self._db, record["_id"], {"filename": filename, "dry_run": dry_run}, session)
        return record

    async def get(self, import_id: str | ObjectId) -> dict[str, Any]:
        return await find_by_id(self._col, import_id, "import")

    async def failures(self, import_id: str) -> list[dict[str, Any]]:
        record = await self.get(import_id)
        return await self._db.import_failures.find({"import_id": record["_id"]}).sort("row", 1).to_list(None)

    async def run(self, import_id: ObjectId, alive: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        """Import the file from where the last run stopped, in batches; `alive` is called after
        each (a long import keeps its job's lease). The file is read back into a spooled
        temporary file (on disk past a chunk), so memory stays flat whatever its size."""
        record = await self.get(import_id)
        if record["status"] in ("done", "failed"):
            return record
        with tempfile.SpooledTemporaryFile(max_size=CHUNK_BYTES) as spool:
            async for chunk in self._db.import_chunks.find({"import_id": import_id}).sort("n", 1):
                spool.write(chunk["data"])
            try:
                await self._col.update_one({"_id": import_id}, {"$set": {"status": "running"}})
                spool.seek(0)
                done = record["processed"]
                with contextlib.closing(read_rows(spool, record["filename"])) as rows:
                    numbered = enumerate(rows, start=2)  # row 1: the headers
                    if record["kind"] == "orders":
                        await self._import_orders(record, numbered, done, alive)
                    else:
                        for batch in _batches(numbered, BATCH):
                            if batch[-1][0] - 2 >= done:
                                await self._batch(record, [(n, row) for n, row in batch if n - 2 >= done])
                                await alive()
            except Invalid as exc:
                finished = {"status": "failed", "error": str(exc), "finished_at": utcnow()}
                await self._col.update_one({"_id": import_id}, {"$set": finished})
                return await self.get(import_id)
        finished = {"status": "done", "finished_at": utcnow(), "sample": []}  # customers' data kept no longer
        await self._col.update_one({"_id": import_id}, {"$set": finished})
        await self._db.import_chunks.delete_many({"import_id": import_id})
        return await self.get(import_id)

    async def _import_orders(
        self,
        record: dict[str, Any],
        rows: Iterable[tuple[int, dict[str, str]]],
        done: int,
        alive: Callable[[], Awaitable[None]],
    ) -> None:
        """Each order recorded as the API records it (its own transaction; again: an update), the
        counters and refused rows written every batch of about BATCH rows. A crash between
        them records a few orders again on resuming: counted as updated, never stored twice."""
        if self._orders is None:
            raise Invalid("kind: orders cannot be imported here")
        groups = order_groups(rows, record["mapping"], self._orders.base_currency)
        pending: list[OrderRows] = []
        rows_pending = 0
        for group in groups:
            if group.rows[-1][0] - 2 < done:
                continue
            pending.append(group)
            rows_pending += len(group.rows)
            if rows_pending >= BATCH:
                await self._order_batch(record, pending)
                await alive()
                pending, rows_pending = [], 0
        await self._order_batch(record, pending)

    async def _order_batch(self, record: dict[str, Any], groups: list[OrderRows]) -> None:
        counts = {"created": 0, "updated": 0, "skipped": 0, "failed_rows": 0}
        failures = []
        for group in groups:
            reason = group.refused
            if group.order is not None and self._orders is not None:
                try:
                    counts[await self._orders.imported(group.order, record["dry_run"])] += 1
                except (Invalid, NotFound) as exc:
                    reason = str(exc)
            if reason is not None:
                counts["failed_rows"] += len(group.rows)
                failures += [{"import_id": record["_id"], "row": n, "reason": reason, "values": row}
                             for n, row in group.rows]  # fmt: skip
        if failures:
            await self._db.import_failures.insert_many(failures)
        processed = sum(len(group.rows) for group in groups)
        await self._col.update_one({"_id": record["_id"]}, {"$inc": {**counts, "processed": processed}})

    async def _batch(self, record: dict[str, Any], batch: list[tuple[int, dict[str, str]]]) -> None:
        """A batch's rows in a few round trips: the known contacts they name read at once, the new
        ones inserted together, the known ones updated together, with the counters, in one
        transaction. Rows naming the same customer are merged in memory first."""
        found = [(number, row, contact_row(row, record["mapping"], self._region)) for number, row in batch]
        failures = [
            {"import_id": record["_id"], "row": number, "reason": contact.refused, "values": row}
            for number, row, contact in found
            if contact.refused is not None
        ]
        valid = [contact for _, _, contact in found if contact.refused is None]
        known = _KnownContacts(await self._known(valid))
        counts = {"created": 0, "updated": 0, "skipped": 0, "failed_rows": len(failures)}
        for contact in valid:
            counts[known.apply(contact)] += 1
        async with transaction(self._db) as session:
            if not record["dry_run"]:
                await known.write(self._db.contacts, session)
            if failures:
                await self._db.import_failures.insert_many(failures, session=session)
            await self._col.update_one(
                {"_id": record["_id"]}, {"$inc": {**counts, "processed": len(batch)}}, session=session
            )

    async def _known(self, rows: list[ContactRow]) -> list[dict[str, Any]]:
        """The contacts these rows' emails or phones already belong to (one query per field: the
        embedded server reads every contact for an `$or`)."""
        found: dict[ObjectId, dict[str, Any]] = {}
        for field_name, values in (
            ("emails", {row.email for row in rows if row.email}),
            ("phones", {row.phone for row in rows if row.phone}),
        ):
            if values:
                query = {field_name: {"$in": sorted(values)}, "merged_into": None}
                async for contact in self._db.contacts.find(query):
                    found.setdefault(contact["_id"], contact)
        return list(found.values())


class _KnownContacts:
    """A batch's contacts by email and phone: those found in the database and those its rows
    create, each row applied to its contact in memory, the writes gathered for the end."""

    def __init__(self, stored: list[dict[str, Any]]) -> None:
        self._by_key: dict[str, dict[str, Any]] = {}
        for contact in stored:
            self._register(contact)
        self._new: list[dict[str, Any]] = []
        self._changes: dict[ObjectId, tuple[dict[str, Any], dict[str, list[str]]]] = {}

    def _register(self, contact: dict[str, Any]) -> None:
        for key in (*contact.get("emails", []), *contact.get("phones", [])):
            self._by_key.setdefault(key, contact)

    def apply(self, row: ContactRow) -> str:
        """created, updated or skipped (known and nothing new)."""
        contact = self._by_key.get(row.email or "") or self._by_key.get(row.phone or "")
        if contact is None:
            contact = new_contact(_id=ObjectId(), emails=[], phones=[], labels=[], attributes={})
            self._new.append(contact)
            _merge(contact, row)
            self._register(contact)
            return "created"
        sets, adds = _merge(contact, row)
        if not (sets or adds):
            return "skipped"
        self._register(contact)
        if not any(contact is new for new in self._new):
            before_sets, before_adds = self._changes.setdefault(contact["_id"], ({}, {}))
            before_sets.update(sets)
            for name, values in adds.items():
                before_adds.setdefault(name, []).extend(values)
        return "updated"

    async def write(self, contacts: AsyncCollection, session: AsyncClientSession) -> None:
        for contact in self._new:
            contact["terms"] = contact_terms(contact)
        if self._new:
            await contacts.insert_many(self._new, session=session)
        by_id = {contact["_id"]: contact for contact in self._by_key.values()}
        updates = [
            UpdateOne(
                {"_id": contact_id},
                {
                    "$set": {**sets, "terms": contact_terms(by_id[contact_id]), "updated_at": utcnow()},
                    **({"$addToSet": {k: {"$each": v} for k, v in adds.items()}} if adds else {}),
                },
            )
            for contact_id, (sets, adds) in self._changes.items()
        ]
        if updates:
            await contacts.bulk_write(updates, ordered=False, session=session)


def _merge(contact: dict[str, Any], row: ContactRow) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The row applied to the contact (in memory): the fields it changed, and what it added to
    the contact's emails, phones and labels."""
    sets: dict[str, Any] = {
        k: v for k, v in (("name", row.name), ("company", row.company)) if v and contact.get(k) != v
    }
    attributes = contact.setdefault("attributes", {})
    sets |= {f"attributes.{k}": v for k, v in row.attributes.items() if attributes.get(k) != v}
    if row.consent is not None and contact.get("consent", {}).get("marketing") != row.consent:
        sets["consent"] = {"marketing": row.consent, "changed_at": utcnow(), "source": "import"}
    adds: dict[str, list[str]] = {}
    for name, values in (("emails", [row.email]), ("phones", [row.phone]), ("labels", row.labels)):
        added = [v for v in values if v and v not in contact.setdefault(name, [])]
        if added:
            contact[name] += added
            adds[name] = added
    for name, value in sets.items():
        if name.startswith("attributes."):
            attributes[name.removeprefix("attributes.")] = value
        else:
            contact[name] = value
    return sets, adds


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
