"""Privacy: the retention policy (purge) and a data subject's right to erasure (erase).

Comment text and author data are personal data; the posts and the final replies are the municipality's
own words and stay (names are taken out of the replies on erasure). Audit events stay, with the erased
person's name and id removed from their details.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import TaskStatus
from bot.followup import LAST_PURGE_KEY
from bot.ingest import slack_lane
from storage import repository as repo
from storage.db import Database
from storage.models import AuditEvent, CommentRow, InboxEvent, OutboxMessage, TaskRow

log = logging.getLogger(__name__)

BATCH_SIZE = 500
REDACTED = "[sletta]"
ERASED_MESSAGE_TEXT = "[Innhaldet er sletta etter krav om sletting av personopplysningar.]"
TEXT_KINDS = ("slack.thread_note", "slack.dm", "slack.message", "slack.alert", "slack.file")


def redact_comment(comment: CommentRow, now: datetime) -> None:
    """Drop the comment's text and everything that identifies its author."""
    comment.text = None
    comment.author_id = None
    comment.author_name = None
    comment.permalink = None
    comment.redacted_at = now


def redact_task(task: TaskRow) -> None:
    """The suggestion and the note may quote the comment or name its author; the final reply stays."""
    task.suggested_reply = None
    task.reply_note = None


async def _queue_refresh(session: AsyncSession, task: TaskRow, note: str = "") -> None:
    """Re-render the Slack task message so the text disappears there too (low priority, once)."""
    if not task.slack_channel:
        return
    lane = slack_lane(task.slack_channel)
    await repo.enqueue(
        session,
        "slack.update_task",
        {"task_id": task.id},
        lane=lane,
        priority=9,
        dedupe_key=f"followup.redacted:{task.id}",
    )
    if note:
        await repo.enqueue(
            session,
            "slack.thread_note",
            {"task_id": task.id, "text": note, "mrkdwn": True},
            lane=lane,
            priority=9,
            dedupe_key=f"followup.redacted_note:{task.id}",
        )


async def purge_expired(db: Database, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Apply [retention]: redact comments of tasks closed longer ago than `days`, drop old queue rows."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=settings.retention.days)
    summary = {"cutoff": cutoff.isoformat(), "comments_redacted": 0, "tasks": 0, "kept_forwarded": 0}
    closed_before_cutoff = and_(
        TaskRow.status != TaskStatus.OPEN.value,
        or_(
            and_(TaskRow.handled_at.is_not(None), TaskRow.handled_at < cutoff),
            and_(TaskRow.handled_at.is_(None), TaskRow.created_at < cutoff),
        ),
    )
    forwarded = or_(TaskRow.status == TaskStatus.FORWARDED.value, TaskRow.forwarded_at.is_not(None))
    while True:
        async with db.session() as session:
            query = (
                select(TaskRow)
                .join(TaskRow.comment)
                .where(closed_before_cutoff, CommentRow.redacted_at.is_(None))
                .order_by(TaskRow.id)
                .limit(BATCH_SIZE)
            )
            if settings.retention.keep_forwarded:
                query = query.where(~forwarded)
            tasks = (await session.execute(query)).unique().scalars().all()
            for task in tasks:
                redact_comment(task.comment, now)
                redact_task(task)
                await _queue_refresh(session, task)
            summary["tasks"] += len(tasks)
            summary["comments_redacted"] += len(tasks)
        if len(tasks) < BATCH_SIZE:
            break
    async with db.session() as session:
        orphans = (
            (
                await session.execute(
                    select(CommentRow)
                    .outerjoin(TaskRow, TaskRow.comment_id == CommentRow.id)
                    .where(
                        TaskRow.id.is_(None),
                        CommentRow.is_from_page.is_(False),
                        CommentRow.redacted_at.is_(None),
                        or_(
                            CommentRow.created_time < cutoff,
                            and_(CommentRow.created_time.is_(None), CommentRow.first_seen_at < cutoff),
                        ),
                    )
                )
            )
            .scalars()
            .all()
        )
        for comment in orphans:
            redact_comment(comment, now)
        summary["comments_redacted"] += len(orphans)
        if settings.retention.keep_forwarded:
            summary["kept_forwarded"] = len(
                (
                    await session.execute(
                        select(TaskRow.id)
                        .join(TaskRow.comment)
                        .where(closed_before_cutoff, forwarded, CommentRow.redacted_at.is_(None))
                    )
                ).all()
            )
        # Sent messages and processed webhooks may quote comments: they go after the same time.
        outbox = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.status.in_(["done", "failed"]), OutboxMessage.created_at < cutoff
            )
        )
        inbox = await session.execute(
            delete(InboxEvent).where(InboxEvent.status != "pending", InboxEvent.received_at < cutoff)
        )
        summary["outbox_deleted"] = outbox.rowcount or 0
        summary["inbox_deleted"] = inbox.rowcount or 0
        repo.audit(
            session,
            "system",
            "purged",
            retention_days=settings.retention.days,
            comments=summary["comments_redacted"],
            tasks=summary["tasks"],
            kept_forwarded=summary["kept_forwarded"],
        )
        await repo.set_state(session, LAST_PURGE_KEY, {"at": now.isoformat(), **summary})
    log.info("retention: %s", summary)
    return summary


def _matcher(needles: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({needle for needle in needles if needle and len(needle) >= 2}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(word) for word in words) + r")(?!\w)")


