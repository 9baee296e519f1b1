"""The labelled examples in `nlp/data/`, all written for this repo, and the split that keeps
whole families (a template and its variants, or one hand-written line) out of training.

- `en.jsonl`, `zh.jsonl`: hand-written, one family per line (a line may name its own family).
- `generated.jsonl`: written by `scripts/generate_intent_examples.py`, one family per template.
- `other_languages.jsonl`: never trained on; checks the cross-language rules.
A line may say its language (`lang`); otherwise the file's name does."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
TRAINED_FILES = ("en.jsonl", "zh.jsonl", "generated.jsonl")
CHECK_ONLY_FILES = ("other_languages.jsonl",)
HELD_OUT_EVERY = 5  # one family in five is never trained on


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    lang: str = "en"
    family: str = ""
    opt_out: bool | None = None


def load(names: tuple[str, ...] = TRAINED_FILES) -> list[Example]:
    examples = []
    for name in names:
        path = DATA_DIR / name
        default_lang = path.stem if len(path.stem) == 2 else "en"
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    record = json.loads(line)
                    record.setdefault("lang", default_lang)
                    record.setdefault("family", f"{path.stem}:{number}")
                    examples.append(Example(**record))
    return examples


def fingerprint() -> bytes:
    """Changes whenever any training file does (the cached heads are keyed by it)."""
    return b"".join((DATA_DIR / name).read_bytes() for name in TRAINED_FILES)


def held_out(example: Example) -> bool:
    return zlib.crc32(example.family.encode()) % HELD_OUT_EVERY == 0


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held out): deterministic, by family, so no variant of a test sentence is trained on."""
    train = [e for e in examples if not held_out(e)]
    return train, [e for e in examples if held_out(e)]
