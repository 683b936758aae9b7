"""Shared set-up for the follow-up tests: settings, real services on both databases, real ingested tasks.

Times are fixed in May 2026 around Ascension Day (Thursday 14 May, a public holiday in Norway), so the
working-day rules can be seen: Monday 11 May is a working day, Thursday 14 May is not, Friday 15 is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_services
from bot.config import PageSettings, Settings
from bot.domain import Category, Comment
from bot.ingest import Incoming
from bot.outbox import OutboxWorker
from bot.runtime import Services
from storage.db import Database
from storage.models import AuditEvent, OutboxMessage, TaskRow

OSLO = ZoneInfo("Europe/Oslo")
MODERATOR = "U0MOD"
TEAM_LEAD = "U0LEAD"
PAGE_LEAD = "U0BYLEAD"
ADMIN = "U0ADMIN"
DIRECTOR = "U0DIRECTOR"
KINN = PageSettings(
    platform="facebook", id="100", name="Kinn kommune", channel="C0KINN", access_token_env="KINN_TOKEN"
)
BYGG = PageSettings(
    platform="instagram",
    id="200",
    name="Kinn byggesak",
    channel="C0BYGG",
    access_token_env="BYGG_TOKEN",
    team_leads=[PAGE_LEAD],
    records_office_email="byggesak@kinn.kommune.no",
)
POST_TEXT = "Byggesaksavdelinga har nye opningstider frå 1. juni: måndag til fredag 08:00–15:00."
INQUIRY = (
    "Kva er status på byggesøknaden min for garasje i Storevegen 12? "
    "Eg sende han i mars og har ikkje høyrt noko."
)


def oslo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local Oslo time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=OSLO).astimezone(UTC)


class Clock:
    """A controllable clock for the scheduler and the jobs."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


def make_settings(database_url: str, **sections: Any) -> Settings:
    values: dict[str, Any] = {
        "database": {"url": database_url},
        "pages": [KINN, BYGG],
        "roles": {
            "moderators": [MODERATOR],
            "team_leads": [TEAM_LEAD],
            "admins": [ADMIN],
            "crisis_approvers": [DIRECTOR],
        },
        "slack": {"admin_channel": "C0ADMIN"},
        "forwarding": {
            "email_to": "postmottak@kinn.kommune.no",
            "email_from": "kommentarvakt@kinn.kommune.no",
        },
    }
    for name, overrides in sections.items():
        values[name] = {**values.get(name, {}), **overrides}
    return Settings.model_validate(values)


@pytest.fixture
def settings(db: Database) -> Settings:
    return make_settings(db.url)


@pytest.fixture
def services(db: Database, settings: Settings) -> Services:
    return build_services(settings, db)


async def ingest(
    services: Services,
    comment_id: str,
    text: str,
    *,
    created: datetime,
    page: PageSettings = KINN,
    author_id: str = "fb-kari",
    author_name: str = "Kari Nordmann",
    post_id: str = "100_1",
    parent_id: str | None = None,
    from_page: bool = False,
    category: Category | None = None,
) -> int | None:
    """Ingest one comment through the real Ingestor; with `category`, a moderator then sets it."""
    summary = await services.ingestor.ingest(
        Incoming(
            Comment(
                text=text,
                post_text=POST_TEXT,
                id=comment_id,
                platform=page.platform,
                author_name=author_name,
                author_id=author_id,
                created_time=created,
                permalink=f"https://www.facebook.com/{post_id}?comment_id={comment_id}",
                parent_id=parent_id,
                post_id=post_id,
                page_id=page.id,
            ),
            page=page,
            post_permalink=f"https://www.facebook.com/{post_id}",
            is_from_page=from_page,
        )
    )
    task_id = summary.task_ids[0] if summary.task_ids else None
    if task_id is not None and category is not None:
        await services.tasks.reclassify(task_id, MODERATOR, category)
    return task_id


async def task(db: Database, task_id: int) -> TaskRow:
    async with db.session() as session:
        row = (await session.execute(select(TaskRow).where(TaskRow.id == task_id))).unique().scalar_one()
        session.expunge_all()
        return row


async def outbox(
    db: Database, kinds: Iterable[str] | None = None, prefix: str | None = None
) -> list[OutboxMessage]:
    """Queued messages, oldest first; optionally only some kinds or dedupe keys starting with `prefix`."""
    async with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kinds is not None:
            query = query.where(OutboxMessage.kind.in_(list(kinds)))
        rows = (await session.execute(query)).scalars().all()
    return [row for row in rows if prefix is None or (row.dedupe_key or "").startswith(prefix)]


async def audit_events(db: Database, action: str | None = None) -> list[AuditEvent]:
    async with db.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list((await session.execute(query)).scalars().all())


async def mark_slack_posted(db: Database, task_id: int, ts: str = "1747000000.000100") -> None:
    """What the Slack part does after posting a task: remember where the message is."""
    async with db.session() as session:
        row = (await session.execute(select(TaskRow).where(TaskRow.id == task_id))).unique().scalar_one()
        row.slack_ts = ts


async def drain(worker: OutboxWorker, timeout_s: float = 30.0) -> None:
    await worker.drain(timeout_s=timeout_s)
