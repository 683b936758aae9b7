"""Forwarding case inquiries to the records office (e-mail) and an archive system (HTTP API).

What both destinations share lives here: the case as it is sent (`ForwardCase`), its reference, and the
bookkeeping after a send succeeded or failed for good. The outbox handlers are in `email` and `archive`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import TaskStatus
from bot.followup import (
    category_label,
    escape_mrkdwn,
    flag_labels,
    format_clock,
    page_name,
    received_at,
    slack_permalink,
)
from bot.ingest import slack_lane
from bot.labels import PLATFORM_LABELS
from storage import repository as repo
from storage.db import Database
from storage.models import AuditEvent, CommentRow, OutboxMessage, TaskRow

log = logging.getLogger(__name__)

EMAIL = "email"
ARCHIVE = "archive"


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    """One comment in the exchange under the post: the forwarded one, the author's others, replies."""

    created_time: datetime | None
    author_name: str
    text: str | None
    from_page: bool
    is_forwarded: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ForwardCase:
    """Everything the records office needs to register the inquiry."""

    task_id: int
    reference: str
    platform: str
    page_id: str
    page_name: str
    post_text: str
    post_link: str | None
    comment_text: str | None
    author_name: str | None
    author_id: str | None
    comment_time: datetime | None
    comment_link: str | None
    slack_link: str | None
    category: str
    flags: list[str]
    deadline_at: datetime
    forwarded_by: str
    forwarded_at: datetime
    suggested_reply: str | None
    final_reply: str | None
    thread: list[ThreadEntry] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)

    @property
    def platform_label(self) -> str:
        return PLATFORM_LABELS.get(self.platform, self.platform)

    @property
    def category_label(self) -> str:
        return category_label(self.category)


def reference_for(task: TaskRow, zone: ZoneInfo) -> str:
    """KV-<year the task was opened>-<task id>: stable, so a resend carries the same reference."""
    if task.forward_reference:
        return task.forward_reference
    return f"KV-{task.created_at.astimezone(zone).year}-{task.id}"


def records_address(settings: Settings, task: TaskRow) -> str:
    """The page's own records office if it has one, else [forwarding] email_to."""
    page = task.comment.page
    page_config = settings.page(page.platform, page.external_id) if page else None
    return (page_config.records_office_email if page_config else "") or settings.forwarding.email_to


async def load_case(
    session: AsyncSession, task: TaskRow, actor: str, now: datetime, zone: ZoneInfo
) -> ForwardCase:
    """Gather the comment, its post, the exchange under the post and the task's audit trail."""
    comment = task.comment
    post = comment.post
    page = comment.page
    related = [CommentRow.parent_external_id == comment.external_id]
    if comment.author_id:
        related.append(CommentRow.author_id == comment.author_id)
    thread_rows: list[CommentRow] = []
    if comment.post_id is not None:
        thread_rows = list(
            (
                await session.execute(
                    select(CommentRow)
                    .where(CommentRow.post_id == comment.post_id, or_(CommentRow.id == comment.id, *related))
                    .order_by(CommentRow.created_time, CommentRow.id)
                )
            )
            .unique()
            .scalars()
        )
    if not thread_rows:
        thread_rows = [comment]
    events = (
        await session.execute(select(AuditEvent).where(AuditEvent.task_id == task.id).order_by(AuditEvent.at))
    ).scalars()
    return ForwardCase(
        task_id=task.id,
        reference=reference_for(task, zone),
        platform=comment.platform,
        page_id=page.external_id if page else "",
        page_name=page_name(task),
        post_text=post.text if post else "",
        post_link=post.permalink if post else None,
        comment_text=comment.text,
        author_name=comment.author_name,
        author_id=comment.author_id,
        comment_time=received_at(task),
        comment_link=comment.permalink,
        slack_link=slack_permalink(task.slack_channel, task.slack_ts),
        category=task.category,
        flags=flag_labels(task.flags),
        deadline_at=task.deadline_at,
        forwarded_by=actor,
        forwarded_at=now,
        suggested_reply=task.suggested_reply,
        final_reply=task.final_reply,
        thread=[
            ThreadEntry(
                created_time=row.created_time,
                author_name="Sida" if row.is_from_page else (row.author_name or "Ukjend"),
                text=row.text,
                from_page=row.is_from_page,
                is_forwarded=row.id == comment.id,
            )
            for row in thread_rows
        ],
        audit=[AuditEntry(event.at, event.actor, event.action, dict(event.detail or {})) for event in events],
    )


async def queue_update_and_note(session: AsyncSession, task: TaskRow, note: str, destination: str) -> None:
    """Refresh the task message and add the bot's own note (trusted mrkdwn: not masked, not escaped)."""
    if not task.slack_channel:
        return
    lane = slack_lane(task.slack_channel)
    await repo.enqueue(session, "slack.update_task", {"task_id": task.id}, lane=lane, priority=task.priority)
    await repo.enqueue(
        session,
        "slack.thread_note",
        {"task_id": task.id, "text": note, "mrkdwn": True},
        lane=lane,
        priority=task.priority,
        dedupe_key=f"forward.done:{destination}:{task.id}",
    )


