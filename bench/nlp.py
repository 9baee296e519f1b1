"""NLP speed: model load time, single-message p50 latency, throughput at batch 32 for chat-length
and email-length messages, and resident memory after load. Prints figures; not a test.

    .venv/bin/python bench/nlp.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

# This file is named like the package it measures: import the package, not this script.
sys.path[0] = str(Path(__file__).resolve().parents[1])

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


if __name__ == "__main__":
    main()
