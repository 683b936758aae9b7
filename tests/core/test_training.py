"""Training on a tiny sample: reproducible to the byte, loads, predicts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bot.classifier.embedded import EmbeddedClassifier
from bot.classifier.train_cli import run_train
from bot.classifier.training import META_FILE, MODEL_FILE, load, read_examples, save, train_model
from bot.domain import Category, Comment

POST = "Symjehallen opnar 1. september. Opningstider: måndag til fredag kl. 07-21."
ROWS = [
    ("Tusen takk, de er fantastiske! 👏", "praise", []),
    ("Så flott, endeleg! Godt jobba alle saman", "praise", []),
    ("Heilt supert tilbod, takk til kommunen ❤️", "praise", []),
    ("Kva kostar eit årskort?", "neutral", []),
    ("Kor parkerer ein?", "neutral", []),
    ("@Kari Nordmann sjå her", "neutral", []),
    ("Dette er heilt håplaust, for ein skandale", "negative", []),
    ("Takk for ingenting 🙄 typisk kommunen", "negative", []),
    ("Elendig planlegging igjen, skammeleg", "negative", ["political"]),
    ("Hallen opnar jo 1. oktober, ikkje september", "factual_error", []),
    ("Det er jo stengt på måndagar, det veit alle", "factual_error", []),
    ("Eg har høyrt at dei legg ned hallen til jul", "factual_error", []),
    (
        "Eg søkte om fritak i mars og har ikkje fått svar. Kan de sjekke saka mi?",
        "case_inquiry",
        ["personal_data"],
    ),
    ("Eg klagar på vedtaket om avslag, saksnr 24/1234", "case_inquiry", []),
    ("Kan eg få innsyn i kontrakten med entreprenøren?", "case_inquiry", []),
]


def _write_sample(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train_a.jsonl", ROWS), ("train_b.jsonl", ROWS[::-1])):
        with (directory / name).open("w", encoding="utf-8") as handle:
            for i, (text, label, flags) in enumerate(rows):
                record = {
                    "id": f"{name}-{i}",
                    "text": text,
                    "post_text": POST,
                    "label": label,
                    "flags": flags,
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    corpus = [
        {"sent_id": "1", "text": "Dette var ein strålande film.", "label": "Positive"},
        {"sent_id": "2", "text": "Boka er kjedeleg og altfor lang.", "label": "Negative"},
        {"sent_id": "3", "text": "Filmen varer i to timar.", "label": "Neutral"},
        {"sent_id": "4", "text": "Maten var nydeleg og servicen god.", "label": "Positive"},
        {"sent_id": "5", "text": "Ein skuffande og dårleg plate.", "label": "Negative"},
        {"sent_id": "6", "text": "Restauranten ligg i sentrum.", "label": "Neutral"},
    ]
    (directory / "sentiment.json").write_text(json.dumps(corpus, ensure_ascii=False), encoding="utf-8")
    return directory


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_is_byte_identical_and_loads(tmp_path: Path) -> None:
    data = _write_sample(tmp_path / "data")
    first = run_train(tmp_path / "m1", [data / "sentiment.json"], data_dir=data, use_norec=False)
    second = run_train(tmp_path / "m2", [data / "sentiment.json"], data_dir=data, use_norec=False)
    for name in (MODEL_FILE, META_FILE):
        assert _sha(tmp_path / "m1" / name) == _sha(tmp_path / "m2" / name)
    assert first["model_sha256"] == second["model_sha256"]
    assert first["version"].startswith("embedded-2026.11-")
    assert first["version"].endswith(first["data_sha256"][:8])
    assert first["examples"]["comments"] == 2 * len(ROWS)
    assert first["examples"]["corpus_sentences"] == 6

    classifier = EmbeddedClassifier(tmp_path / "m1")
    assert classifier.version == first["version"]
    results = classifier.classify_many(
        [Comment(text="Tusen takk, fantastisk!", post_text=POST), Comment(text="Kan de sjekke saka mi?")]
    )
    assert results[0].category is Category.PRAISE
    assert all(0.0 <= r.confidence <= 1.0 for r in results)
    assert set(results[0].scores) == {c.value for c in Category}
    assert sum(results[0].scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_other_data_gives_another_version(tmp_path: Path) -> None:
    data = _write_sample(tmp_path / "data")
    base = run_train(tmp_path / "m1", data_dir=data, use_norec=False)
    feedback = [{"text": "Heilt greitt", "post_text": "", "label": "neutral", "flags": []}]
    more = run_train(tmp_path / "m2", include_feedback_rows=feedback, data_dir=data, use_norec=False)
    assert base["version"] != more["version"]
    assert more["examples"]["comments"] == base["examples"]["comments"] + 1


def test_save_load_roundtrip_keeps_weights(tmp_path: Path) -> None:
    data = _write_sample(tmp_path / "data")
    artifact = train_model([data / "train_a.jsonl"], [data / "sentiment.json"])
    save(artifact, tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.version == artifact.version
    assert np.allclose(loaded.category_text, artifact.category_text, atol=2e-3)
    assert np.allclose(loaded.category_dense, artifact.category_dense, atol=1e-6)
    assert loaded.flag_thresholds == pytest.approx(artifact.flag_thresholds, abs=1e-4)
    stored = (tmp_path / "model" / MODEL_FILE).read_bytes()
    assert b"pickle" not in stored[:200]


def test_read_examples_reads_jsonl_and_json_lists(tmp_path: Path) -> None:
    data = _write_sample(tmp_path / "data")
    assert read_examples(data / "train_a.jsonl")[0].label == "praise"
    assert [e.label for e in read_examples(data / "sentiment.json")][:3] == [
        "positive",
        "negative",
        "neutral",
    ]
