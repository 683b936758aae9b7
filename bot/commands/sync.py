"""`kommentarvakt sync`: one ingest pass over every configured page, then post the new tasks to Slack."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from bot.config import PageSettings, Settings, secret
from bot.errors import ConfigError
from bot.logs import register_secret
from bot.meta.sync import PageSyncResult, ProgressCallback, page_token
from bot.outbox import Handler
from bot.runtime import Services
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

SLACK_DRAIN_TIMEOUT_S = 120.0


def check_tokens(settings: Settings) -> None:
    """Every page's token variable must be set before anything is fetched (ConfigError names the key)."""
    if not settings.pages:
        raise ConfigError("no [[pages]] in the config: add at least one page (see config.example.toml)")
    for page in settings.pages:
        page_token(settings, page)


async def run_sync(
    settings: Settings, backfill_days: int | None, *, post_to_slack: bool = True
) -> dict[str, Any]:
    """Sync every page, store and classify, then post the waiting tasks to Slack once. JSON-able summary."""
    from bot.app import build_services, prepare_database
    from bot.meta.component import MetaComponent

    check_tokens(settings)
    services = build_services(settings)
    try:
        await prepare_database(settings, services.db)
        meta = MetaComponent(services)
        try:
            with progress_bar(settings.pages, enabled=backfill_days is not None) as progress:
                results = await meta.syncer(progress).sync_all(backfill_days=backfill_days)
        finally:
            await meta.close()
        summary = summarise(results, backfill_days)
        summary["slack"] = (
            await post_to_slack_once(services) if post_to_slack else await slack_waiting(services)
        )
        return summary
    finally:
        await services.db.close()


def summarise(results: list[PageSyncResult], backfill_days: int | None) -> dict[str, Any]:
    totals = {
        name: sum(getattr(result, name) for result in results)
        for name in ("calls", "fetched", "new_comments", "edited", "tasks", "from_page", "duplicates")
    }
    return {
        "backfill_days": backfill_days,
        "pages": [result.to_dict() for result in results],
        "totals": totals,
        "failed_pages": [f"{result.platform}/{result.id}" for result in results if result.failed],
        "paused_pages": [f"{result.platform}/{result.id}" for result in results if result.paused],
    }


async def slack_waiting(services: Services, note: str = "") -> dict[str, Any]:
    async with services.db.session() as session:
        waiting = (
            await session.execute(
                select(func.count()).where(
                    OutboxMessage.status == "pending", OutboxMessage.kind.like("slack.%")
                )
            )
        ).scalar_one()
    message = note or f"{waiting} Slack messages wait for `kommentarvakt run`"
    return {"posted": 0, "waiting": waiting, "note": message}


async def post_to_slack_once(services: Services) -> dict[str, Any]:
    """Drain the Slack outbox with the Slack component's handlers, if a bot token is set."""
    from bot.app import build_outbox_worker

    token_env = services.settings.slack.bot_token_env
    if not os.environ.get(token_env):
        return await slack_waiting(
            services, f"{token_env} is not set: the Slack messages wait for `kommentarvakt run`"
        )
    try:
        slack = slack_component(services)
    except ImportError as error:
        log.warning("the Slack component is not available (%s); messages wait for `run`", error)
        return await slack_waiting(services)
    before = await slack_waiting(services)
    worker = build_outbox_worker(services, [slack])
    try:
        await worker.drain(timeout_s=SLACK_DRAIN_TIMEOUT_S)
    finally:
        await slack.stop()  # never started: sync only sends, it does not listen
    after = await slack_waiting(services)
    note = f"{after['waiting']} Slack messages still wait for `kommentarvakt run`" if after["waiting"] else ""
    return {"posted": max(0, before["waiting"] - after["waiting"]), "waiting": after["waiting"], "note": note}


def slack_component(services: Services) -> Any:
    """The Slack component for sending only; without the listening secret (app token or signing
    secret, which `sync` does not need) its outbox handlers alone are used."""
    from handlers.component import SlackComponent

    try:
        return SlackComponent(services)
    except ConfigError as error:
        if services.settings.slack.bot_token_env in str(error):
            raise
        from handlers.app import build_web_client
        from handlers.outbox_sender import SlackSender

        settings = services.settings.slack
        token = secret(settings.bot_token_env, "slack.bot_token_env")
        register_secret(token)
        return _SendingOnly(SlackSender(services, build_web_client(settings, token, retry_rate_limits=False)))


class _SendingOnly:
    """Just the Slack outbox handlers, for a one-shot drain."""

    name = "slack"

    def __init__(self, sender: Any) -> None:
        self.sender = sender

    def outbox_handlers(self) -> dict[str, Handler]:
        return self.sender.handlers()

    async def stop(self) -> None:
        return None


@contextmanager
def progress_bar(pages: list[PageSettings], *, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr (comments fetched per page) for long backfills."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} kommentarar"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks = {(page.platform, page.id): progress.add_task(page.name, total=None) for page in pages}

    def update(page: PageSettings, fetched: int) -> None:
        progress.update(tasks[(page.platform, page.id)], completed=fetched)

    with progress:
        yield update
