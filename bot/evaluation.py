"""Scoring a classifier against labelled comments: per-category and per-flag metrics, macro-F1, confusion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain import Category, Classification, Flag

CATEGORIES: tuple[str, ...] = tuple(category.value for category in Category)
FLAGS: tuple[str, ...] = tuple(sorted(flag.value for flag in Flag))

Gold = tuple[str | Category, Iterable[str | Flag]]


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision, recall and F1 of one class, with its support (gold count)."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.support,
            "predicted": self.predicted,
        }


def _scores(true_positive: int, gold: int, predicted: int) -> Scores:
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, gold, predicted)


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Everything `kommentarvakt eval` prints."""

    total: int
    accuracy: float
    macro_f1: float
    categories: dict[str, Scores]
    flags: dict[str, Scores]
    confusion: list[list[int]]  # rows: gold category, columns: predicted, in CATEGORIES order
    labels: tuple[str, ...] = CATEGORIES
    flag_micro_f1: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "categories": {name: s.to_dict() for name, s in self.categories.items()},
            "flags": {name: s.to_dict() for name, s in self.flags.items()},
            "flag_micro_f1": round(self.flag_micro_f1, 4),
            "confusion": {
                "labels": list(self.labels),
                "rows_gold_cols_predicted": [list(row) for row in self.confusion],
            },
            **self.extra,
        }

    def format_table(self) -> str:
        lines = [
            f"comments: {self.total}   accuracy: {self.accuracy:.3f}   macro-F1: {self.macro_f1:.3f}",
            "",
        ]
        lines.append(f"{'category':<15}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}")
        for name, s in self.categories.items():
            lines.append(f"{name:<15}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>10}")
        lines.append("")
        lines.append(f"{'flag':<15}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}")
        for name, s in self.flags.items():
            lines.append(f"{name:<15}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>10}")
        lines.append("")
        short = [label[:8] for label in self.labels]
        lines.append("confusion (rows: gold, columns: predicted)")
        lines.append(f"{'':<15}" + "".join(f"{name:>10}" for name in short))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<15}" + "".join(f"{count:>10}" for count in row))
        return "\n".join(lines)


def _flag_names(flags: Iterable[str | Flag]) -> set[str]:
    return {str(Flag(flag).value) for flag in flags}


def evaluate(gold: Sequence[Gold], predicted: Sequence[Classification]) -> EvalReport:
    """Score `predicted` against `gold` [(category, flags), ...], pairwise in order."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    index = {label: i for i, label in enumerate(CATEGORIES)}
    confusion = [[0] * len(CATEGORIES) for _ in CATEGORIES]
    flag_counts = {name: [0, 0, 0] for name in FLAGS}  # true positive, gold, predicted
    for (gold_category, gold_flags), prediction in zip(gold, predicted, strict=True):
        confusion[index[Category(gold_category).value]][index[prediction.category.value]] += 1
        wanted, got = _flag_names(gold_flags), _flag_names(prediction.flags)
        for name in FLAGS:
            counts = flag_counts[name]
            counts[0] += name in wanted and name in got
            counts[1] += name in wanted
            counts[2] += name in got
    categories = {
        label: _scores(confusion[i][i], sum(confusion[i]), sum(row[i] for row in confusion))
        for i, label in enumerate(CATEGORIES)
    }
    flags = {name: _scores(*counts) for name, counts in flag_counts.items()}
    total = len(gold)
    present = [s.f1 for s in categories.values() if s.support or s.predicted]
    micro = _scores(*(sum(c[k] for c in flag_counts.values()) for k in range(3)))
    return EvalReport(
        total=total,
        accuracy=sum(confusion[i][i] for i in range(len(CATEGORIES))) / total if total else 0.0,
        macro_f1=sum(present) / len(present) if present else 0.0,
        categories=categories,
        flags=flags,
        confusion=confusion,
        flag_micro_f1=micro.f1,
    )
