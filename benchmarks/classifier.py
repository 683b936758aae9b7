"""Benchmark of the embedded classifier: quality, speed, load time, size and memory.

    python benchmarks/classifier.py [--dev data/dev.jsonl] [--model DIR] [--json]

Prints dev macro-F1 with per-category and per-flag F1; NoReC_sentence 3-class test macro-F1 with the
mapping positive -> praise, neutral -> neutral, negative -> negative or factual_error (beside the
published anchors); comments per second in one process on fresh text (batch of 2,000 and one by one,
median of 3 runs, wall clock and CPU time; also a batch in a new process whose memos are empty);
load time as a fresh process sees it (import + load the model + classify the first comment, median
of 3); model size on disk; peak memory. NoReC is looked for at $NOREC_DIR, else at
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


def _speed_comments(dev_path: Path, count: int) -> list[Comment]:
    """`count` labelled comments: dev first, then training rows (their texts, not their labels)."""
    paths = [dev_path, *sorted((ROOT / "data").glob("train_*.jsonl"))]
    comments: list[Comment] = []
    for path in paths:
        if path.is_file():
            comments += [Comment(text=e.text, post_text=e.post_text) for e in read_examples(path)]
        if len(comments) >= count:
            break
    return [Comment(text=c.text, post_text=c.post_text, id=str(i)) for i, c in enumerate(comments[:count])]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def speed(
    classifier: EmbeddedClassifier, dev_path: Path, count: int = 2000, runs: int = 3
) -> dict[str, float]:
    """Comments per second, median of `runs` runs, wall clock and process CPU time.

    Batch: classify_many over `count` fresh comments (every run pads the texts differently, so no
    per-text cache answers; the hashing memo of words seen before does, as in a running bot).
    One by one: classify() on the first 500 of them, fresh the same way.
    Cold: a fresh interpreter classifying comments it has never seen (first batch, empty memos)."""
    comments = _speed_comments(dev_path, count)
    classifier.classify_many(comments[:50])  # warm-up: imports and lazy loads
    rounds = iter(range(1, 10_000))
    result: dict[str, float] = {"comments": len(comments), "runs": runs}
    for name, size, one_by_one in (("batch", len(comments), False), ("one_by_one", 500, True)):
        wall: list[float] = []
        cpu: list[float] = []
        for _ in range(runs):
            fresh = _fresh(comments[:size], next(rounds))
            started, started_cpu = time.perf_counter(), time.process_time()
            if one_by_one:
                for comment in fresh:
                    classifier.classify(comment)
            else:
                classifier.classify_many(fresh)
            wall.append(len(fresh) / (time.perf_counter() - started))
            cpu.append(len(fresh) / max(time.process_time() - started_cpu, 1e-9))
        result[f"comments_per_s_{name}"] = round(_median(wall))
        result[f"comments_per_s_{name}_cpu"] = round(_median(cpu))
        result[f"comments_per_s_{name}_runs"] = [round(x) for x in wall]  # type: ignore[assignment]
    fresh = _fresh(comments[:500], next(rounds))
    started = time.perf_counter()
    for comment in fresh:
        analyse_rules(comment.text, comment.post_text)
    result["rule_detectors_per_s"] = round(len(fresh) / (time.perf_counter() - started))
    return result


_COLD_CODE = """
import json, sys, time
from bot.classifier.embedded import EmbeddedClassifier
from bot.domain import Comment
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()][: int(sys.argv[2])]
comments = [Comment(text=r["text"], post_text=r.get("post_text") or "") for r in rows]
classifier = EmbeddedClassifier(sys.argv[3])
classifier.classify(Comment(text="Takk for god hjelp!"))
started, started_cpu = time.perf_counter(), time.process_time()
classifier.classify_many(comments)
print(len(comments) / (time.perf_counter() - started), len(comments) / (time.process_time() - started_cpu))
"""


def cold_speed(model_dir: Path, runs: int = 3) -> dict[str, float] | None:
    """Batch speed on text no memo has seen: a fresh interpreter, the first 2,000 training comments."""
    train = ROOT / "data" / "train_a.jsonl"
    if not train.is_file():
        return None
    wall, cpu = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _COLD_CODE, str(train), "2000", str(model_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        wall.append(float(out[0]))
        cpu.append(float(out[1]))
    return {
        "comments_per_s_batch_cold": round(_median(wall)),
        "comments_per_s_batch_cold_cpu": round(_median(cpu)),
    }


_LOAD_CODE = """
import time
t0 = time.perf_counter()
from bot.classifier.embedded import EmbeddedClassifier
from bot.domain import Comment
t1 = time.perf_counter()
c = EmbeddedClassifier({model!r})
t2 = time.perf_counter()
c.classify(Comment(text="Takk for god hjelp!"))
t3 = time.perf_counter()
# the high-water mark of this program's memory: VmHWM (ru_maxrss would include the parent's memory
# from before exec, on Linux)
try:
    status = open("/proc/self/status", encoding="ascii").read()
    peak_kb = int(status.split("VmHWM:")[1].split()[0])
