"""The `kommentarvakt` command line."""

from __future__ import annotations

import asyncio
import json
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


@main.command()
@config_option
@reports_errors
def run(config_path: str | None) -> None:
    """Run the bot: Slack app, HTTP server (webhooks, health, metrics), outbox and scheduler."""
    import os

    from bot.app import run_bot

    os.environ.setdefault("KOMMENTARVAKT_LOG_FORMAT", "json")
    run_async(run_bot(settings_from(config_path, required=True)))


@main.command()
@click.option(
    "--backfill-days",
    type=click.IntRange(min=1),
    default=None,
    help="Also fetch comments from the last N days, not only since the last sync.",
)
@click.option("--no-slack", is_flag=True, help="Store and classify only; post the tasks to Slack later.")
@config_option
@reports_errors
def sync(backfill_days: int | None, no_slack: bool, config_path: str | None) -> None:
    """One ingest pass over every configured page; prints a summary and exits."""
    from bot.commands.sync import run_sync

    summary = run_async(
        run_sync(settings_from(config_path, required=True), backfill_days, post_to_slack=not no_slack)
    )
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    if summary.get("failed_pages"):
        sys.exit(1)


@main.command()
@click.option("--send", is_flag=True, help="Send the digest to Slack instead of printing it.")
@click.option("--print", "print_", is_flag=True, help="Print the digest in the terminal (the default).")
@config_option
@reports_errors
def digest(send: bool, print_: bool, config_path: str | None) -> None:
    """Print (or send to Slack) the overdue digest."""
    from bot.commands.followup import run_digest

    click.echo(run_async(run_digest(settings_from(config_path), send=send)))


@main.command()
@config_option
@reports_errors
def purge(config_path: str | None) -> None:
    """Apply the retention policy: delete comment text and author data of old closed tasks."""
    from bot.commands.followup import run_purge

    click.echo(json.dumps(run_async(run_purge(settings_from(config_path))), ensure_ascii=False))


@main.command()
@click.option("--author-id", required=True, help="The platform's id of the person whose data is erased.")
@click.option(
    "--platform",
    type=click.Choice(["facebook", "instagram", "file"]),
    default=None,
    help="Only on this platform (default: all).",
)
@config_option
@reports_errors
def erase(author_id: str, platform: str | None, config_path: str | None) -> None:
    """Erase a data subject's comments and name (right to erasure)."""
    from bot.commands.followup import run_erase

    click.echo(
        json.dumps(run_async(run_erase(settings_from(config_path), author_id, platform)), ensure_ascii=False)
    )


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command(name="export")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option(
    "--format", "output_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@config_option
@reports_errors
def audit_export(since: Any, output_format: str, config_path: str | None) -> None:
    """Export audit events since a date (documentation duty, transparency log of hidden comments)."""
    from bot.commands.followup import run_audit_export

    run_async(run_audit_export(settings_from(config_path), since.date(), output_format, sys.stdout))


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