async def mark_forwarded(
    db: Database,
    task_id: int,
    *,
    actor: str,
    address: str,
    reference: str,
    now: datetime,
    zone: ZoneInfo,
    **detail: Any,
) -> bool:
    """Record the e-mail forward on the task once; the Slack message and its thread follow."""
    async with db.session() as session:
        task = await repo.get_task(session, task_id, for_update=True)
        if task is None or task.forwarded_at is not None:
            return False
        task.forwarded_at, task.forward_reference = now, reference
        if task.status != TaskStatus.ANSWERED.value:
            task.status = TaskStatus.FORWARDED.value
            task.handled_by, task.handled_at = task.handled_by or actor, task.handled_at or now
        task.first_response_at = task.first_response_at or now
        if task.pending_action == "forward":
            task.pending_action = None
        repo.audit(
            session,
            actor,
            "forwarded",
            task_id=task_id,
            destination=EMAIL,
            to=address,
            reference=reference,
            **detail,
        )
        await queue_update_and_note(
            session, task, f"Send til {address} kl. {format_clock(now, zone)}, referanse {reference}.", EMAIL
        )
    return True


async def already_archived(session: AsyncSession, task_id: int) -> bool:
    events = (
        await session.execute(
            select(AuditEvent.detail).where(AuditEvent.task_id == task_id, AuditEvent.action == "forwarded")
        )
    ).scalars()
    return any((detail or {}).get("destination") == ARCHIVE for detail in events)


async def mark_archived(
    db: Database,
    task_id: int,
    *,
    actor: str,
    url: str,
    reference: str,
    now: datetime,
    zone: ZoneInfo,
    **detail: Any,
) -> bool:
    """Record the archive delivery once, with a note in the task's thread."""
    async with db.session() as session:
        task = await repo.get_task(session, task_id, for_update=True)
        if task is None or await already_archived(session, task_id):
            return False
        task.forward_reference = task.forward_reference or reference
        repo.audit(
            session,
            actor,
            "forwarded",
            task_id=task_id,
            destination=ARCHIVE,
            to=url,
            reference=reference,
            **detail,
        )
        note = f"Arkivert i arkivsystemet kl. {format_clock(now, zone)}, referanse {reference}."
        await queue_update_and_note(session, task, note, ARCHIVE)
    return True


FAILURE_ADVICE = {
    EMAIL: (
        "Kva du kan gjere: trykk «Send til postmottaket» på nytt når feilen er retta, eller send kommentaren "
        "til postmottaket sjølv og marker oppgåva som handsama. Administrator er varsla."
    ),
    ARCHIVE: (
        "E-posten til postmottaket er ikkje påverka. Kva du kan gjere: be postmottaket arkivere "
        "førespurnaden sjølv, eller trykk «Send til postmottaket» på nytt når arkivet svarar. "
        "Administrator er varsla."
    ),
}


async def report_failure(
    db: Database, settings: Settings, message: OutboxMessage, destination: str, reason: str, where: str = ""
) -> bool:
    """A send failed for good: tell the task's thread what happened and what to do, once per message.

    The task's pending forward is cleared and the queue's dedupe key freed, so a new click can try again.
    """
    task_id = int((message.payload or {}).get("task_id", 0))
    async with db.session() as session:
        task = await repo.get_task(session, task_id, for_update=True)
        earlier = (
            await session.execute(
                select(AuditEvent.detail).where(
                    AuditEvent.task_id == task_id, AuditEvent.action == "forward_failed"
                )
            )
        ).scalars()
        if any((detail or {}).get("outbox_id") == message.id for detail in earlier):
            return False
        repo.audit(
            session,
            "system",
            "forward_failed",
            task_id=task_id or None,
            destination=destination,
            reason=reason,
            outbox_id=message.id,
            attempts=message.attempts + 1,
        )
        target = "postmottaket" if destination == EMAIL else "arkivsystemet"
        text = (
            f":warning: Klarte ikkje å sende førespurnaden til {where or target}: {escape_mrkdwn(reason)}\n"
            + FAILURE_ADVICE[destination]
        )
        if task is not None:
            if task.pending_action == "forward" and destination == EMAIL:
                task.pending_action = None
            if task.slack_channel:
                lane = slack_lane(task.slack_channel)
                await repo.enqueue(session, "slack.update_task", {"task_id": task_id}, lane=lane, priority=1)
                await repo.enqueue(
                    session,
                    "slack.thread_note",
                    {"task_id": task_id, "text": text, "mrkdwn": True},
                    lane=lane,
                    priority=1,
                    dedupe_key=f"forward.failed:{message.id}",
                )
        admin_channel = settings.slack.admin_channel
        if admin_channel:
            await repo.enqueue(
                session,
                "slack.alert",
                {"text": f"Vidaresending av oppgåve {task_id} til {target} feila: {reason}"},
                lane=slack_lane(admin_channel),
                priority=1,
                dedupe_key=f"forward.failed:{message.id}:alert",
            )
    log.error("forward of task %s to %s failed for good: %s", task_id, destination, reason)
    return True
