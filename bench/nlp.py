"""NLP speed: model load time, single-message p50 latency, throughput at batch 32 for chat-length
and email-length messages, and resident memory after load; then the same model inside a whole
hub (`python -m hub serve` on an embedded database): messages classified per second through the
worker and the hub's peak RSS. Prints figures; not a test.

    .venv/bin/python bench/nlp.py [--rounds 20] [--hub-messages 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import statistics
import sys
import time
from pathlib import Path

import aiohttp

# This file is named like the package it measures: import the package, not this script.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.harness import SECRET, peak_rss_mb, running_hub  # noqa: E402
from channels.base import hmac_sha256_signature  # noqa: E402

CHAT = [
    "hi, my invoice is wrong",
    "can we book a demo for 20 seats?",
    "the app crashes when I upload a photo",
    "please cancel my subscription",
    "thanks, great support today!",
    "Congratulations, you won a free cruise",
    "hello",
    "I was charged twice this month, unacceptable",
]
EMAIL = (
    "Hello support team,\n\nSince the update last Tuesday our agents cannot export the weekly report. "
    "The export button shows a spinner for a minute and then the page says 'unexpected error'. We tried "
    "Chrome and Firefox on two different machines, cleared the cache and logged in again, with no luck. "
    "Our managers need the report every Monday morning for the team meeting, so this is becoming urgent "
    "for us. Could you look into it and tell us whether there is a workaround in the meantime? I have "
    "attached a screenshot of the error and the browser console output.\n\nBest regards,\nMaria Schmidt\n"
    "Head of Customer Care, Nordlicht Logistik GmbH\n+49 30 1234567"
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(analyzer, texts: list[str], rounds: int) -> float:
    batch = (texts * 32)[:32]
    analyzer.analyze(batch)
    started = time.perf_counter()
    for _ in range(rounds):
        analyzer.analyze(batch)
    return 32 * rounds / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--hub-messages", type=int, default=400)
    args = parser.parse_args()
    started = time.perf_counter()
    from nlp.analyzer import Analyzer

    analyzer = Analyzer.load()
    load_seconds = time.perf_counter() - started
    print(f"model {analyzer.model}: loaded in {load_seconds:.1f} s (imports included), RSS {rss_mb():.0f} MB")
    for text in CHAT:
        analyzer.analyze([text])
    latencies = []
    for _ in range(args.rounds):
        for text in CHAT:
            t = time.perf_counter()
            analyzer.analyze([text])
            latencies.append((time.perf_counter() - t) * 1000)
    print(f"single chat message: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {statistics.quantiles(latencies, n=20)[18]:.1f} ms")  # fmt: skip
    print(f"batch 32, chat-length:  {throughput(analyzer, CHAT, args.rounds):.0f} msg/s")
    print(f"batch 32, email-length: {throughput(analyzer, [EMAIL], max(2, args.rounds // 5)):.0f} msg/s")
    print(f"peak RSS {rss_mb():.0f} MB")
    asyncio.run(whole_hub(args.hub_messages))


async def whole_hub(messages: int) -> None:
    """Chat webhooks into a real hub (one email-length message in five); wait until the worker
    has classified and acted on all of them, as its /metrics counter says."""
    async with running_hub() as hub, aiohttp.ClientSession() as http:
        started = time.perf_counter()
        for n in range(messages):
            text = EMAIL if n % 5 == 4 else CHAT[n % len(CHAT)]
            body = json.dumps({"external_id": f"m{n}", "sender": {"id": f"c{n % 50}"}, "text": text}).encode()
            headers = {"X-Hub-Signature-256": hmac_sha256_signature(SECRET, body)}
            async with http.post(f"{hub.url}/webhooks/chat", data=body, headers=headers) as resp:
                resp.raise_for_status()
        while (done := await _classified(http, hub.url)) < messages:
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"only {done} of {messages} classified after 10 minutes")
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(hub.pid)
        print(f"whole hub: {messages} messages posted and classified in {elapsed:.1f} s "
              f"({messages / elapsed:.0f} msg/s end to end), hub peak RSS {rss:.0f} MB")  # fmt: skip


async def _classified(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return int(sum(float(v) for v in re.findall(r"^hub_nlp_messages_total\{.*\} (\S+)$", text, re.MULTILINE)))


if __name__ == "__main__":
    main()
