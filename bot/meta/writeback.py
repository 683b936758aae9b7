"""Outbox handlers that act on Meta: publish a reply ("meta.reply") and hide a comment ("meta.hide").

A reply is never posted twice. TaskService queues it once; before a retry of an attempt that may have
reached Meta (an earlier failed attempt, or a crash after the attempt was written down), the comment's
replies are listed and a reply from the page with the same text is recorded instead of posting again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.config import PageSettings
from bot.domain import Platform, TaskStatus
from bot.errors import ConfigError
from bot.ingest import queue_task_update
from bot.meta.client import GraphClient
from bot.meta.errors import MetaError, RateLimited, TokenInvalid, TransientError
from bot.meta.mapping import list_of
from bot.meta.sync import page_token, pause_for_token_problem
from bot.outbox import PermanentFailure, RetryLater
from bot.runtime import Services
from storage import repository as repo
from storage.models import AuditEvent, OutboxMessage
from storage.types import utcnow

log = logging.getLogger(__name__)

# A paused page or a missing token waits for an admin; look again this often without using up attempts.
WAIT_FOR_ADMIN_S = 900.0
RECONCILE_MAX_PAGES = 10
ATTEMPT_ACTION = "reply_attempt"


@dataclass(frozen=True, slots=True)
class Target:
    """The comment a task's action goes to, and the page it lives on."""

    task_id: int
    comment_row_id: int
    comment_id: str
    parent_id: str | None
    platform: str
    author_name: str | None
    page: PageSettings
    paused_reason: str | None
    final_reply: str
    reply_external_id: str | None
    post_row_id: int | None
    page_row_id: int | None

    @property
    def thread_id(self) -> str:
        """Replies go into the thread: to the top-level comment when the comment is itself a reply."""
        return self.parent_id or self.comment_id


def same_text(left: str, right: str) -> bool:
    return " ".join(left.split()) == " ".join(right.split())


