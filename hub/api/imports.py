"""Imports of contacts from CSV or Excel files: queued as a job, followed by their counters,
their refused rows downloadable with the reason for each."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from typing import IO, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from crm_core.imports import fields_of
from crm_core.vocabularies import ADMINS, MANAGERS
from hub.api.downloads import copy_capped, download_headers
from hub.api.errors import ApiError
from hub.api.route_table import RouteTable
from hub.api.routing import Call, json_ok

routes = RouteTable()
UPLOAD_SECONDS = 600.0  # a large file on a slow link, but not a connection held forever
SPOOLED_BYTES = 1024 * 1024  # of an uploaded file kept in memory; the rest goes to a temporary file


@routes.route("POST", "/api/v1/imports",
              summary="Import contacts or orders: multipart with `kind` (contacts, or orders: admins), "
              "`file` (.csv in UTF-8 or GB18030, or .xlsx), optionally `mapping` (JSON {column: field}; "
              "a contact's fields: name|email|phone|company|labels|consent|attributes.<key>, columns named "
              "name, email, phone, company, or 姓名, 邮箱, 手机, 公司..., need none; an order's: one row per "
              "order line, number|email|phone|name|status|currency|total|placed_at|product|sku|quantity|"
              "price, or 订单号, 金额, 下单时间, 商品, 数量, 单价...) and `dry_run` (true: count what "
              "would be created, updated and refused, change nothing). 202 with the import; a file over "
              "HUB_IMPORT_MAX_BYTES is refused before it is read (413).",
              tag="integrations", roles=MANAGERS, raw_body="multipart/form-data", ok_status=202,
              streams_body=True)  # fmt: skip
async def create_import(call: Call) -> web.Response:
    limit = call.services.settings.import_max_bytes
    if (call.request.content_length or 0) > limit + 64 * 1024:
        raise ApiError(413, "file_too_large", f"an import file may be at most {limit} bytes")
    if not call.request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data")
    with tempfile.SpooledTemporaryFile(max_size=SPOOLED_BYTES) as content:
        try:
            async with asyncio.timeout(UPLOAD_SECONDS):
                fields, filename, size = await _form(call.request, limit, content)
        except TimeoutError as exc:
            raise ApiError(408, "body_timeout", "the file took too long to arrive") from exc
        except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:  # a broken form
            raise ApiError(400, "bad_multipart", f"not a readable multipart form: {str(exc)[:200]}") from exc
        if not size:
            raise ApiError(400, "bad_request", "file: a non-empty file field is needed")
        if fields.get("kind") == "orders" and call.actor["role"] not in ADMINS:
            raise ApiError(403, "forbidden", "only admins import orders")
        mapping = _mapping(fields.get("mapping"))
        dry_run = fields.get("dry_run", "false").lower() in ("true", "1", "yes")
        audited = call.audited("import.create", "import")
        record = await call.services.imports.create(
            fields.get("kind", ""), filename, content, mapping, dry_run, audited
        )
    call.services.job_worker.wake()
    return json_ok(record | {"fields": fields_of(record["kind"])}, status=202)


async def _form(request: web.Request, limit: int, content: IO[bytes]) -> tuple[dict[str, str], str, int]:
    """The form's small fields, and the file's name and size (refused past `limit`), the file
    written into `content`."""
    fields: dict[str, str] = {}
    filename, size = "", 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file" and not size:
            filename = part.filename or "upload.csv"
            size = await copy_capped(part.read_chunk, limit, "an import file", content)
        elif part.name in ("kind", "mapping", "dry_run"):
            fields[part.name] = (await part.read(decode=True)).decode(errors="replace")[:100_000]
    return fields, filename, size


def _mapping(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_json", "mapping: JSON {column: field}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ApiError(422, "invalid", "mapping: JSON {column: field}")
    return {str(k)[:200]: v[:200] for k, v in mapping.items()}


@routes.route("GET", "/api/v1/imports/{id}",
              summary="An import: status (queued, running, done, failed), created, updated, skipped, "
              "failed_rows, processed of rows (the file's data rows: progress), the column "
              "mapping used, the file's headers and first rows (sample), the fields a column may fill.",
              tag="integrations", roles=MANAGERS)  # fmt: skip
async def get_import(call: Call) -> web.Response:
    record = await call.services.imports.get(call.path("id"))
    return json_ok(record | {"fields": fields_of(record["kind"])})


@routes.route("GET", "/api/v1/imports/{id}/failed.csv",
              summary="The rows an import refused, as CSV: row number, reason, then the row's columns.",
              tag="integrations", roles=MANAGERS)  # fmt: skip
async def failed_rows(call: Call) -> web.Response:
    failures = await call.services.imports.failures(call.path("id"))
    columns: list[str] = []
    for failure in failures:
        columns += [c for c in failure["values"] if c not in columns]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "reason", *columns])
    for failure in failures:
        values: dict[str, Any] = failure["values"]
        writer.writerow([failure["row"], failure["reason"], *(_safe(values.get(c, "")) for c in columns)])
    headers = download_headers(f"import-{call.path('id')}-refused.csv")
    return web.Response(body=("\ufeff" + out.getvalue()).encode(), content_type="text/csv", charset="utf-8",
                        headers=headers)  # fmt: skip


def _safe(cell: str) -> str:
    """A cell a spreadsheet would run as a formula is written as text."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell
