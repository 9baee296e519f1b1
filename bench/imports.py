"""Contact import benchmark: a hub on the embedded default importing a CSV of new customers
through `POST /api/v1/imports`, then the same file again (every row known: updates or skips).

    .venv/bin/python bench/imports.py [--rows 100000]

Prints, for each run: the upload's answer time, the time from the upload to `done`, rows per
second, and the hub's memory (resident before the upload, and its peak by the end). Asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
import time
from pathlib import Path

import aiohttp

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, PASSWORD, SIGNED_IN_HUB_ENV, peak_rss_mb, running_hub  # noqa: E402


def spreadsheet(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "email", "phone", "company", "labels", "tier"])
    for n in range(rows):
        phone = f"+86 138 {n // 10000:04d} {n % 10000:04d}"
        writer.writerow(
            [f"Customer {n}", f"customer{n}@example.com", phone, f"Company {n % 500}", "imported", "gold"]
        )
    return out.getvalue().encode()


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_import(http: aiohttp.ClientSession, url: str, token: str, content: bytes, pid: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    before = resident_mb(pid)
    form = aiohttp.FormData()
    form.add_field("kind", "contacts")
    form.add_field("file", content, filename="customers.csv", content_type="text/csv")
    started = time.perf_counter()
    async with http.post(f"{url}/api/v1/imports", data=form, headers=auth) as resp:
        record = await resp.json()
        assert resp.status == 202, record
    answered = time.perf_counter() - started
    while record["status"] not in ("done", "failed"):
        await asyncio.sleep(0.5)
        async with http.get(f"{url}/api/v1/imports/{record['id']}", headers=auth) as resp:
            record = await resp.json()
    seconds = time.perf_counter() - started
    counts = ", ".join(f"{record[k]} {k}" for k in ("created", "updated", "skipped", "failed_rows"))
    print(f"  {record['status']}: {counts}")
    rate = record["processed"] / seconds
    print(f"  upload answered in {answered:.1f} s; done {seconds:.1f} s after it: {rate:.0f} rows/s")
    print(f"  hub memory: {before:.0f} MB resident before, {peak_rss_mb(pid):.0f} MB peak by the end")


async def main(rows: int) -> None:
    content = spreadsheet(rows)
    print(f"{rows} rows, {len(content) / 1e6:.1f} MB of CSV")
    async with running_hub(**SIGNED_IN_HUB_ENV) as hub, aiohttp.ClientSession() as http:
        async with http.post(
            f"{hub.url}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        print("new customers:")
        await run_import(http, hub.url, token, content, hub.pid)
        print("the same file again:")
        await run_import(http, hub.url, token, content, hub.pid)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().rows))
