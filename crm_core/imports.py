"""Importing contacts from a spreadsheet (CSV in UTF-8, with or without BOM, or GB18030 as
Chinese Excel writes it; or .xlsx): columns mapped to contact fields (guessed from English and
Chinese headers), each row through the same identity resolution as inbound messages (email
lower-cased, phone in E.164), so a known customer is updated, never made twice. A row whose
email or phone is malformed, or that has neither, is refused with its reason and nothing of it
is imported. Formulas are text: nothing is evaluated. An import runs as a job in batches, each
batch's contacts and the import's counters in one transaction, so a crash resumes after the
last batch without counting or creating anything twice."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from bson import Binary, ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_core.addresses import normalize_email, normalize_phone
from crm_core.audit import Audited
from crm_core.contacts import contact_terms, new_contact
from crm_core.errors import Invalid
from crm_core.jobs import enqueue, new_job
from crm_core.records import find_by_id, transaction, utcnow

IMPORT = "import"  # the job kind
KINDS = ("contacts",)
BATCH = 500
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
TARGETS = frozenset(HEADER_GUESSES.values())  # the fields a column may fill (besides attributes.*)


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """column -> field, for the headers a person would recognise; other columns become custom
    attributes under their own name."""
    mapping = {}
    for header in headers:
        key = header.strip().lower()
        mapping[header] = HEADER_GUESSES.get(key, f"attributes.{header.strip()}" if key else "")
    return mapping


def read_rows(data: IO[bytes], filename: str) -> Iterator[dict[str, str]]:
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
    except (csv.Error, UnicodeDecodeError) as exc:
        raise Invalid(f"file: not readable as CSV ({exc})") from exc


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


class ContactImports:
    def __init__(self, db: AsyncDatabase, region: str | None) -> None:
        self._db = db
        self._col = db.imports
        self._region = region

    async def create(
        self,
        kind: str,
        filename: str,
        content: bytes,
        mapping: dict[str, str] | None,
        dry_run: bool,
        audited: Audited,
        *,
        queued: bool = True,
    ) -> dict[str, Any]:
        """Keep the file and queue its import (unless the caller runs it: `queued=False`); the
        columns are read, and checked, first."""
        if kind not in KINDS:
            raise Invalid(f"kind: one of {', '.join(KINDS)}")
        headers = list(next(read_rows(io.BytesIO(content), filename), {}).keys())
        guessed = guess_mapping(headers) | (mapping or {})
        unknown = {t for t in guessed.values() if t and t not in TARGETS and not t.startswith("attributes.")}
        if unknown:
            raise Invalid(f"mapping: unknown fields {', '.join(sorted(unknown))}")
        record = {
            "_id": ObjectId(), "kind": kind, "filename": filename, "size": len(content), "mapping": guessed,
            "dry_run": dry_run, "status": "queued", "processed": 0, "created": 0, "updated": 0, "skipped": 0,
            "failed_rows": 0, "created_at": utcnow(), "finished_at": None, "error": None,
        }  # fmt: skip
        chunks = [
            {"import_id": record["_id"], "n": n, "data": Binary(content[at : at + CHUNK_BYTES])}
            for n, at in enumerate(range(0, len(content), CHUNK_BYTES))
        ]
        async with transaction(self._db) as session:
            await self._col.insert_one(record, session=session)
            if chunks:
                await self._db.import_chunks.insert_many(chunks, session=session)
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
        each (a long import keeps its job's lease)."""
        record = await self.get(import_id)
        if record["status"] in ("done", "failed"):
            return record
        await self._col.update_one({"_id": import_id}, {"$set": {"status": "running"}})
        chunks = await self._db.import_chunks.find({"import_id": import_id}).sort("n", 1).to_list(None)
        content = io.BytesIO(b"".join(bytes(chunk["data"]) for chunk in chunks))
        try:
            rows = read_rows(content, record["filename"])
            batch: list[tuple[int, dict[str, str]]] = []
            for number, row in enumerate(rows, start=2):  # row 1 holds the headers
                if number - 2 < record["processed"]:
                    continue
                batch.append((number, row))
                if len(batch) == BATCH:
                    await self._batch(record, batch)
                    await alive()
                    batch = []
            await self._batch(record, batch)
        except Invalid as exc:
            await self._col.update_one(
                {"_id": import_id}, {"$set": {"status": "failed", "error": str(exc), "finished_at": utcnow()}}
            )
            return await self.get(import_id)
        await self._col.update_one({"_id": import_id}, {"$set": {"status": "done", "finished_at": utcnow()}})
        await self._db.import_chunks.delete_many({"import_id": import_id})
        return await self.get(import_id)

    async def _batch(self, record: dict[str, Any], batch: list[tuple[int, dict[str, str]]]) -> None:
        counts = {"created": 0, "updated": 0, "skipped": 0, "failed_rows": 0}
        async with transaction(self._db) as session:
            for number, row in batch:
                found = contact_row(row, record["mapping"], self._region)
                if found.refused is not None:
                    counts["failed_rows"] += 1
                    failure = {
                        "import_id": record["_id"],
                        "row": number,
                        "reason": found.refused,
                        "values": row,
                    }
                    await self._db.import_failures.insert_one(failure, session=session)
                    continue
                outcome = await self._apply(found, record["dry_run"], session)
                counts[outcome] += 1
            await self._col.update_one(
                {"_id": record["_id"]}, {"$inc": {**counts, "processed": len(batch)}}, session=session
            )

    async def _apply(self, row: ContactRow, dry_run: bool, session: AsyncClientSession) -> str:
        """created, updated or skipped (known and nothing new)."""
        existing = None
        for field_name, value in (("emails", row.email), ("phones", row.phone)):
            if value and existing is None:
                existing = await self._db.contacts.find_one(
                    {field_name: value, "merged_into": None}, session=session
                )
        fields = {k: v for k, v in (("name", row.name), ("company", row.company)) if v}
        consent = (
            {"consent": {"marketing": row.consent, "changed_at": utcnow(), "source": "import"}}
            if row.consent is not None
            else {}
        )
        if existing is None:
            if not dry_run:
                doc = new_contact(
                    **fields, **consent, emails=[row.email] if row.email else [],
                    phones=[row.phone] if row.phone else [],
                    attributes=row.attributes, labels=row.labels,
                )  # fmt: skip
                await self._db.contacts.insert_one(doc, session=session)
            return "created"
        changes: dict[str, Any] = {k: v for k, v in fields.items() if existing.get(k) != v}
        changes |= {
            f"attributes.{k}": v
            for k, v in row.attributes.items()
            if existing.get("attributes", {}).get(k) != v
        }
        if consent and existing.get("consent", {}).get("marketing") != row.consent:
            changes |= consent
        additions = {}
        if row.email and row.email not in existing.get("emails", []):
            additions["emails"] = row.email
        if row.phone and row.phone not in existing.get("phones", []):
            additions["phones"] = row.phone
        new_labels = [label for label in row.labels if label not in existing.get("labels", [])]
        if not (changes or additions or new_labels):
            return "skipped"
        if not dry_run:
            merged = existing | {k: v for k, v in changes.items() if "." not in k}
            update: dict[str, Any] = {
                "$set": {**changes, "terms": contact_terms(merged), "updated_at": utcnow()}
            }
            adds = {k: {"$each": [v]} for k, v in additions.items()}
            if new_labels:
                adds["labels"] = {"$each": new_labels}
            if adds:
                update["$addToSet"] = adds
            await self._db.contacts.update_one({"_id": existing["_id"]}, update, session=session)
        return "updated"
