"""`python -m nlp evaluate` (held-out accuracy, macro-F1, confusion matrix),
`python -m nlp classify` (one message per line, or JSON lines with "text", on stdin) and
`python -m nlp train` (train the intent head and cache it)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from nlp import dataset
from nlp.analyzer import Analyzer
from nlp.classifier import Classifier, EmbeddingClassifier, RulesClassifier, head_path, train_head
from nlp.labels import INTENTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("classify", help="stdin lines or JSON lines -> JSON lines")
    commands.add_parser("train", help="train the intent head and cache it (the hub loads it from there)")
    evaluate = commands.add_parser("evaluate", help="scores on the held-out examples")
    evaluate.add_argument("--rules", action="store_true", help="evaluate the rules fallback instead")
    args = parser.parse_args(argv)
    if args.command == "classify":
        return classify(Analyzer.load())
    if args.command == "train":
        return train()
    return report(_evaluated(args.rules))


def classify(analyzer: Analyzer) -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        text, email = line.rstrip("\n"), None
        if text.lstrip().startswith("{"):
            record = json.loads(text)
            text, email = str(record.get("text", "")), record.get("email")
        print(json.dumps(analyzer.analyze([text], [email])[0], ensure_ascii=False), flush=True)
    return 0


def train() -> int:
    from nlp.encoder import Encoder, model_path

    started = time.perf_counter()
    path = head_path(model_path())
    train_head(Encoder(), path)
    print(f"trained the intent head in {time.perf_counter() - started:.1f} s; cached at {path}")
    return 0


def _evaluated(rules: bool) -> tuple[Classifier, list[dataset.Example]]:
    train, held_out = dataset.split(dataset.load())
    if rules:
        return RulesClassifier(), held_out
    from nlp.encoder import Encoder

    encoder = Encoder()
    return EmbeddingClassifier(encoder, EmbeddingClassifier.train_head(encoder, train)), held_out


def scores(classifier: Classifier, examples: list[dataset.Example]) -> dict:
    predicted = [r.intent for r in classifier.predict([e.text for e in examples])]
    truth = [e.intent for e in examples]
    confusion = Counter(zip(truth, predicted, strict=True))
    f1s = []
    for label in INTENTS:
        tp = confusion[(label, label)]
        fp = sum(n for (t, p), n in confusion.items() if p == label and t != label)
        fn = sum(n for (t, p), n in confusion.items() if t == label and p != label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    return {
        "model": classifier.model,
        "n": len(truth),
        "accuracy": accuracy,
        "macro_f1": sum(f1s) / len(f1s),
        "confusion": confusion,
    }


def report(evaluated: tuple[Classifier, list[dataset.Example]]) -> int:
    result = scores(*evaluated)
    print(f"model {result['model']}: {result['n']} held-out examples")
    print(f"accuracy {result['accuracy']:.3f}  macro-F1 {result['macro_f1']:.3f}")
    width = max(map(len, INTENTS))
    print(" " * (width + 1) + " ".join(label[:4].rjust(4) for label in INTENTS) + "   <- predicted")
    for truth in INTENTS:
        row = " ".join(str(result["confusion"][(truth, p)]).rjust(4) for p in INTENTS)
        print(f"{truth.rjust(width)} {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
