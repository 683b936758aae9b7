"""`kommentarvakt triage` and `kommentarvakt eval`: the offline path, no database and no network."""

from __future__ import annotations

import json
import sys

import click

from bot.config import Settings
from bot.evaluation import EvalReport, evaluate
from bot.importer import read_records
from bot.triage import Assessment, Triager


def build_triager(settings: Settings) -> Triager:
    from bot.classifier.factory import load_classifier
    from bot.replies import ReplyComposer

    composer = ReplyComposer(
        settings.replies,
        settings.fact_list,
        settings.matter_list,
        templates_path=settings.replies.templates_path or None,
    )
    return Triager(load_classifier(settings), composer)


def result_row(assessment: Assessment) -> dict[str, object]:
    """One output object of the triage contract."""
    classification = assessment.classification
    return {
        "id": assessment.comment.id,
        "category": classification.category.value,
        "flags": classification.sorted_flags,
        "confidence": round(classification.confidence, 4),
        "language": classification.language,
        "suggested_reply": assessment.reply.text,
    }


def run_triage(path: str | None, output_format: str, skip_invalid: bool, settings: Settings) -> int:
    """Print one result per valid record in input order. Returns the exit status."""
    records, errors = read_records(path, skip_invalid=skip_invalid)
    for error in errors:
        click.echo(f"kommentarvakt: skipped: {error}", err=True)
    triager = build_triager(settings)
    assessments = triager.assess_many([record.comment for record in records])
    if output_format == "table":
        print_table(assessments)
    else:
        out = sys.stdout
        for assessment in assessments:
            out.write(json.dumps(result_row(assessment), ensure_ascii=False) + "\n")
        out.flush()
    return 0


def print_table(assessments: list[Assessment]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True, expand=True)
    for name in ("id", "comment", "category", "flags", "conf.", "lang", "suggested reply"):
        table.add_column(name, overflow="fold")
    for assessment in assessments:
        row = result_row(assessment)
        table.add_row(
            str(row["id"]),
            assessment.comment.text,
            str(row["category"]),
            ", ".join(row["flags"]),  # type: ignore[arg-type]
            f"{row['confidence']:.2f}",
            str(row["language"]),
            row["suggested_reply"] or "(ikkje svar – sjå notat)",  # type: ignore[arg-type]
        )
    Console(width=max(120, Console().width)).print(table)


def run_eval(path: str, settings: Settings) -> EvalReport:
    records, _ = read_records(path, labelled=True)
    from bot.classifier.factory import load_classifier

    classifier = load_classifier(settings)
    predicted = classifier.classify_many([record.comment for record in records])
    gold = [(record.label, record.flags or frozenset()) for record in records]
    return evaluate(gold, predicted)  # type: ignore[arg-type]
