"""How the classifier does on comments unlike the ones it learnt from.

    python benchmarks/generalisation.py [--files train_c,train_h] [--json]

Each file of data/train_*.jsonl is scored by a model trained on all the other training files (plus
NoReC_sentence when present, as the shipped model is), and the dev split by a model trained on every
training file. The files differ in topics, municipalities, languages and styles, so a file held out is
a stand-in for comments written by other people. Prints macro-F1 per held-out file and the mean over
the training files. Trains one model per file: a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.classifier.embedded import EmbeddedClassifier  # noqa: E402
from bot.classifier.train_cli import DATA_DIR, NOREC_TRAINING_SPLITS, TRAIN_GLOB, norec_dir  # noqa: E402
from bot.classifier.training import read_examples, save, train_model  # noqa: E402
from bot.domain import Comment  # noqa: E402
from bot.evaluation import evaluate  # noqa: E402


def score(model_dir: str, held_out: Path) -> float:
    """Category macro-F1 of the model in `model_dir` on a labelled file, as `kommentarvakt eval`."""
    examples = read_examples(held_out)
    comments = [Comment(text=ex.text, post_text=ex.post_text) for ex in examples]
    predicted = EmbeddedClassifier(model_dir).classify_many(comments)
    return evaluate([(ex.label, ex.flags) for ex in examples], predicted).macro_f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="", help="comma-separated stems to hold out (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    train_files = sorted(DATA_DIR.glob(TRAIN_GLOB))
    wanted = [*(path.stem for path in train_files), "dev"]
    if args.files:
        wanted = [stem for stem in wanted if stem in args.files.split(",")]
    norec = norec_dir()
    corpora = [norec / split for split in NOREC_TRAINING_SPLITS] if norec else []
    results: dict[str, float] = {}
    for stem in wanted:
        held_out = DATA_DIR / f"{stem}.jsonl"
        training = [path for path in train_files if path != held_out]
        with tempfile.TemporaryDirectory() as model_dir:
            save(train_model(training, corpora), model_dir)
            results[stem] = round(score(model_dir, held_out), 4)
        if not args.json:
            print(f"{stem:<10} held out: macro-F1 {results[stem]:.3f}", flush=True)
    held = [value for stem, value in results.items() if stem != "dev"]
    mean = round(sum(held) / len(held), 4) if held else None
    if args.json:
        print(json.dumps({"held_out": results, "mean_over_training_files": mean}))
    elif mean is not None:
        print(f"mean over the training files held out: {mean:.3f}")


if __name__ == "__main__":
    main()
