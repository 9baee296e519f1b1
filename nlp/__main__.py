"""`python -m nlp evaluate` (per language: intent precision/recall, routing accuracy, legitimate
messages called spam), `python -m nlp classify` (one message per line, or JSON lines with
"text", on stdin) and `python -m nlp train` (train the models, with this installation's
corrections, and cache them where the hub loads them)."""

from __future__ import annotations

import argparse
import json
import sys

from nlp import dataset
from nlp.analyzer import Analyzer
from nlp.classifier import Classifier, LanguageRouter, RulesClassifier
from nlp.evaluation import Scores, score
from nlp.labels import INTENTS
from nlp.languages import MODEL_LANGUAGES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("classify", help="stdin lines or JSON lines -> JSON lines")
    train = commands.add_parser("train", help="train the models with this installation's corrections")
    train.add_argument(
        "--corrections",
        help="JSON lines of {text, intent} (GET /api/v1/nlp/corrections); default: read them from "
        "the hub's database (HUB_MONGO_URI, or the embedded server of a running hub in HUB_DATA_DIR)",
    )
    train.add_argument(
        "--min-per-intent",
        type=int,
        default=1,
        help="fold in an intent's corrections only when it has at least this many (default 1)",
    )
    evaluate = commands.add_parser("evaluate", help="scores on the held-out families")
    evaluate.add_argument("--rules", action="store_true", help="evaluate the rules fallback instead")
    args = parser.parse_args(argv)
    if args.command == "classify":
        return classify(Analyzer.load())
    if args.command == "train":
        from nlp.training import train_with_corrections

        return train_with_corrections(args.corrections, args.min_per_intent)
    return report(evaluated(rules=args.rules))


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


def evaluated(*, rules: bool = False) -> dict[str, Scores]:
    """Scores per language of models trained without the held-out families."""
    train, held_out = dataset.split(dataset.load())
    classifier: Classifier
    if rules:
        classifier = LanguageRouter({lang: RulesClassifier(lang) for lang in MODEL_LANGUAGES})
    else:
        from nlp.classifier import router, train_models
        from nlp.encoder import Encoder

        encoder = Encoder()
        classifier = router(train_models(encoder, train), encoder)
    foreign = dataset.load(dataset.CHECK_ONLY_FILES)
    by_language = {lang: [e for e in held_out if e.lang == lang] for lang in MODEL_LANGUAGES}
    by_language["other languages"] = [e for e in held_out if e.lang not in MODEL_LANGUAGES] + foreign
    return {lang: score(classifier, examples) for lang, examples in by_language.items() if examples}


def report(results: dict[str, Scores]) -> int:
    width = max(map(len, INTENTS))
    for lang, result in results.items():
        print(
            f"\n== {lang}: {result.n} held-out examples ({result.families} families); models: {result.models}"
        )
        print(
            f"intent accuracy {result.accuracy:.3f}   routing accuracy {result.routing:.3f}   "
            f"legitimate called spam {result.legit_as_spam:.2%} (would resolve: "
            f"{result.legit_resolved:.2%})   spam recall {result.spam_recall:.3f} "
            f"(confident: {result.spam_confident_recall:.3f})"
        )
        sweep = (f"{cut}: {legit:.2%} / {spam:.2f}" for cut, (legit, spam) in result.spam_thresholds.items())
        print("spam threshold: legitimate over it / spam recall over it   " + "   ".join(sweep))
        print(f"{'intent'.rjust(width)}     n  precision  recall")
        for intent in INTENTS:
            n, precision, recall = result.per_intent[intent]
            if n or precision is not None:
                shown = "    -    " if precision is None else f"{precision:9.3f}"
                print(f"{intent.rjust(width)} {n:5d} {shown} {recall:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