except (OSError, IndexError, ValueError):
    import resource
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(t1 - t0, t2 - t1, t3 - t2, peak_kb / 1024)
"""


def cold_load_seconds(model_dir: Path, runs: int = 3) -> dict[str, float]:
    """Fresh interpreter: import + load the model + classify the first comment (median of `runs`);
    also the peak memory of such a process."""
    measured = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_CODE.format(model=str(model_dir))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        measured.append(tuple(float(x) for x in out))
    totals = [sum(m[:3]) for m in measured]
    middle = measured[totals.index(_median(totals))]
    return {
        "load_total_s": round(_median(totals), 3),
        "load_total_s_runs": [round(t, 3) for t in totals],  # type: ignore[dict-item]
        "import_s": round(middle[0], 3),
        "model_load_s": round(middle[1], 3),
        "first_classify_s": round(middle[2], 3),
        "peak_rss_mb_after_first_comment": round(middle[3], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dev", default=str(ROOT / "data" / "dev.jsonl"))
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--comments", type=int, default=2000, help="comments per batch speed run")
    args = parser.parse_args(argv)
    model_dir, dev_path = Path(args.model), Path(args.dev)

    classifier = EmbeddedClassifier(model_dir)
    results: dict[str, Any] = {"model_version": classifier.version}
    results["dev"] = dev_quality(classifier, dev_path) if dev_path.is_file() else None
    results["norec"] = norec_quality(classifier)
    results["speed"] = speed(classifier, dev_path, args.comments) if dev_path.is_file() else None
    if results["speed"] is not None:
        results["speed"].update(cold_speed(model_dir) or {})
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
        print(f"flag micro-F1: {dev['flag_micro_f1']:.3f}")
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
        print(f"\n== speed (one process, fresh text, median of {s['runs']} runs; wall clock / CPU time) ==")
        print(
            f"batch of {s['comments']}:  {s['comments_per_s_batch']:>6} / {s['comments_per_s_batch_cpu']:>6} "
            f"comments/s   (runs: {s['comments_per_s_batch_runs']})"
        )
        print(
            f"one by one:      {s['comments_per_s_one_by_one']:>6} / {s['comments_per_s_one_by_one_cpu']:>6} "
            f"comments/s   (runs: {s['comments_per_s_one_by_one_runs']})"
        )
        if "comments_per_s_batch_cold" in s:
            print(
                f"batch, cold (new process, unseen words): {s['comments_per_s_batch_cold']} / "
                f"{s['comments_per_s_batch_cold_cpu']} comments/s"
            )
        print(f"rule detectors alone: {s['rule_detectors_per_s']} comments/s")
    load = results["load"]
    print("\n== load (fresh interpreter: import + model + first comment, median of 3) ==")
    print(
        f"total {load['load_total_s']:.3f} s (runs {load['load_total_s_runs']}): "
        f"import {load['import_s']:.3f} s, model load {load['model_load_s']:.3f} s, "
        f"first classify {load['first_classify_s']:.3f} s"
    )
    print(f"\nmodel size on disk: {results['model_bytes'] / 1e6:.2f} MB")
    print(
        f"peak memory (RSS): {load['peak_rss_mb_after_first_comment']} MB in a process that loaded the model "
        f"and classified one comment; {results['peak_rss_mb']} MB in this benchmark process"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
