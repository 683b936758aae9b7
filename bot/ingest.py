"""The ingest path: store a comment (dedup), classify it, suggest a reply, open a task, queue the alert.

A comment is stored before anything else happens to it; every later step is idempotent, so a crash at
any point loses nothing and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PageSettings, Settings
from bot.deadlines import DeadlinePolicy, task_priority
from bot.domain import Classification, Comment, TaskStatus
from bot.triage import Triager
from storage import repository as repo
from storage.db import Database
from storage.models import ClassificationRow, CommentRow, TaskRow
from storage.types import utcnow

log = logging.getLogger(__name__)

CRISIS_STATE_KEY = "crisis"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A comment as a connector delivers it, with where it belongs."""

    comment: Comment
    page: PageSettings | None = None
    post_permalink: str | None = None
    post_created_time: datetime | None = None
    is_from_page: bool = False
    is_hidden: bool = False


@dataclass
class IngestSummary:
    received: int = 0
    new: int = 0
    duplicates: int = 0
    edited: int = 0
    tasks: int = 0
    from_page: int = 0
    task_ids: list[int] = field(default_factory=list)

    def add(self, other: IngestSummary) -> None:
        for name in ("received", "new", "duplicates", "edited", "tasks", "from_page"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.task_ids.extend(other.task_ids)


def slack_lane(channel: str) -> str:
    return f"slack:{channel}"


def task_messages(task: TaskRow, channel: str, *, crisis_channel: str = "") -> list[dict[str, Any]]:
    """The outbox messages that post a task to its channel (and a copy to the crisis channel)."""
    messages: list[dict[str, Any]] = [
        {
            "kind": "slack.post_task",
            "payload": {"task_id": task.id, "channel": channel},
            "lane": slack_lane(channel),
            "priority": task.priority,
            "dedupe_key": f"slack.post_task:{task.id}:{channel}",
        }
    ]
    if crisis_channel and crisis_channel != channel:
        messages.append(
            {
                "kind": "slack.post_task",
                "payload": {"task_id": task.id, "channel": crisis_channel, "copy": True},
                "lane": slack_lane(crisis_channel),
                "priority": task.priority,
                "dedupe_key": f"slack.post_task:{task.id}:{crisis_channel}",
            }
        )
    return messages


async def queue_task_update(session: AsyncSession, task: TaskRow, note: str = "") -> None:
    """Refresh the task message in place, and optionally add a note in its thread."""
    if not task.slack_channel and not task.id:
        return
    lane = slack_lane(task.slack_channel or "")
    await repo.enqueue(session, "slack.update_task", {"task_id": task.id}, lane=lane, priority=task.priority)
    if note:
        await repo.enqueue(
            session,
            "slack.thread_note",
            {"task_id": task.id, "text": note},
            lane=lane,
            priority=task.priority,
        )


class Ingestor:
    """Turns incoming comments into stored comments, classifications and tasks."""

    def __init__(self, db: Database, triager: Triager, settings: Settings) -> None:
        self.db = db
        self.triager = triager
        self.settings = settings
        self.policy = DeadlinePolicy(settings.deadlines)

    async def ingest(self, incoming: Incoming) -> IngestSummary:
        return await self.ingest_many([incoming])

    async def ingest_many(self, batch: Sequence[Incoming]) -> IngestSummary:
        """Store, classify and open tasks for a batch, in one transaction."""
        summary = IngestSummary(received=len(batch))
        classified = await self._classify_unknown(batch)
        async with self.db.session() as session:
            crisis = bool((await repo.get_state(session, CRISIS_STATE_KEY)).get("on"))
            fresh: list[tuple[Incoming, CommentRow]] = []
            for item, (row, created) in zip(batch, await self._store(session, batch), strict=True):
                if created:
                    summary.new += 1
                    if item.is_from_page:
                        summary.from_page += 1
                    else:
                        fresh.append((item, row))
                elif (
                    item.comment.text
                    and row.text is not None
                    and row.text != item.comment.text
                    and not row.is_deleted
                    and row.redacted_at is None
                ):
                    summary.edited += 1
                    await self._apply_edit(session, row, item)
                else:
                    summary.duplicates += 1
                if created and item.comment.parent_id:
                    await self._note_reply_in_parent_thread(session, item)
            if fresh:
                summary.task_ids = await self._open_tasks(session, fresh, classified, crisis=crisis)
                summary.tasks = len(summary.task_ids)
        return summary

    async def _classify_unknown(self, batch: Sequence[Incoming]) -> dict[tuple[str, str], Classification]:
        """Classify the comments not stored yet, in a worker thread and before the write transaction:
        a burst then neither blocks the event loop nor holds the database's write lock."""
        candidates: dict[str, dict[str, Comment]] = {}
        for item in batch:
            if not item.is_from_page:
                candidates.setdefault(item.comment.platform, {})[item.comment.id] = item.comment
        if not candidates:
            return {}
        async with self.db.session() as session:
            for platform, comments in candidates.items():
                for known in await repo.known_external_ids(session, platform, list(comments)):
                    del comments[known]
        todo = [comment for comments in candidates.values() for comment in comments.values()]
        if not todo:
            return {}
        classifications = await asyncio.to_thread(self.triager.classifier.classify_many, todo)
        return {(c.platform, c.id): result for c, result in zip(todo, classifications, strict=True)}

    async def _store(self, session: AsyncSession, batch: Sequence[Incoming]) -> list[tuple[CommentRow, bool]]:
        """Each comment's row and whether this batch created it; pages and posts are ensured once each."""
        known_ids: dict[tuple[str, str, str], int] = {}
        values = []
        for item in batch:
            comment = item.comment
            page_id = post_id = None
            if item.page is not None:
                key = ("page", item.page.platform, item.page.id)
                if key not in known_ids:
                    page = await repo.ensure_page(
                        session, item.page.platform, item.page.id, item.page.name, item.page.channel
                    )
                    known_ids[key] = page.id
                page_id = known_ids[key]
            if comment.post_id:
                key = ("post", comment.platform, comment.post_id)
                if key not in known_ids:
                    post = await repo.ensure_post(
                        session,
                        comment.platform,
                        comment.post_id,
                        page_id=page_id,
                        text=comment.post_text,
                        permalink=item.post_permalink,
                        created_time=item.post_created_time,
                    )
                    known_ids[key] = post.id
                post_id = known_ids[key]
            values.append(
                {
                    "platform": comment.platform,
                    "external_id": comment.id,
                    "page_id": page_id,
                    "post_id": post_id,
                    "parent_external_id": comment.parent_id,
                    "text": comment.text,
                    "author_id": comment.author_id,
                    "author_name": comment.author_name,
                    "created_time": comment.created_time,
                    "permalink": comment.permalink,
                    "is_from_page": item.is_from_page,
                    "is_hidden": item.is_hidden,
                    "first_seen_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
        return await repo.insert_comments(session, values)

    async def _open_tasks(
        self,
        session: AsyncSession,
        fresh: list[tuple[Incoming, CommentRow]],
        classified: dict[tuple[str, str], Classification],
        *,
        crisis: bool,
    ) -> list[int]:
        crisis_channel = self.settings.slack.crisis_channel if crisis else ""
        # Reads first, then every new row in one flush: a flush per task made a burst slow.
        thread_lengths = await repo.count_thread_comments_many(session, [row for _item, row in fresh])
        opened: list[tuple[TaskRow, Classification, str]] = []
        for (item, row), thread_length in zip(fresh, thread_lengths, strict=True):
            comment = item.comment
            # a comment stored by someone else between the check and now was not classified above
            classification = classified.get(
                (comment.platform, comment.id)
            ) or self.triager.classifier.classify(comment)
            reply = self.triager.suggest(comment, classification, thread_length=thread_length)
            flags = ",".join(classification.sorted_flags)
            session.add(
                ClassificationRow(
                    comment_id=row.id,
                    category=classification.category.value,
                    flags=flags,
                    confidence=classification.confidence,
                    language=classification.language,
                    model_version=classification.model_version,
                    decided_by="model",
                    created_at=utcnow(),
                )
            )
            received_at = row.created_time or row.first_seen_at
            channel = item.page.channel if item.page else ""
            task = TaskRow(
                comment_id=row.id,
                status=TaskStatus.OPEN.value,
                category=classification.category.value,
                flags=flags,
                priority=task_priority(classification.category, classification.flags),
                deadline_at=self.policy.deadline(classification.category, classification.flags, received_at),
                suggested_reply=reply.text,
                reply_note=reply.note or None,
                slack_channel=channel or None,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            session.add(task)
            opened.append((task, classification, channel))
        await session.flush()  # the task ids
        await repo.enqueue_many(
            session,
            [
                message
                for task, _classification, channel in opened
                if channel
                for message in task_messages(task, channel, crisis_channel=crisis_channel)
            ],
        )
        for task, classification, _channel in opened:
            repo.audit(
                session,
                "model",
                "task_created",
                task_id=task.id,
                comment_id=task.comment_id,
                category=task.category,
                flags=classification.sorted_flags,
                model_version=classification.model_version,
            )
        task_ids = [task.id for task, _classification, _channel in opened]
        return task_ids

    async def _apply_edit(self, session: AsyncSession, row: CommentRow, item: Incoming) -> None:
        """An edited comment: new text, new classification, the open task follows."""
        row.text, row.is_edited, row.updated_at = item.comment.text, True, utcnow()
        task = await repo.task_for_comment(session, row.id)
        repo.audit(session, "system", "comment_edited", task_id=task.id if task else None, comment_id=row.id)
        if task is None or task.status != TaskStatus.OPEN.value:
            return
        post_text = row.post.text if row.post else item.comment.post_text
        comment = replace(item.comment, post_text=post_text)
        assessment = self.triager.assess(comment)
        classification = assessment.classification
        session.add(
            ClassificationRow(
                comment_id=row.id,
                category=classification.category.value,
                flags=",".join(classification.sorted_flags),
                confidence=classification.confidence,
                language=classification.language,
                model_version=classification.model_version,
                decided_by="model",
                created_at=utcnow(),
            )
        )
        task.category, task.flags = classification.category.value, ",".join(classification.sorted_flags)
        task.priority = task_priority(classification.category, classification.flags)
        task.suggested_reply, task.reply_note = assessment.reply.text, assessment.reply.note or None
        await queue_task_update(
            session, task, note="Kommentaren er endra. Ny tekst: " + item.comment.text[:500]
        )

    async def _note_reply_in_parent_thread(self, session: AsyncSession, item: Incoming) -> None:
        parent = await repo.comment_by_external_id(
            session, item.comment.platform, item.comment.parent_id or ""
        )
        if parent is None:
            return
        task = await repo.task_for_comment(session, parent.id)
        if task is None:
            return
        who = "Sida" if item.is_from_page else (item.comment.author_name or "Nokon")
        await queue_task_update(session, task, note=f"{who} svara i tråden: {item.comment.text[:500]}")

    async def remove(self, platform: str, external_id: str) -> bool:
        """The comment was removed on the platform: mark it and close its open task."""
        async with self.db.session() as session:
            row = await repo.comment_by_external_id(session, platform, external_id)
            if row is None or row.is_deleted:
                return False
            row.is_deleted, row.updated_at = True, utcnow()
            task = await repo.task_for_comment(session, row.id)
            repo.audit(
                session, "system", "comment_removed", task_id=task.id if task else None, comment_id=row.id
            )
            if task is not None and task.status == TaskStatus.OPEN.value:
                task.status, task.handled_at = TaskStatus.CLOSED.value, datetime.now(UTC)
                await queue_task_update(
                    session, task, note="Kommentaren er sletta på plattforma. Oppgåva er lukka."
                )
            return True
