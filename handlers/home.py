"""The App Home tab: published for a user whenever they open it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Services
from handlers.outbox_sender import crisis_on, error_code
from handlers.views.home import LIST_MAX, PageCount, TaskSummary, home_view
from storage.models import CommentRow, Page, TaskRow

log = logging.getLogger(__name__)


async def page_counts(services: Services, session: AsyncSession, now: datetime) -> list[PageCount]:
    """Open and overdue tasks per page: every configured page, and any other page in the database."""
    overdue = case((TaskRow.deadline_at < now, 1), else_=0)
    rows = (
        await session.execute(
            select(CommentRow.page_id, func.count(TaskRow.id), func.sum(overdue))
            .select_from(TaskRow)
            .join(CommentRow, CommentRow.id == TaskRow.comment_id)
            .where(TaskRow.status == "open")
            .group_by(CommentRow.page_id)
        )
    ).all()
    counts = {
        page_id: (int(open_count), int(overdue_count or 0)) for page_id, open_count, overdue_count in rows
    }
    pages = {
        (page.platform, page.external_id): page for page in (await session.execute(select(Page))).scalars()
    }
    result: list[PageCount] = []
    for configured in services.settings.pages:
        page = pages.pop((configured.platform, configured.id), None)
        open_count, overdue_count = counts.get(page.id, (0, 0)) if page else (0, 0)
        result.append(
            PageCount(
                configured.name,
                open_count,
                overdue_count,
                paused=bool(page and page.paused),
                paused_reason=page.paused_reason if page else None,
            )
        )
    for page in pages.values():
        open_count, overdue_count = counts.get(page.id, (0, 0))
        result.append(
            PageCount(
                page.name or page.external_id, open_count, overdue_count, page.paused, page.paused_reason
            )
        )
    if None in counts:
        result.append(PageCount("Utan side", *counts[None]))
    return result


def _summary(task: TaskRow) -> TaskSummary:
    comment = task.comment
    page = comment.page if comment else None
    return TaskSummary(
        task_id=task.id,
        category=task.category,
        flags=tuple(flag for flag in (task.flags or "").split(",") if flag),
        page_name=page.name if page else "",
        comment_text=comment.text if comment and comment.redacted_at is None else None,
        deadline_at=task.deadline_at,
        slack_channel=task.slack_channel,
        slack_ts=task.slack_ts,
    )


async def _tasks(session: AsyncSession, condition: Any) -> tuple[list[TaskSummary], int]:
    total = (await session.execute(select(func.count()).select_from(TaskRow).where(condition))).scalar_one()
    rows = (
        (
            await session.execute(
                select(TaskRow).where(condition).order_by(TaskRow.deadline_at).limit(LIST_MAX)
            )
        )
        .unique()
        .scalars()
        .all()
    )
    return [_summary(task) for task in rows], int(total)


class HomeTab:
    """Listener for app_home_opened."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.zone = ZoneInfo(services.settings.deadlines.timezone)

    def register(self, app: AsyncApp) -> None:
        app.event("app_home_opened")(self.opened)

    async def opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user = str(event["user"])
        try:
            view = await self.render(user)
        except Exception:  # the database may be down: leave the last Home tab in place
            log.exception("could not build the Home tab")
            return
        try:
            await client.views_publish(user_id=user, view=view)
        except SlackApiError as error:
            log.warning("could not publish the Home tab: %s", error_code(error))

    async def render(self, user: str, now: datetime | None = None) -> dict[str, Any]:
        """The Home tab of `user` from the database."""
        now = now or datetime.now(UTC)
        async with self.services.db.session() as session:
            is_open = TaskRow.status == "open"
            mine, my_total = await _tasks(session, is_open & (TaskRow.assignee == user))
            overdue, overdue_total = await _tasks(session, is_open & (TaskRow.deadline_at < now))
            pages = await page_counts(self.services, session, now)
            crisis = await crisis_on(session)
        return home_view(
            user,
            my_tasks=mine,
            my_total=my_total,
            overdue=overdue,
            overdue_total=overdue_total,
            pages=pages,
            crisis=crisis,
            now=now,
            zone=self.zone,
        )