class WriteBack:
    """The "meta.reply" and "meta.hide" outbox handlers."""

    def __init__(self, services: Services, client: Callable[[], GraphClient]) -> None:
        self.services = services
        self.client = client

    def handlers(self) -> dict[str, Callable[[OutboxMessage], Any]]:
        return {"meta.reply": self.reply, "meta.hide": self.hide}

    # ------------------------------------------------------------------ reply

    async def reply(self, message: OutboxMessage) -> dict[str, Any]:
        task_id, actor = _task_and_actor(message)
        target = await self._target(task_id)
        if target.reply_external_id:
            return {"reply_id": target.reply_external_id, "already_published": True}
        text = self._reply_text(target)
        if not target.final_reply.strip():
            await self._record_failure(target, actor, "publish", "Det finst ingen svartekst å publisere.")
            raise PermanentFailure(f"task {task_id} has no reply text")
        token = await self._token_or_wait(target)
        try:
            if message.attempts > 0 or await self._attempted_before(task_id):
                existing = await self._find_published(target, token, text)
                if existing is not None:
                    log.info("task %s: the reply was already on %s; recording it", task_id, target.platform)
                    await self._record_reply(target, actor, existing, text, reconciled=True)
                    return {"reply_id": existing, "reconciled": True}
            await self._note_attempt(target, actor)
            answer = await self.client().post(
                f"{target.thread_id}/{self._reply_edge(target)}",
                token=token,
                page_id=target.page.id,
                data={"message": text},
            )
            reply_id = answer.get("id")
            if not isinstance(reply_id, str | int) or not str(reply_id):
                raise TransientError("Meta accepted the reply but sent no id; checking on the next attempt")
            await self._record_reply(target, actor, str(reply_id), text, reconciled=False)
            return {"reply_id": str(reply_id)}
        except MetaError as error:
            await self._fail(error, target, actor, token, "publish")
            raise  # _fail raises the outbox signal; this keeps type checkers calm

    def _reply_text(self, target: Target) -> str:
        text = target.final_reply.strip()
        if target.platform == Platform.INSTAGRAM.value and target.parent_id and target.author_name:
            # Instagram replies only go to top-level comments: address the reply's author by name.
            mention = f"@{target.author_name}"
            if not text.startswith(mention):
                text = f"{mention} {text}"
        return text

    @staticmethod
    def _reply_edge(target: Target) -> str:
        return "replies" if target.platform == Platform.INSTAGRAM.value else "comments"

    async def _find_published(self, target: Target, token: str, text: str) -> str | None:
        """A reply from the page with this text already in the thread (an earlier attempt got through)."""
        if target.platform == Platform.INSTAGRAM.value:
            params = {"fields": "id,text,from,username", "limit": 50}
        else:
            params = {"fields": "id,message,from", "filter": "toplevel", "limit": 100}
        client = self.client()
        answer = await client.get(
            f"{target.thread_id}/{self._reply_edge(target)}",
            token=token,
            page_id=target.page.id,
            params=params,
        )
        for _ in range(RECONCILE_MAX_PAGES):
            for item in list_of(answer.get("data"), "replies"):
                if not isinstance(item, dict):
                    continue
                author = item.get("from") if isinstance(item.get("from"), dict) else {}
                body = item.get("message") if "message" in item else item.get("text")
                if (
                    str(author.get("id", "")) == target.page.id
                    and isinstance(body, str)
                    and same_text(body, text)
                ):
                    return str(item["id"])
            paging = answer.get("paging")
            next_link = paging.get("next") if isinstance(paging, dict) else None
            if not isinstance(next_link, str) or not next_link:
                return None
            answer = await client.get_next(next_link, token=token, page_id=target.page.id)
        return None

    async def _attempted_before(self, task_id: int) -> bool:
        async with self.services.db.session() as session:
            count = (
                await session.execute(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.task_id == task_id, AuditEvent.action == ATTEMPT_ACTION)
                )
            ).scalar_one()
        return count > 0

    async def _note_attempt(self, target: Target, actor: str) -> None:
        """Committed before the call, so a crash half-way leads to a check, not a second reply."""
        async with self.services.db.session() as session:
            repo.audit(
                session, actor, ATTEMPT_ACTION, task_id=target.task_id, comment_id=target.comment_row_id
            )

    async def _record_reply(
        self, target: Target, actor: str, reply_id: str, text: str, *, reconciled: bool
    ) -> None:
        now = datetime.now(UTC)
        async with self.services.db.session() as session:
            task = await repo.get_task(session, target.task_id, for_update=True)
            if task is None:
                return
            task.reply_external_id = reply_id
            task.status = TaskStatus.ANSWERED.value
            task.first_response_at = task.first_response_at or now
            task.handled_by, task.handled_at = actor, now
            task.pending_action = None
            # The page's own reply is kept as context in the thread, so the next sync sees it as known.
            await repo.insert_comment(
                session,
                platform=target.platform,
                external_id=reply_id,
                page_id=target.page_row_id,
                post_id=target.post_row_id,
                parent_external_id=target.thread_id,
                text=text,
                author_id=target.page.id,
                author_name=target.page.name,
                created_time=now,
                is_from_page=True,
                first_seen_at=utcnow(),
                updated_at=utcnow(),
            )
            repo.audit(
                session,
                actor,
                "reply_published",
                task_id=task.id,
                comment_id=task.comment_id,
                reply_id=reply_id,
                reconciled=reconciled,
            )
            await queue_task_update(session, task)
        self.services.wake_outbox()

    # ------------------------------------------------------------------ hide

    async def hide(self, message: OutboxMessage) -> dict[str, Any]:
        task_id, actor = _task_and_actor(message)
        hidden = message.payload.get("hidden", True) is not False
        target = await self._target(task_id)
        token = await self._token_or_wait(target)
        field = "hide" if target.platform == Platform.INSTAGRAM.value else "is_hidden"
        try:
            await self.client().post(
                target.comment_id, token=token, page_id=target.page.id, data={field: hidden}
            )
        except MetaError as error:
            await self._fail(error, target, actor, token, "hide")
            raise
        now = datetime.now(UTC)
        async with self.services.db.session() as session:
            task = await repo.get_task(session, task_id, for_update=True)
            if task is None:
                return {"hidden": hidden}
            task.comment.is_hidden = hidden
            task.pending_action = None
            if hidden:
                task.status = TaskStatus.HIDDEN.value
                task.handled_by, task.handled_at = actor, now
                task.first_response_at = task.first_response_at or now
            repo.audit(
                session,
                actor,
                "comment_hidden" if hidden else "comment_unhidden",
                task_id=task.id,
                comment_id=task.comment_id,
            )
            await queue_task_update(session, task)
        self.services.wake_outbox()
        return {"hidden": hidden}

    # ------------------------------------------------------------------ giving up

    async def on_failure(self, message: OutboxMessage, reason: str) -> None:
        """The outbox gave up (retries used up): tell the task, unless a handler already did."""
        action = {"meta.reply": "publish", "meta.hide": "hide"}.get(message.kind)
        if action is None:
            return
        task_id, actor = _task_and_actor(message)
        async with self.services.db.session() as session:
            task = await repo.get_task(session, task_id)
            still_pending = task is not None and task.pending_action == action
        if not still_pending:
            return
        try:
            target = await self._target(task_id)
        except PermanentFailure:
            return
        advice = "Meta svarte ikkje etter fleire forsøk; prøv att seinare."
        await self._record_failure(target, actor, action, f"{advice} ({reason[:300]})")

    # ------------------------------------------------------------------ shared

    async def _target(self, task_id: int) -> Target:
        async with self.services.db.session() as session:
            task = await repo.get_task(session, task_id)
            if task is None:
                raise PermanentFailure(f"task {task_id} does not exist")
            comment = task.comment
            page_row = comment.page
            page = self.services.settings.page(comment.platform, page_row.external_id) if page_row else None
            if page is None:
                reason = "Sida kommentaren står på, er ikkje lenger sett opp i Kommentarvakt ([[pages]])."
                repo.audit(session, "system", "meta_action_failed", task_id=task.id, reason=reason)
                task.pending_action = None
                await queue_task_update(session, task, note=reason)
                raise PermanentFailure(f"task {task_id}: its page is not in [[pages]]")
            return Target(
                task_id=task.id,
                comment_row_id=comment.id,
                comment_id=comment.external_id,
                parent_id=comment.parent_external_id,
                platform=comment.platform,
                author_name=comment.author_name,
                page=page,
                paused_reason=page_row.paused_reason if page_row and page_row.paused else None,
                final_reply=task.final_reply or "",
                reply_external_id=task.reply_external_id,
                post_row_id=comment.post_id,
                page_row_id=comment.page_id,
            )

    async def _token_or_wait(self, target: Target) -> str:
        if target.paused_reason is not None:
            raise RetryLater(WAIT_FOR_ADMIN_S, f"page {target.page.id} is paused: {target.paused_reason}")
        try:
            return page_token(self.services.settings, target.page)
        except ConfigError as error:
            raise RetryLater(WAIT_FOR_ADMIN_S, str(error)) from None

    async def _fail(self, error: MetaError, target: Target, actor: str, token: str, action: str) -> None:
        """Turn a Graph error into the outbox's signal: wait, retry with backoff, or give up with a note."""
        if isinstance(error, RateLimited):
            raise RetryLater(error.retry_after_s, error.plain()) from None
        if isinstance(error, TokenInvalid):
            await pause_for_token_problem(self.services, target.page, error, token)
            raise RetryLater(WAIT_FOR_ADMIN_S, error.plain()) from None
        if isinstance(error, TransientError):
            raise error  # the worker backs off and counts the attempt; the next attempt reconciles first
        await self._record_failure(target, actor, action, error.plain())
        raise PermanentFailure(error.plain()) from None

    async def _record_failure(self, target: Target, actor: str, action: str, reason: str) -> None:
        what = "publisere svaret" if action == "publish" else "skjule kommentaren"
        async with self.services.db.session() as session:
            task = await repo.get_task(session, target.task_id, for_update=True)
            if task is None:
                return
            task.pending_action = None
            repo.audit(
                session,
                "system",
                f"{action}_failed",
                task_id=task.id,
                comment_id=task.comment_id,
                requested_by=actor,
                reason=reason,
            )
            await queue_task_update(session, task, note=f"Kommentarvakt kunne ikkje {what}. {reason}")
        self.services.wake_outbox()


def _task_and_actor(message: OutboxMessage) -> tuple[int, str]:
    payload = message.payload or {}
    try:
        return int(payload["task_id"]), str(payload.get("actor") or "system")
    except (KeyError, TypeError, ValueError):
        raise PermanentFailure(f"outbox message {message.id} has no task_id") from None
