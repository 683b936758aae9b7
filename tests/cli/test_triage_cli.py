"""The triage and eval contracts, run as a user would: the installed command in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "comments.jsonl"
CATEGORIES = {"praise", "neutral", "negative", "factual_error", "case_inquiry"}
FLAGS = {"political", "personal_data", "abusive", "urgent"}


def kommentarvakt(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd or ROOT), "PYTHONPATH": str(ROOT)},
    )


def test_triage_prints_one_result_per_comment_in_order() -> None:
    result = kommentarvakt("triage", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    inputs = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [item["id"] for item in inputs]
    for row in rows:
        assert set(row) >= {"id", "category", "flags", "confidence", "language", "suggested_reply"}
        assert row["category"] in CATEGORIES
        assert set(row["flags"]) <= FLAGS and row["flags"] == sorted(row["flags"])
        assert 0 <= row["confidence"] <= 1
        assert isinstance(row["language"], str) and row["language"]


def test_triage_reads_standard_input_and_numbers_records() -> None:
    stdin = '{"text": "Kor tid opnar biblioteket i morgon?"}\n{"text": "Flott arrangement i går!"}\n'
    result = kommentarvakt("triage", "-", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["1", "2"]


def test_triage_reads_csv(tmp_path: Path) -> None:
    path = tmp_path / "comments.csv"
    path.write_text(
        'id,text,post_text\nc1,"Takk for flott innsats, brøytarane!",Brøyting i dag\n', encoding="utf-8"
    )
    result = kommentarvakt("triage", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == "c1"


def test_table_format_shows_every_comment() -> None:
    result = kommentarvakt("triage", str(EXAMPLES), "--format", "table")
    assert result.returncode == 0, result.stderr
    assert "ex-01" in result.stdout and "ex-32" in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"text": "ok"}\n{"text": "broken"\n', "record 2: invalid JSON"),
        ('{"text": "ok"}\n{"id": "x"}\n', "record 2: missing the required field 'text'"),
        ('{"text": 42}\n', "record 1: 'text' must be a string"),
        ('{"text": "ok", "created_time": "yesterday"}\n', "record 1: 'created_time'"),
        ("", "empty"),
        ("[1, 2]\n", "record 1: expected a JSON object"),
    ],
)
def test_bad_input_names_the_record_and_exits_2(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = kommentarvakt("triage", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stdout == ""


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    result = kommentarvakt("triage", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "no such file" in result.stderr
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = kommentarvakt("triage", str(binary))
    assert result.returncode == 2 and "not UTF-8" in result.stderr


def test_skip_invalid_reports_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "Kva tid er det ope?"}\nnot json\n{"text": "Supert!"}\n', encoding="utf-8")
    result = kommentarvakt("triage", str(path), "--skip-invalid")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["1", "3"]
    assert "record 2" in result.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[replies]\nlanguage = "se"\n', encoding="utf-8")
    result = kommentarvakt("triage", str(EXAMPLES), "--config", str(config))
    assert result.returncode == 2
    assert "replies.language" in result.stderr


def test_eval_prints_macro_f1_as_json(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    rows = [
        {"text": "Tusen takk for ein fantastisk konsert!", "label": "praise", "flags": []},
        {"text": "Kva tid opnar symjehallen?", "label": "neutral", "flags": []},
        {
            "text": "Eg vil klage på vedtaket om byggjeløyve for garasjen min",
            "label": "case_inquiry",
            "flags": [],
        },
    ]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    result = kommentarvakt("eval", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0 <= report["macro_f1"] <= 1
    table = kommentarvakt("eval", str(path))
    assert "macro-F1" in table.stdout


def test_eval_rejects_an_unknown_label(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    path.write_text('{"text": "hei", "label": "happy"}\n', encoding="utf-8")
    result = kommentarvakt("eval", str(path))
    assert result.returncode == 2 and "'label' must be one of" in result.stderr


def test_db_upgrade_creates_the_sqlite_database(tmp_path: Path) -> None:
    result = kommentarvakt("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kommentarvakt.db").exists()


def test_db_upgrade_reports_an_unreachable_database(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "postgresql+asyncpg://nobody@127.0.0.1:1/none"\n', encoding="utf-8")
    result = kommentarvakt("db", "upgrade", "--config", str(config))
    assert result.returncode == 2
    assert "database.url" in result.stderr and "cannot connect" in result.stderr
