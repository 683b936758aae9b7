"""What `kommentarvakt train` runs: rebuild the embedded model reproducibly from data/ and a corpus."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.classifier.training import (
    META_FILE,
    MODEL_FILE,
    read_examples,
    save,
    train_model,
)
from bot.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
TRAIN_GLOB = "train_*.jsonl"  # train_a.jsonl, train_b.jsonl, ...; never dev.jsonl
NOREC_ENV = "NOREC_DIR"
NOREC_TRAINING_SPLITS = ("train.json", "dev.json")  # never test: it is the benchmark


def norec_dir() -> Path | None:
    """NoReC_sentence: $NOREC_DIR, else ../shared/data/norec_sentence beside the repository."""
    candidates = [Path(os.environ[NOREC_ENV])] if os.environ.get(NOREC_ENV) else []
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "norec_sentence")
    for candidate in candidates:
        if (candidate / "3class" / "train.json").is_file():
            return candidate / "3class"
        if (candidate / "train.json").is_file():
            return candidate
    return None


def default_output_dir() -> Path:
    from bot.classifier.embedded import DEFAULT_MODEL_DIR

    return DEFAULT_MODEL_DIR


def _split_corpora(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Extra files labelled with comment categories train the category model; sentiment-labelled files
    (positive/neutral/negative) the polarity head."""
    comments, sentiment = [], []
    for path in paths:
        labels = {ex.label for ex in read_examples(path)}
        if "positive" in labels and not labels & {"praise", "factual_error", "case_inquiry"}:
            sentiment.append(Path(path))
        else:
            comments.append(Path(path))
    return comments, sentiment


def run_train(
    output_dir: str | Path | None = None,
    extra_corpora: Sequence[str | Path] = (),
    include_feedback_rows: Sequence[dict[str, Any]] = (),
    *,
    data_dir: str | Path | None = None,
    use_norec: bool = True,
) -> dict[str, Any]:
    """Train on data/train_*.jsonl (+ NoReC train/dev when found, + extra corpora and feedback) and save.

    Same inputs give a byte-identical model. Returns a JSON-able summary.
    """
    started = time.perf_counter()
    data = Path(data_dir) if data_dir else DATA_DIR
    train_paths = sorted(data.glob(TRAIN_GLOB))
    if not train_paths:
        raise InputError(f"no training data: no {TRAIN_GLOB} in {data}")
    extra_comments, sentiment = _split_corpora(extra_corpora)
    norec = norec_dir() if use_norec else None
    if norec is not None:
        sentiment = [*(norec / split for split in NOREC_TRAINING_SPLITS), *sentiment]
    artifact = train_model(
        [*train_paths, *extra_comments], sentiment, include_feedback_rows=list(include_feedback_rows)
    )
    output = Path(output_dir) if output_dir else default_output_dir()
    save(artifact, output)
    model_bytes = (output / MODEL_FILE).read_bytes()
    return {
        "output": str(output),
        "version": artifact.version,
        "data_sha256": artifact.data_hash,
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "model_bytes": len(model_bytes) + (output / META_FILE).stat().st_size,
        "train_files": [str(p) for p in [*train_paths, *extra_comments]],
        "sentiment_corpora": [str(p) for p in sentiment],
        "norec": str(norec)
        if norec
        else "not found (set $NOREC_DIR); polarity head trained on our comments only",
        "feedback_rows": len(include_feedback_rows),
        "examples": artifact.counts,
        "seconds": round(time.perf_counter() - started, 1),
    }
