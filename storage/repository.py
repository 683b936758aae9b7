"""Queries shared by the bot: idempotent inserts, audit, tasks. Works on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AppState,
    AuditEvent,
    ClassificationRow,
    CommentRow,
    OutboxMessage,
    Page,
    Post,
    TaskRow,
)
from storage.types import utcnow


def _insert(session: AsyncSession, model: type):  # type: ignore[no-untyped-def]
    """INSERT for the session's dialect, with ON CONFLICT support."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def ensure_page(
    session: AsyncSession, platform: str, external_id: str, name: str = "", channel: str = ""
) -> Page:
    """The page row, created on first sight; name and channel follow the config."""
    statement = _insert(session, Page).values(
        platform=platform, external_id=external_id, name=name, channel=channel, paused=False
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=["platform", "external_id"]))
    page = (
        await session.execute(select(Page).where(Page.platform == platform, Page.external_id == external_id))
    ).scalar_one()
    if (name and page.name != name) or (channel and page.channel != channel):
        page.name, page.channel = name or page.name, channel or page.channel
    return page


async def ensure_post(
    session: AsyncSession,
    platform: str,
    external_id: str,
    *,
    page_id: int | None,
    text: str = "",
    permalink: str | None = None,
    created_time: datetime | None = None,
) -> Post:
    """The post row, created on first sight; a changed text or permalink is updated."""
    statement = _insert(session, Post).values(
        platform=platform,
        external_id=external_id,
        page_id=page_id,
        text=text,
        permalink=permalink,
        created_time=created_time,
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=["platform", "external_id"]))
    post = (
        await session.execute(select(Post).where(Post.platform == platform, Post.external_id == external_id))
    ).scalar_one()
    if text and post.text != text:
        post.text = text
    if permalink and post.permalink != permalink:
        post.permalink = permalink
    return post


async def insert_comment(session: AsyncSession, **values: Any) -> tuple[CommentRow, bool]:
    """Insert a comment unless (platform, external_id) exists. Returns the row and whether it is new."""
    statement = (
        _insert(session, CommentRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["platform", "external_id"])
        .returning(CommentRow.id)
    )
    inserted_id = (await session.execute(statement)).scalar_one_or_none()
    row = await comment_by_external_id(session, values["platform"], values["external_id"])
    assert row is not None
    return row, inserted_id is not None


async def known_external_ids(session: AsyncSession, platform: str, external_ids: list[str]) -> set[str]:
    """Which of these comment ids are stored already (asked in chunks the drivers accept)."""
    known: set[str] = set()
    for start in range(0, len(external_ids), 1000):
        chunk = external_ids[start : start + 1000]
        rows = await session.execute(
            select(CommentRow.external_id).where(
                CommentRow.platform == platform, CommentRow.external_id.in_(chunk)
            )
        )
        known.update(rows.scalars())
    return known


async def comment_by_external_id(session: AsyncSession, platform: str, external_id: str) -> CommentRow | None:
    return (
        await session.execute(
            select(CommentRow).where(CommentRow.platform == platform, CommentRow.external_id == external_id)
        )
    ).scalar_one_or_none()


async def task_for_comment(session: AsyncSession, comment_id: int) -> TaskRow | None:
    return (
        await session.execute(select(TaskRow).where(TaskRow.comment_id == comment_id))
    ).scalar_one_or_none()


async def get_task(session: AsyncSession, task_id: int, *, for_update: bool = False) -> TaskRow | None:
    statement = select(TaskRow).where(TaskRow.id == task_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=TaskRow)
    return (await session.execute(statement)).unique().scalar_one_or_none()


async def latest_classification(session: AsyncSession, comment_id: int) -> ClassificationRow | None:
    return (
        await session.execute(
            select(ClassificationRow)
            .where(ClassificationRow.comment_id == comment_id)
            .order_by(ClassificationRow.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def count_thread_comments(
    session: AsyncSession, *, post_id: int | None, author_id: str | None, before_id: int
) -> int:
    """How many earlier comments this author wrote under the same post: how long the dialogue is."""
    if post_id is None or not author_id:
        return 0
    return (
        await session.execute(
            select(func.count(CommentRow.id)).where(
                CommentRow.post_id == post_id,
                CommentRow.author_id == author_id,
                CommentRow.id < before_id,
            )
        )
    ).scalar_one()


def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    *,
    task_id: int | None = None,
    comment_id: int | None = None,
    **detail: Any,
) -> None:
    """Append one event to the audit log (in the caller's transaction)."""
    session.add(
        AuditEvent(
            at=utcnow(), actor=actor, action=action, task_id=task_id, comment_id=comment_id, detail=detail
        )
    )


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    lane: str = "",
    priority: int = 5,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Queue an outgoing call; with a dedupe_key, queuing the same work twice is a no-op. True if queued."""
    statement = _insert(session, OutboxMessage).values(
        kind=kind,
        lane=lane,
        priority=priority,
        dedupe_key=dedupe_key,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=not_before or utcnow(),
        created_at=utcnow(),
    )
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(statement.returning(OutboxMessage.id))
    return result.scalar_one_or_none() is not None


async def get_state(session: AsyncSession, key: str) -> dict[str, Any]:
    row = await session.get(AppState, key)
    return dict(row.value) if row else {}


async def set_state(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    statement = _insert(session, AppState).values(key=key, value=value, updated_at=utcnow())
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={"value": value, "updated_at": utcnow()}
    )
    await session.execute(statement)
