"""`kommentarvakt digest`, `purge`, `erase` and `audit export`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

from bot.config import Settings
from bot.followup import CommandContext, zone_of
from bot.roles import RoleChecker
from storage.db import Database

if TYPE_CHECKING:
    from bot.followup.digest import DigestDelivery

SLACK_DRAIN_TIMEOUT_S = 120.0


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    """The configured database, checked and migrated, closed afterwards."""
    from bot.app import prepare_database

    database = Database(settings.database.url, pool_size=settings.database.pool_size)
    try:
        await prepare_database(settings, database)
        yield database
    finally:
        await database.close()


async def run_digest(settings: Settings, send: bool) -> str:
    """The digest for the terminal; with `send`, queue it to Slack and post it now if a bot token is set."""
    from bot.followup.digest import build_digest_text, queue_digest

    now = datetime.now(UTC)
    if not send:
        async with _database(settings) as database:
            return await build_digest_text(
                CommandContext(settings, database, RoleChecker(settings)), now, slack=False
            )
    if not os.environ.get(settings.slack.bot_token_env):
        async with _database(settings) as database:
            delivery = await queue_digest(CommandContext(settings, database, RoleChecker(settings)), now)
        return (
            f"{_describe('queued', delivery)}; {settings.slack.bot_token_env} is not set, so they wait for "
            "`kommentarvakt run`"
        )
    return await _send_now(settings, now)


async def _send_now(settings: Settings, now: datetime) -> str:
    """Queue the digest and drain the Slack outbox with the Slack component, like `sync` does."""
    from bot.app import build_outbox_worker, build_services, prepare_database
    from bot.commands.sync import slack_waiting
    from bot.followup.digest import queue_digest
    from handlers.component import SlackComponent

    services = build_services(settings)
    try:
        await prepare_database(settings, services.db)
        slack = SlackComponent(services)  # also lets team leads be given as Slack user groups
        try:
            delivery = await queue_digest(services, now)
            worker = build_outbox_worker(services, [slack])
            await worker.drain(timeout_s=SLACK_DRAIN_TIMEOUT_S)
        finally:
            await slack.stop()
        waiting = (await slack_waiting(services))["waiting"]
    finally:
        await services.db.close()
    return _describe("sent", delivery) + (
        f"; {waiting} Slack messages still wait for `kommentarvakt run`" if waiting else ""
    )


def _describe(verb: str, delivery: DigestDelivery) -> str:
    return (
        f"digest {verb}: {delivery.overdue} overdue, {delivery.soon} due soon, {delivery.messages} messages "
        f"({len(delivery.channels)} channels, {len(delivery.team_leads)} team leads)"
    )


async def run_purge(settings: Settings) -> dict[str, Any]:
    """Apply the retention policy now."""
    from bot.followup.retention import purge_expired

    async with _database(settings) as database:
        return await purge_expired(database, settings)


async def run_erase(settings: Settings, author_id: str, platform: str | None) -> dict[str, Any]:
    """Erase one person's comments and name (all platforms unless `platform`)."""
    from bot.followup.retention import erase_author

    async with _database(settings) as database:
        return await erase_author(database, author_id, platform, actor="cli")


async def run_audit_export(
    settings: Settings, since: date, fmt: Literal["csv", "json"] | str, out: TextIO
) -> None:
    """Write every audit event since `since` (local midnight) to `out`."""
    from bot.followup.audit_export import export_audit

    async with _database(settings) as database:
        await export_audit(database, since, fmt, out, zone_of(settings))  # type: ignore[arg-type]
