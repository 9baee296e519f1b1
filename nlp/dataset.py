"""The labelled examples in `nlp/data/`, split once and for all into training and held-out parts."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "intents.jsonl"
HELD_OUT_EVERY = 5  # every fifth example of each intent is never trained on


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


def load(path: Path = DATA_FILE) -> list[Example]:
    with path.open(encoding="utf-8") as lines:
        return [Example(**json.loads(line)) for line in lines if line.strip()]


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held out): deterministic, stratified by intent."""
    seen: dict[str, int] = defaultdict(int)
    train, held_out = [], []
    for example in examples:
        seen[example.intent] += 1
        (held_out if seen[example.intent] % HELD_OUT_EVERY == 0 else train).append(example)
    return train, held_out
