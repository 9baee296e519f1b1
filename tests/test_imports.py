"""Importing contacts from real files (Python's csv in UTF-8 with a BOM and in GB18030,
openpyxl's .xlsx): through the API as a job and through the CLI; known customers updated, never
made twice; bad rows refused with their reason; hostile files refused with a 4xx."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import zipfile

import aiohttp
import openpyxl
import pytest

from crm_core import imports
from crm_core.audit import Audited
from crm_core.imports import SpreadsheetImports
from tests.conftest import chat_message, eventually


def csv_file(rows: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def post_import(hub, token: str, name: str, content: bytes, **fields: str) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("kind", fields.pop("kind", "contacts"))
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", content, filename=name, content_type="application/octet-stream")
    return await hub.call("POST", "/api/v1/imports", token, data=form)


async def finished(hub, token: str, import_id: str) -> dict:
    async def done():
        _, record = await hub.call("GET", f"/api/v1/imports/{import_id}", token)
        return record if record["status"] in ("done", "failed") else None

    return await eventually(done, timeout=30)


async def test_a_csv_imports_new_customers_updates_known_ones_and_refuses_bad_rows(hub):
    manager = await hub.login("manager")
    await hub.chat(chat_message("Hi", sender={"id": "k1", "name": "Known Kim", "email": "kim@example.com"}))
    rows = [
        ["name", "email", "phone", "company", "tier"],
        ["Ann Able", "ANN@example.com", "+44 20 7946 0958", "Acme", "gold"],
        ["Kim Known", "kim@example.com", "", "Kimco", ""],
        ["Bad Mail", "not-an-address", "", "", ""],
        ["Nobody", "", "", "", ""],
        ['=HYPERLINK("x")', "f@example.com", "", "=1+1", ""],
    ]
    status, record = await post_import(
        hub, manager, "contacts.csv", b"\xef\xbb\xbf" + csv_file(rows, "utf-8")
    )
    assert status == 202, record
    assert record["status"] == "queued" and record["mapping"]["tier"] == "attributes.tier"
    done = await finished(hub, manager, record["id"])
    assert (done["status"], done["created"], done["updated"], done["failed_rows"]) == ("done", 2, 1, 2)

    ann = await hub.db.contacts.find_one({"emails": "ann@example.com"})
    assert (
        ann["phones"] == ["+442079460958"]
        and ann["company"] == "Acme"
        and ann["attributes"] == {"tier": "gold"}
    )
    assert await hub.db.contacts.count_documents({"emails": "kim@example.com"}) == 1
    kim = await hub.db.contacts.find_one({"emails": "kim@example.com"})
    assert kim["company"] == "Kimco" and kim["identities"]  # the chat identity kept
    formula = await hub.db.contacts.find_one({"emails": "f@example.com"})
    assert formula["company"] == "=1+1"  # text, never evaluated

    async with hub.client.get(f"/api/v1/imports/{record['id']}/failed.csv",
                              headers={"Authorization": f"Bearer {manager}"}) as resp:  # fmt: skip
        refused = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert [r[:2] for r in refused[1:]] == [
        ["4", "email 'not-an-address' is not an address"],
        ["5", "no email or phone: nothing to know the customer by"],
    ]

    # The same file again makes nobody new.
    _, again = await post_import(hub, manager, "contacts.csv", csv_file(rows, "utf-8"))
    repeat = await finished(hub, manager, again["id"])
    assert repeat["created"] == 0 and await hub.db.contacts.count_documents({}) == 3


async def test_chinese_headers_in_gb18030_and_an_xlsx_need_no_mapping(hub):
    admin = await hub.login("admin")
    chinese = [
        ["姓名", "邮箱", "手机", "公司", "标签"],
        ["王小明", "wang@example.cn", "+86 138 0013 8000", "北京科技", "VIP，老客户"],
    ]
    status, record = await post_import(hub, admin, "客户.csv", csv_file(chinese, "gb18030"))
    assert status == 202
    assert (await finished(hub, admin, record["id"]))["created"] == 1
    wang = await hub.db.contacts.find_one({"emails": "wang@example.cn"})
    assert wang["name"] == "王小明" and wang["company"] == "北京科技" and wang["phones"] == ["+8613800138000"]
    assert wang["labels"] == ["vip", "老客户"]

    sheet = [["Name", "Email", "Phone"], ["Xu Sheet", "xu@example.com", "+1 415 555 0100"]]
    status, record = await post_import(hub, admin, "people.xlsx", xlsx_file(sheet))
    assert status == 202 and (await finished(hub, admin, record["id"]))["created"] == 1

    dry = [["email"], ["dry@example.com"]]
    _, record = await post_import(hub, admin, "dry.csv", csv_file(dry, "utf-8"), dry_run="true")
    counted = await finished(hub, admin, record["id"])
    assert (
        counted["created"] == 1 and await hub.db.contacts.count_documents({"emails": "dry@example.com"}) == 0
    )


async def test_hostile_files_are_refused_with_a_4xx(make_hub):
    hub = await make_hub(import_max_bytes=200_000)
    admin, agent = await hub.login("admin"), await hub.login("agent")
    rows = [["email"], ["a@example.com"]]
    assert (await post_import(hub, agent, "x.csv", csv_file(rows, "utf-8")))[0] == 403
    assert (await post_import(hub, admin, "x.csv", csv_file(rows, "utf-8"), kind="invoices"))[0] == 422
    assert (await post_import(hub, admin, "big.csv", b"email\n" + b"a@example.com\n" * 20_000))[0] == 413
    wide = ",".join(f"c{n}" for n in range(100_000)).encode()
    assert (await post_import(hub, admin, "wide.csv", wide + b"\n"))[0] in (413, 422)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 5_000_000)
    status, error = await post_import(hub, admin, "bomb.xlsx", bomb.getvalue())
    assert status == 422 and "zip bomb" in error["error"]["message"]
    assert (await post_import(hub, admin, "junk.xlsx", b"not a zip"))[0] == 422
    utf16 = "email\na@example.com\n".encode("utf-16")
    status, error = await post_import(hub, admin, "unicode.csv", utf16)
    assert status == 422 and "UTF-8 or GB18030" in error["error"]["message"]
    late = b"email\n" + b"a@example.com\n" * 5000 + b"\xff\xfe\xff\n"  # unreadable far into the file
    assert (await post_import(hub, admin, "late.csv", late))[0] == 422
    broken = {"Content-Type": "multipart/form-data; boundary=x"}
    assert (await hub.call("POST", "/api/v1/imports", admin, data=b"garbage", headers=broken))[0] == 400
    assert await hub.db.contacts.count_documents({}) == 0


@pytest.mark.slow
async def test_the_cli_imports_a_file(mongo_uri, settings, tmp_path, make_hub):
    hub = await make_hub()
    path = tmp_path / "people.csv"
    path.write_bytes(csv_file([["name", "email"], ["Cli Carla", "carla@example.com"], ["x", "bad"]], "utf-8"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {"HUB_MONGO_URI": mongo_uri, "HUB_MONGO_DB": settings.mongo_db}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "import", "contacts", str(path), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await asyncio.wait_for(process.communicate(), 120))[0].decode()
    assert process.returncode == 0, output
    assert "1 created" in output and "1 failed rows" in output
    assert await hub.db.contacts.count_documents({"emails": "carla@example.com"}) == 1


async def test_rows_naming_one_customer_make_one_contact(hub):
    manager = await hub.login("manager")
    rows = [
        ["name", "email", "phone", "labels"],
        ["Lee", "lee@example.com", "", "new"],
        ["Lee Long", "LEE@example.com", "+1 415 555 0199", "vip"],
        ["", "", "+14155550199", "wholesale"],
    ]
    _, record = await post_import(hub, manager, "lee.csv", csv_file(rows, "utf-8"))
    done = await finished(hub, manager, record["id"])
    assert (done["rows"], done["processed"], done["created"], done["updated"]) == (3, 3, 1, 2)
    [lee] = await hub.db.contacts.find({}).to_list(None)
    assert lee["name"] == "Lee Long" and lee["phones"] == ["+14155550199"]
    assert sorted(lee["labels"]) == ["new", "vip", "wholesale"]
    assert "lee" in lee["terms"]  # found by search under its name


async def test_an_import_killed_mid_file_resumes_without_duplicates(hub, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 2)
    rows = [["email"], *([f"p{n}@example.com"] for n in range(5))]
    audited = Audited({"_id": "test", "email": None, "name": "test"}, "import.create", "import")
    store = SpreadsheetImports(hub.db, None)
    content = io.BytesIO(csv_file(rows, "utf-8"))
    record = await store.create("contacts", "p.csv", content, None, False, audited, queued=False)

    async def killed() -> None:
        raise KeyboardInterrupt  # the process dies after its first batch committed

    with pytest.raises(KeyboardInterrupt):
        await store.run(record["_id"], killed)
    assert (await store.get(record["_id"]))["processed"] == 2

    async def alive() -> None:
        return None

    done = await store.run(record["_id"], alive)
    assert (done["status"], done["processed"], done["created"]) == ("done", 5, 5)
    assert await hub.db.contacts.count_documents({}) == 5


async def test_an_order_export_imports_orders_once_with_their_lines_and_customers(hub):
    admin, manager = await hub.login("admin"), await hub.login("manager")
    rows = [
        ["订单号", "邮箱", "收货人", "订单状态", "币种", "下单时间", "商品", "数量", "单价"],
        ["20001", "li@example.cn", "李雷", "已付款", "USD", "2026-11-02 10:30", "茶具", "2", "30.00"],
        ["20001", "li@example.cn", "李雷", "已付款", "USD", "2026-11-02 10:30", "茶叶", "1", "15.50"],
        ["20002", "li@example.cn", "李雷", "已退款", "USD", "2026/11/20", "茶叶", "1", "15.50"],
        ["20003", "", "", "已付款", "USD", "2026-11-21", "茶叶", "1", "15.50"],
        ["20004", "wu@example.cn", "", "发货中", "USD", "2026-11-22", "茶叶", "1", "15.50"],
    ]
    content = csv_file(rows, "gb18030")
    assert (await post_import(hub, manager, "orders.csv", content, kind="orders"))[0] == 403
    _, dry = await post_import(hub, admin, "orders.csv", content, kind="orders", dry_run="true")
    assert dry["mapping"]["订单号"] == "number" and dry["mapping"]["单价"] == "price"
    counted = await finished(hub, admin, dry["id"])
    assert (counted["created"], counted["failed_rows"]) == (2, 2)
    assert await hub.db.orders.count_documents({}) == 0 and await hub.db.contacts.count_documents({}) == 0

    _, record = await post_import(hub, admin, "orders.csv", content, kind="orders")
    done = await finished(hub, admin, record["id"])
    assert (done["status"], done["created"], done["failed_rows"], done["processed"]) == ("done", 2, 2, 5)
    first = await hub.db.orders.find_one({"number": "20001"})
    assert first["total"] == 75.5 and [i["name"] for i in first["items"]] == ["茶具", "茶叶"]
    li = await hub.db.contacts.find_one({"emails": "li@example.cn"})
    assert li["name"] == "李雷" and li["purchases"]["count"] == 1 and li["membership"]["points"] == 75

    _, again = await post_import(hub, admin, "orders.csv", content, kind="orders")
    repeated = await finished(hub, admin, again["id"])
    assert (repeated["created"], repeated["skipped"]) == (0, 2)
    assert await hub.db.orders.count_documents({}) == 2
