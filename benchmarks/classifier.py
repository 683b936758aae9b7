"""Benchmark of the embedded classifier: quality, speed, load time, size and memory.

    python benchmarks/classifier.py [--dev data/dev.jsonl] [--model DIR] [--json]

Prints dev macro-F1 with per-category and per-flag F1; NoReC_sentence 3-class test macro-F1 with the
mapping positive -> praise, neutral -> neutral, negative -> negative or factual_error (beside the
published anchors); comments per second in one process (batch and one by one); cold model load time
(in a fresh subprocess); model size on disk; peak memory. NoReC is looked for at $NOREC_DIR, else at
../shared/data/norec_sentence relative to the repository root; without it that part is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.classifier.embedded import DEFAULT_MODEL_DIR, EmbeddedClassifier  # noqa: E402
from bot.classifier.features import analyse_rules  # noqa: E402
from bot.classifier.train_cli import norec_dir  # noqa: E402
from bot.classifier.training import POLARITIES, read_examples  # noqa: E402
from bot.domain import Comment  # noqa: E402
from bot.evaluation import evaluate  # noqa: E402

NOREC_ANCHORS = {
    "NorBERT3-large": 78.4,
    "NB-BERT-large": 77.5,
    "XLM-R-large": 75.4,
    "NorBERT3-base": 74.4,
    "mBERT": 62.7,
}
NOREC_TO_CATEGORY = {"positive": "praise", "neutral": "neutral", "negative": "negative"}
CATEGORY_TO_NOREC = {
    "praise": "positive",
    "neutral": "neutral",
    "negative": "negative",
    "factual_error": "negative",
}


def macro_f1(gold: list[str], predicted: list[str], labels: tuple[str, ...]) -> float:
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        n_gold, n_pred = gold.count(label), predicted.count(label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def dev_quality(classifier: EmbeddedClassifier, dev_path: Path) -> dict[str, Any]:
    examples = read_examples(dev_path)
    comments = [Comment(text=e.text, post_text=e.post_text, id=str(i)) for i, e in enumerate(examples)]
    predicted = classifier.classify_many(comments)
    report = evaluate([(e.label, e.flags) for e in examples], predicted)
    by_language: dict[str, list[bool]] = {}
    for e, p in zip(examples, predicted, strict=True):
        group = e.language if e.language in ("nn", "nb", "en") else "other"
        by_language.setdefault(group, []).append(p.category.value == e.label)
    result = report.to_dict()
    result["accuracy_by_language"] = {k: round(sum(v) / len(v), 4) for k, v in sorted(by_language.items())}
    result["table"] = report.format_table()
    return result


def norec_quality(classifier: EmbeddedClassifier, split: str = "test") -> dict[str, Any] | None:
    directory = norec_dir()
    if directory is None or not (directory / f"{split}.json").is_file():
        return None
    examples = read_examples(directory / f"{split}.json")
    gold = [e.label for e in examples]
    comments = [Comment(text=e.text, id=str(i)) for i, e in enumerate(examples)]
    predicted = classifier.classify_many(comments)
    full = [CATEGORY_TO_NOREC.get(p.category.value, "other") for p in predicted]
    # the polarity head alone (the sentiment signal the category model reads)
    head = classifier.polarity([e.text for e in examples])
    head_labels = [POLARITIES[int(i)] for i in head.argmax(axis=1)]
    return {
        "split": split,
        "sentences": len(examples),
        "macro_f1": round(macro_f1(gold, full, POLARITIES), 4),
        "macro_f1_polarity_head": round(macro_f1(gold, head_labels, POLARITIES), 4),
        "predicted_case_inquiry": sum(label == "other" for label in full),
        "anchors": NOREC_ANCHORS,
    }


def _fresh(comments: list[Comment], round_no: int) -> list[Comment]:
    """The same comments made distinct for every round (trailing spaces), so that no cache in the rule
    detectors or the language detector answers from an earlier round: every comment is new text."""
    pad = " " * round_no
    return [Comment(text=c.text + pad, post_text=c.post_text, id=c.id) for c in comments]


def speed(classifier: EmbeddedClassifier, dev_path: Path, seconds: float = 3.0) -> dict[str, float]:
    examples = read_examples(dev_path)
    comments = [Comment(text=e.text, post_text=e.post_text, id=str(i)) for i, e in enumerate(examples)]
    classifier.classify_many(comments[:50])  # warm-up
    rounds = iter(range(1, 10_000))
    batch_count, batch_time = 0, 0.0
    while batch_time < seconds:
        fresh = _fresh(comments, next(rounds))
        started = time.perf_counter()
        classifier.classify_many(fresh)
        batch_time += time.perf_counter() - started
        batch_count += len(fresh)
    single_count, single_time = 0, 0.0
    while single_time < seconds:
        for comment in _fresh(comments, next(rounds)):
            started = time.perf_counter()
            classifier.classify(comment)
            single_time += time.perf_counter() - started
            single_count += 1
            if single_time >= seconds:
                break
    fresh = _fresh(comments, next(rounds))
    started = time.perf_counter()
    for comment in fresh:
        analyse_rules(comment.text, comment.post_text)
    rules_rate = len(fresh) / (time.perf_counter() - started)
    return {
        "comments_per_s_batch": round(batch_count / batch_time),
        "comments_per_s_one_by_one": round(single_count / single_time),
        "rule_detectors_per_s": round(rules_rate),
    }


def cold_load_seconds(model_dir: Path) -> dict[str, float]:
    """Import + load + first classification, in a fresh interpreter (best of three)."""
    code = (
        "import time; t0 = time.perf_counter();"
        "from bot.classifier.embedded import EmbeddedClassifier; from bot.domain import Comment;"
        "t1 = time.perf_counter();"
        f"c = EmbeddedClassifier({str(model_dir)!r}); t2 = time.perf_counter();"
        "c.classify(Comment(text='Takk for god hjelp!')); t3 = time.perf_counter();"
        "print(t1 - t0, t2 - t1, t3 - t2)"
    )
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        runs.append(tuple(float(x) for x in out))
    best = min(runs, key=lambda r: r[1])
    return {
        "import_s": round(best[0], 3),
        "model_load_s": round(best[1], 3),
        "first_classify_s": round(best[2], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dev", default=str(ROOT / "data" / "dev.jsonl"))
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per speed measurement")
    args = parser.parse_args(argv)
    model_dir, dev_path = Path(args.model), Path(args.dev)

    classifier = EmbeddedClassifier(model_dir)
    results: dict[str, Any] = {"model_version": classifier.version}
    results["dev"] = dev_quality(classifier, dev_path) if dev_path.is_file() else None
    results["norec"] = norec_quality(classifier)
    results["speed"] = speed(classifier, dev_path, args.seconds) if dev_path.is_file() else None
    results["load"] = cold_load_seconds(model_dir)
    results["model_bytes"] = sum(f.stat().st_size for f in model_dir.iterdir() if f.is_file())
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    if args.json:
        dev = results["dev"]
        if dev:
            dev.pop("table", None)
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    print(f"model {results['model_version']} ({model_dir})")
    if results["dev"]:
        dev = results["dev"]
        print(f"\n== dev ({dev_path}) ==")
        print(dev["table"])
        print("accuracy by language:", dev["accuracy_by_language"])
    else:
        print(f"\n== dev: {dev_path} not found, skipped ==")
    norec = results["norec"]
    if norec:
        print(f"\n== NoReC_sentence 3-class {norec['split']} ({norec['sentences']} sentences) ==")
        print(f"macro-F1 (full classifier, mapped): {100 * norec['macro_f1']:.1f}")
        print(f"macro-F1 (polarity head alone):     {100 * norec['macro_f1_polarity_head']:.1f}")
        print("published anchors: " + ", ".join(f"{k} {v}" for k, v in NOREC_ANCHORS.items()))
    else:
        print(
            "\n== NoReC_sentence: not found at $NOREC_DIR or ../shared/data/norec_sentence; skipped ==",
        )
    if results["speed"]:
        s = results["speed"]
        print("\n== speed (one process) ==")
        print(f"batch:      {s['comments_per_s_batch']:>8} comments/s")
        print(f"one by one: {s['comments_per_s_one_by_one']:>8} comments/s")
        print(f"rule detectors alone: {s['rule_detectors_per_s']} comments/s")
    load = results["load"]
    print("\n== load (cold, fresh interpreter, best of 3) ==")
    print(
        f"import {load['import_s']:.3f} s, model load {load['model_load_s']:.3f} s, "
        f"first classify {load['first_classify_s']:.3f} s"
    )
    print(f"\nmodel size on disk: {results['model_bytes'] / 1e6:.2f} MB")
    print(f"peak memory (RSS): {results['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
