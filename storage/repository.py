"""Queries shared by the bot: idempotent inserts, audit, tasks. Works on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
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

T = TypeVar("T")


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
    return (await insert_comments(session, [values]))[0]


# Rows per multi-row INSERT: far below the bound-parameter limits of SQLite (32,766) and asyncpg (32,767).
_INSERT_CHUNK = 500
_IN_CHUNK = 1000  # values per IN (...) list


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def insert_comments(session: AsyncSession, rows: list[dict[str, Any]]) -> list[tuple[CommentRow, bool]]:
    """insert_comment for many comments in a few statements: for each input, in order, the stored row and
    whether this input created it (of two inputs with the same id in one call, only the first)."""
    inserted: set[tuple[str, str]] = set()
    for chunk in _chunks(rows, _INSERT_CHUNK):
        statement = (
            _insert(session, CommentRow)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["platform", "external_id"])
            .returning(CommentRow.platform, CommentRow.external_id)
        )
        inserted.update((platform, external_id) for platform, external_id in await session.execute(statement))
    stored: dict[tuple[str, str], CommentRow] = {}
    wanted: dict[str, list[str]] = {}
    for values in rows:
        wanted.setdefault(values["platform"], []).append(values["external_id"])
    for platform, external_ids in wanted.items():
        for chunk in _chunks(list(dict.fromkeys(external_ids)), _IN_CHUNK):
            found = await session.execute(
                select(CommentRow).where(CommentRow.platform == platform, CommentRow.external_id.in_(chunk))
            )
            stored.update(((platform, row.external_id), row) for row in found.scalars())
    result = []
    for values in rows:
        key = (values["platform"], values["external_id"])
        result.append((stored[key], key in inserted))
        inserted.discard(key)  # a repeat later in the same call is a duplicate
    return result


async def known_external_ids(session: AsyncSession, platform: str, external_ids: list[str]) -> set[str]:
    """Which of these comment ids are stored already (asked in chunks the drivers accept)."""
    known: set[str] = set()
    for chunk in _chunks(external_ids, _IN_CHUNK):
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


async def count_thread_comments_many(session: AsyncSession, rows: list[CommentRow]) -> list[int]:
    """For each row, how many earlier comments its author wrote under the same post (how long the
    dialogue is), in one query per thousand posts and authors."""
    threads = {(row.post_id, row.author_id) for row in rows if row.post_id is not None and row.author_id}
    if not threads:
        return [0] * len(rows)
    post_ids = sorted({post_id for post_id, _author in threads})
    authors = sorted({author for _post, author in threads})
    ids: dict[tuple[int, str], list[int]] = {}
    for post_chunk in _chunks(post_ids, _IN_CHUNK):
        for author_chunk in _chunks(authors, _IN_CHUNK):
            found = await session.execute(
                select(CommentRow.post_id, CommentRow.author_id, CommentRow.id).where(
                    CommentRow.post_id.in_(post_chunk), CommentRow.author_id.in_(author_chunk)
                )
            )
            for post_id, author_id, comment_id in found:
                if (post_id, author_id) in threads:
                    ids.setdefault((post_id, author_id), []).append(comment_id)
    return [
        sum(1 for other in ids.get((row.post_id, row.author_id or ""), ()) if other < row.id) for row in rows
    ]


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
        _outbox_row(kind, payload, lane, priority, dedupe_key, not_before)
    )
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(statement.returning(OutboxMessage.id))
    return result.scalar_one_or_none() is not None


async def enqueue_many(session: AsyncSession, messages: list[dict[str, Any]]) -> None:
    """enqueue for many messages in one statement; each dict holds enqueue's arguments (kind, payload,
    lane, priority, dedupe_key). Messages whose dedupe_key is queued already are skipped."""
    rows = [_outbox_row(**message) for message in messages]
    for chunk in _chunks(rows, _INSERT_CHUNK):
        statement = _insert(session, OutboxMessage).values(chunk)
        await session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))


def _outbox_row(
    kind: str,
    payload: dict[str, Any],
    lane: str = "",
    priority: int = 5,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    now = utcnow()
    return {
        "kind": kind,
        "lane": lane,
        "priority": priority,
        "dedupe_key": dedupe_key,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }


async def get_state(session: AsyncSession, key: str) -> dict[str, Any]:
    row = await session.get(AppState, key)
    return dict(row.value) if row else {}


async def set_state(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    statement = _insert(session, AppState).values(key=key, value=value, updated_at=utcnow())
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={"value": value, "updated_at": utcnow()}
    )
    await session.execute(statement)