def scrub(value: Any, names: re.Pattern[str] | None, texts: list[str]) -> tuple[Any, bool]:
    """Replace names and ids in every string of a JSON-like value; a string quoting a comment goes whole."""
    if isinstance(value, str):
        if any(text in value for text in texts):
            return REDACTED, True
        if names is not None:
            replaced = names.sub(REDACTED, value)
            return replaced, replaced != value
        return value, False
    if isinstance(value, dict):
        changed = False
        result = {}
        for key, item in value.items():
            result[key], item_changed = scrub(item, names, texts)
            changed |= item_changed
        return result, changed
    if isinstance(value, list):
        pairs = [scrub(item, names, texts) for item in value]
        return [item for item, _ in pairs], any(changed for _, changed in pairs)
    return value, False


def _json_forms(word: str) -> list[str]:
    """How a string may appear inside stored JSON text (raw, or with non-ASCII escaped)."""
    import json

    escaped = json.dumps(word)[1:-1]
    return list(dict.fromkeys([word, escaped]))


async def erase_author(
    db: Database,
    author_id: str,
    platform: str | None = None,
    *,
    actor: str = "cli",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Erase one person's comments and name everywhere; close their open tasks; audit without their data."""
    author_id = author_id.strip()
    if not author_id:
        from bot.errors import InputError

        raise InputError("--author-id is empty: give the platform's id of the person")
    now = now or datetime.now(UTC)
    async with db.session() as session:
        query = select(CommentRow).where(CommentRow.author_id == author_id)
        if platform:
            query = query.where(CommentRow.platform == platform)
        comments = (await session.execute(query)).scalars().all()
        full_names = {comment.author_name.strip() for comment in comments if comment.author_name}
        first_names = {name.split()[0] for name in full_names if name.split()}
        names = _matcher([author_id, *full_names, *first_names])
        texts = [
            (comment.text or "").strip()[:100]
            for comment in comments
            if comment.text and comment.text.strip()
        ]
        texts = [text for text in texts if len(text) >= 12]  # short texts ("Takk!") would match everywhere
        comment_ids = [comment.id for comment in comments]
        tasks = (
            (await session.execute(select(TaskRow).where(TaskRow.comment_id.in_(comment_ids))))
            .unique()
            .scalars()
            .all()
            if comment_ids
            else []
        )
        closed = 0
        for task in tasks:
            if task.status == TaskStatus.OPEN.value:
                task.status, task.handled_at, task.handled_by = TaskStatus.CLOSED.value, now, actor
                closed += 1
            redact_task(task)
            if task.final_reply and names is not None:
                task.final_reply = names.sub(REDACTED, task.final_reply)
            await _queue_refresh(
                session,
                task,
                note="Personopplysningane i denne kommentaren er sletta etter krav om sletting.",
            )
        for comment in comments:
            redact_comment(comment, now)
        audit_scrubbed = await _scrub_audit(
            session, names, texts, [t.id for t in tasks], comment_ids, full_names
        )
        outbox_scrubbed = await _scrub_outbox(session, names, texts)
        inbox_deleted = await _drop_inbox(session, author_id)
        summary = {
            "platform": platform or "all",
            "comments": len(comments),
            "tasks_closed": closed,
            "audit_events_scrubbed": audit_scrubbed,
            "messages_scrubbed": outbox_scrubbed,
            "webhooks_deleted": inbox_deleted,
        }
        repo.audit(session, actor, "erased", **summary)
    log.info("erased one person's data: %s", summary)
    return summary


async def _scrub_audit(
    session: AsyncSession,
    names: re.Pattern[str] | None,
    texts: list[str],
    task_ids: list[int],
    comment_ids: list[int],
    full_names: set[str],
) -> int:
    conditions = []
    if task_ids:
        conditions.append(AuditEvent.task_id.in_(task_ids))
    if comment_ids:
        conditions.append(AuditEvent.comment_id.in_(comment_ids))
    detail_text = cast(AuditEvent.detail, String)
    for name in full_names:
        conditions += [detail_text.contains(form) for form in _json_forms(name)]
    if not conditions or (names is None and not texts):
        return 0
    events = (await session.execute(select(AuditEvent).where(or_(*conditions)))).scalars().all()
    scrubbed = 0
    for event in events:
        detail, changed = scrub(event.detail or {}, names, texts)
        if changed:
            event.detail = detail  # a new dict: JSON columns do not track changes inside
            scrubbed += 1
    return scrubbed


async def _scrub_outbox(session: AsyncSession, names: re.Pattern[str] | None, texts: list[str]) -> int:
    """Queued and sent Slack texts that quote or name the person lose that text."""
    if names is None and not texts:
        return 0
    messages = (
        (await session.execute(select(OutboxMessage).where(OutboxMessage.kind.in_(TEXT_KINDS))))
        .scalars()
        .all()
    )
    scrubbed = 0
    for message in messages:
        payload = dict(message.payload or {})
        changed = False
        for key in ("text", "comment"):
            value = payload.get(key)
            if not isinstance(value, str):
                continue
            if any(text in value for text in texts):
                payload[key], changed = ERASED_MESSAGE_TEXT, True
            elif names is not None and names.search(value):
                payload[key], changed = names.sub(REDACTED, value), True
        if changed:
            message.payload = payload
            scrubbed += 1
    return scrubbed


async def _drop_inbox(session: AsyncSession, author_id: str) -> int:
    """Processed webhook bodies that carry the person's id are deleted (they hold the raw comment)."""
    result = await session.execute(
        delete(InboxEvent).where(InboxEvent.status != "pending", InboxEvent.body.contains(f'"{author_id}"'))
    )
    return result.rowcount or 0
