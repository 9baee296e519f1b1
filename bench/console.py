"""Console benchmark (Playwright, Debian's Chromium): the JavaScript a browser downloads to show
the inbox (gzipped), how soon the inbox shows after signing in with many conversations in the
database, and how soon a webhook message shows in an open inbox after the webhook's answer.

    .venv/bin/python bench/console.py [--conversations 10000] [--messages 50]

Starts an embedded database on disk and a hub (`python -m hub serve`, NLP worker off) serving
the console's build (run `bash scripts/run` or `cd web && npm run build` first); fills it through
signed chat webhooks, one conversation per sender. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from playwright.async_api import Page, Response, async_playwright

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository root, for bench.harness
from bench.harness import ADMIN, PASSWORD, SIGNED_IN_HUB_ENV, fill, post, running_hub  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


async def sign_in(page: Page, url: str) -> float:
    """Seconds from pressing "Sign in" to the first inbox row on screen."""
    await page.goto(f"{url}/sign-in")
    await page.get_by_label("Email").fill(ADMIN)
    await page.get_by_label("Password").fill(PASSWORD)
    started = time.perf_counter()
    await page.get_by_role("button", name="Sign in").click()
    await page.locator(".rows li a").first.wait_for()
    return time.perf_counter() - started


async def live_latencies(page: Page, url: str, messages: int) -> list[float]:
    """Seconds from a webhook's answer to its conversation's row on screen (polled every 5 ms
    in the page, so the figure is not the test driver's)."""
    latencies = []
    async with aiohttp.ClientSession() as http:
        for n in range(messages):
            name = f"live-{uuid.uuid4().hex[:8]}"
            waiting = asyncio.ensure_future(
                page.wait_for_function(
                    "name => [...document.querySelectorAll('.rows .who')].some(e => e.textContent === name)",
                    arg=name,
                    polling=5,
                    timeout=10_000,
                )
            )
            await post(http, url, name, f"live message {n}")
            answered = time.perf_counter()
            await waiting
            latencies.append(time.perf_counter() - answered)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    async with running_hub(**SIGNED_IN_HUB_ENV) as hub, async_playwright() as playwright:
        seconds = await fill(hub.url, args.conversations)
        print(f"filled {args.conversations} conversations in {seconds:.1f} s")
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = await browser.new_page()
        scripts: dict[str, int] = {}

        async def on_response(response: Response) -> None:
            if response.request.resource_type == "script":
                body = await response.body()
                scripts[response.url] = int(response.headers.get("content-length") or len(body))

        page.on("response", on_response)
        shown = await sign_in(page, hub.url)
        print(f"JavaScript for the inbox: {sum(scripts.values()) / 1024:.1f} KB over the wire "
              f"(gzip) in {len(scripts)} files")  # fmt: skip
        print(f"inbox visible {shown * 1000:.0f} ms after Sign in, {args.conversations} conversations stored")
        latencies = await live_latencies(page, hub.url, args.messages)
        print(
            f"webhook message visible in the open inbox after the webhook's answer: "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
            f"over {len(latencies)} messages"
        )
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
