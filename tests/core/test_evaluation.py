"""Metrics on a small example computed by hand."""

from __future__ import annotations

import json

import pytest

from bot.domain import Category, Classification, Flag
from bot.evaluation import CATEGORIES, evaluate


def _pred(category: str, *flags: str) -> Classification:
    return Classification(Category(category), frozenset(Flag(f) for f in flags), confidence=0.9)


GOLD = [
    ("praise", []),
    ("praise", ["political"]),
    ("neutral", []),
    ("negative", ["abusive"]),
    ("negative", []),
    ("case_inquiry", ["personal_data"]),
]
PREDICTED = [
    _pred("praise"),
    _pred("neutral", "political"),
    _pred("neutral"),
    _pred("negative", "abusive", "urgent"),
    _pred("praise"),
    _pred("case_inquiry"),
]


def test_category_metrics_by_hand() -> None:
    report = evaluate(GOLD, PREDICTED)
    # praise: tp 1, gold 2, predicted 2 -> p 0.5, r 0.5, f1 0.5
    assert report.categories["praise"].precision == pytest.approx(0.5)
    assert report.categories["praise"].recall == pytest.approx(0.5)
    assert report.categories["praise"].f1 == pytest.approx(0.5)
    # neutral: tp 1, gold 1, predicted 2 -> p 0.5, r 1, f1 2/3
    assert report.categories["neutral"].f1 == pytest.approx(2 / 3)
    # negative: tp 1, gold 2, predicted 1 -> p 1, r 0.5, f1 2/3
    assert report.categories["negative"].precision == pytest.approx(1.0)
    assert report.categories["negative"].recall == pytest.approx(0.5)
    # case_inquiry: perfect; factual_error: absent from gold and predictions, left out of the macro mean
    assert report.categories["case_inquiry"].f1 == pytest.approx(1.0)
    assert report.categories["factual_error"].support == 0
    assert report.macro_f1 == pytest.approx((0.5 + 2 / 3 + 2 / 3 + 1.0) / 4)
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.categories["praise"].support == 2


def test_confusion_rows_are_gold_columns_predicted() -> None:
    report = evaluate(GOLD, PREDICTED)
    index = {name: i for i, name in enumerate(CATEGORIES)}
    assert report.confusion[index["praise"]][index["neutral"]] == 1
    assert report.confusion[index["negative"]][index["praise"]] == 1
    assert sum(map(sum, report.confusion)) == len(GOLD)


def test_flag_metrics_by_hand() -> None:
    report = evaluate(GOLD, PREDICTED)
    assert report.flags["political"].f1 == pytest.approx(1.0)
    assert report.flags["abusive"].f1 == pytest.approx(1.0)
    # personal_data: gold 1, predicted 0 -> recall 0, f1 0
    assert report.flags["personal_data"].recall == 0.0
    assert report.flags["personal_data"].f1 == 0.0
    # urgent: gold 0, predicted 1 -> precision 0
    assert report.flags["urgent"].precision == 0.0
    assert report.flags["urgent"].predicted == 1


def test_to_dict_is_json_and_table_is_readable() -> None:
    report = evaluate(GOLD, PREDICTED)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["macro_f1"] == round(report.macro_f1, 4)
    assert set(data["categories"]) == set(CATEGORIES)
    assert data["confusion"]["labels"] == list(CATEGORIES)
    table = report.format_table()
    assert "macro-F1" in table and "case_inquiry" in table and "confusion" in table


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="gold"):
        evaluate(GOLD, PREDICTED[:-1])


def test_empty_input() -> None:
    report = evaluate([], [])
    assert report.total == 0 and report.macro_f1 == 0.0
