"""The `kommentarvakt` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

import click

from bot.config import Settings, load_settings
from bot.errors import KommentarvaktError

EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    click.echo(f"kommentarvakt: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def reports_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our own errors into one clear line on stderr and exit status 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except KommentarvaktError as error:
            fail(str(error))

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $KOMMENTARVAKT_CONFIG, else ./config.toml).",
)


def settings_from(config_path: str | None, *, required: bool = False) -> Settings:
    return load_settings(config_path, required=required)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kommentarvakt")
@click.option("--log-level", default="WARNING", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
def main(log_level: str) -> None:
    """Kommentarvakt: triage and follow-up of comments on a municipality's social media pages."""
    from bot.logs import configure_logging

    configure_logging(log_level)


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format", "output_format", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True
)
@click.option("--skip-invalid", is_flag=True, help="Report invalid records on stderr and go on.")
@config_option
@reports_errors
def triage(file: str | None, output_format: str, skip_invalid: bool, config_path: str | None) -> None:
    """Classify comments from a JSONL or CSV FILE (or standard input) and suggest replies."""
    from bot.commands.triage import run_triage

    sys.exit(run_triage(file, output_format, skip_invalid, settings_from(config_path)))


@main.command(name="eval")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with macro_f1).")
@config_option
@reports_errors
def eval_command(file: str, as_json: bool, config_path: str | None) -> None:
    """Score the classifier on a labelled JSONL FILE."""
    from bot.commands.triage import run_eval

    report = run_eval(file, settings_from(config_path))
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False) if as_json else report.format_table())


@main.command()
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write the model (default: the model shipped in the package).",
)
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Extra labelled JSONL corpus to train on (repeatable).",
)
@click.option("--include-feedback", is_flag=True, help="Also learn from moderators' reclassifications.")
@config_option
@reports_errors
def train(
    output: str | None, corpora: tuple[str, ...], include_feedback: bool, config_path: str | None
) -> None:
    """Rebuild the embedded classifier from data/ reproducibly."""
    from bot.commands.train import run_train_command

    summary = run_train_command(output, list(corpora), include_feedback, settings_from(config_path))
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@config_option
@reports_errors
def upgrade(config_path: str | None) -> None:
    """Apply database migrations."""
    from bot.commands.database import upgrade_database

    settings = settings_from(config_path)
    run_async(upgrade_database(settings))
    click.echo(f"database is up to date ({_safe_url(settings.database.url)})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _logging_quiet() -> None:
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
