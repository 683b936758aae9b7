"""Everything the bot writes to Slack, sent from the outbox: task messages, updates, notes, alerts, files.

Handlers read the current state from the database when they run, so a message always shows the latest
state however long it waited. Slack's answers are mapped onto the outbox's vocabulary: 429 means wait
(RetryLater, Retry-After), an outage (5xx, no connection) means wait longer and longer but never give
up, other errors are retried with backoff, and errors that retrying cannot fix (a missing channel, a
revoked token) fail for good with a message saying what to do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.deadlines import PRIORITY
from bot.domain import Category
from bot.errors import PlatformError
from bot.ingest import CRISIS_STATE_KEY
from bot.outbox import Handler, PermanentFailure, RetryLater
from bot.runtime import Services
from handlers.views import blocks as kit
from handlers.views.task_message import (
    GroupCard,
    HistoryEntry,
    TaskCard,
    group_message,
    task_message,
    thread_note,
)
from storage import outbox as queue
from storage import repository as repo
from storage.models import AuditEvent, CommentRow, OutboxMessage, Page, Post, TaskRow

log = logging.getLogger(__name__)

LOW_PRIORITY_CATEGORIES = (Category.PRAISE.value, Category.NEUTRAL.value)
_LOW_PRIORITY_FROM = min(PRIORITY[Category.PRAISE], PRIORITY[Category.NEUTRAL])
HISTORY_LIMIT = 30
NOTE_RETRY_S = 5.0
RECORD_ATTEMPTS = 6
OUTAGE_MAX_WAIT_S = 60.0
METADATA_EVENT = "kommentarvakt_task"  # message metadata that lets an interrupted post be found again
HISTORY_LOOKBACK = 200

# Slack errors that retrying cannot fix, with what a person must do about them.
_PERMANENT_ADVICE = {
    "channel_not_found": "the channel {where} does not exist or the bot cannot see it: check the channel "
    "id in the config ([[pages]] channel / [slack] admin_channel / crisis_channel)",
    "not_in_channel": "the bot is not a member of {where}: invite it (/invite @kommentarvakt) or give the "
    "app the chat:write.public scope",
    "is_archived": "the channel {where} is archived: unarchive it or point the config at another channel",
    "channel_is_archived": "the channel {where} is archived: unarchive it or point the config at another "
    "channel",
    "invalid_auth": "Slack does not accept the bot token: put a valid xoxb- token in the variable named by "
    "[slack] bot_token_env and restart",
    "not_authed": "no Slack bot token was sent: set the variable named by [slack] bot_token_env",
    "token_revoked": "the Slack bot token was revoked: reinstall the app and update the token variable",
    "token_expired": "the Slack bot token expired: reinstall the app and update the token variable",
    "account_inactive": "the Slack app or its user was deactivated: reinstall the app",
    "missing_scope": "the Slack app lacks a scope for {method}: add it (chat:write, chat:write.public, "
    "im:write, files:write, usergroups:read) and reinstall",
    "not_allowed_token_type": "a wrong kind of token was used for {method}: use the xoxb- bot token",
    "restricted_action": "a workspace setting stops the bot from posting in {where}: ask a Slack admin",
    "user_not_found": "the Slack user {where} does not exist: check the user id",
    "cannot_dm_bot": "{where} is a bot and cannot get direct messages",
    "user_disabled": "the Slack user {where} is deactivated",
    "invalid_blocks": "Slack refused the message layout ({method}); this is a bug in Kommentarvakt",
    "invalid_blocks_format": "Slack refused the message layout ({method}); this is a bug in Kommentarvakt",
    "msg_too_long": "the message was too long for Slack; this is a bug in Kommentarvakt, report it",
    "no_text": "the message was empty; this is a bug in Kommentarvakt, report it",
    "invalid_arguments": "Slack refused the arguments of {method}; this is a bug in Kommentarvakt",
}
_KIND_WORDS = {
    "slack.post_task": "oppgåvemeldinga",
    "slack.update_task": "oppdateringa av oppgåvemeldinga",
    "slack.thread_note": "ein merknad i tråden",
    "slack.dm": "ei direktemelding",
    "slack.message": "ei melding",
    "slack.file": "ei fil",
}
_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


def _error_parts(error: SlackApiError) -> tuple[int | None, str, Any]:
    """(HTTP status, Slack error code, headers) of a failed call, whatever shape the SDK gave us."""
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    code = ""
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        code = str(data.get("error") or "")
    return status, code, getattr(response, "headers", None) or {}


def error_code(error: SlackApiError) -> str:
    """Slack's error code ("channel_not_found"), or "HTTP 503" when the answer was not JSON."""
    status, code, _headers = _error_parts(error)
    return code or f"HTTP {status}"


def _retry_after_s(headers: Any) -> float:
    try:
        return max(1.0, float(headers.get("Retry-After") or headers.get("retry-after") or 1))
    except (TypeError, ValueError):
        return 1.0


def task_card(task: TaskRow, history: list[AuditEvent]) -> TaskCard:
    """The view data of a task from its rows (the comment, post and page come joined)."""
    comment: CommentRow = task.comment
    post: Post | None = comment.post if comment else None
    page: Page | None = comment.page if comment else None
    redacted = comment is None or comment.redacted_at is not None
    return TaskCard(
        task_id=task.id,
        status=task.status,
        category=task.category,
        flags=tuple(flag for flag in (task.flags or "").split(",") if flag),
        deadline_at=task.deadline_at,
        page_name=page.name if page else "",
        platform=comment.platform if comment else "facebook",
        post_text=post.text if post else "",
        post_permalink=post.permalink if post else None,
        comment_permalink=comment.permalink if comment else None,
        author_name=None if redacted else comment.author_name,
        comment_text=None if redacted else comment.text,
        written_at=(comment.created_time or comment.first_seen_at) if comment else None,
        suggested_reply=task.suggested_reply,
        reply_note=task.reply_note,
        final_reply=task.final_reply,
        assignee=task.assignee,
        handled_by=task.handled_by,
        handled_at=task.handled_at,
        pending_action=task.pending_action,
        reply_published=bool(task.reply_external_id),
        comment_hidden=bool(comment and comment.is_hidden),
        comment_deleted=bool(comment and comment.is_deleted),
        comment_edited=bool(comment and comment.is_edited),
        forwarded_at=task.forwarded_at,
        forward_reference=task.forward_reference,
        history=tuple(
            HistoryEntry(actor=event.actor, action=event.action, at=event.at, detail=dict(event.detail or {}))
            for event in history
        ),
        slack_channel=task.slack_channel,
        slack_ts=task.slack_ts,
    )


async def load_history(session: AsyncSession, task_id: int) -> list[AuditEvent]:
    rows = await session.execute(
        select(AuditEvent)
        .where(AuditEvent.task_id == task_id, AuditEvent.action.not_in(["denied", "task_created"]))
        .order_by(AuditEvent.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return list(reversed(rows.scalars().all()))


async def load_card(session: AsyncSession, task_id: int) -> TaskCard | None:
    task = await repo.get_task(session, task_id)
    if task is None:
        return None
    return task_card(task, await load_history(session, task_id))


async def crisis_on(session: AsyncSession) -> bool:
    return bool((await repo.get_state(session, CRISIS_STATE_KEY)).get("on"))


async def load_group(session: AsyncSession, tasks: list[TaskRow]) -> GroupCard:
    """The grouped message's view data for tasks on one post."""
    first = tasks[0]
    post = first.comment.post
    page = first.comment.page
    by_category = Counter(task.category for task in tasks)
    samples = tuple(
        (task.comment.author_name if task.comment.redacted_at is None else None, task.comment.text or "")
        for task in tasks
        if task.comment.text and task.comment.redacted_at is None
    )[:3]
    return GroupCard(
        post_id=first.comment.post_id or 0,
        page_name=page.name if page else "",
        post_text=post.text if post else "",
        post_permalink=post.permalink if post else None,
        task_ids=tuple(task.id for task in tasks),
        open_count=sum(1 for task in tasks if task.status == "open"),
        by_category=dict(by_category),
        samples=samples,
    )


async def group_members(session: AsyncSession, channel: str, ts: str) -> list[TaskRow]:
    """Tasks that share one message: more than one means it is a grouped message."""
    rows = await session.execute(
        select(TaskRow).where(TaskRow.slack_channel == channel, TaskRow.slack_ts == ts).order_by(TaskRow.id)
    )
    return list(rows.unique().scalars().all())


class SlackSender:
    """The outbox handlers of the Slack part ("slack.*" kinds)."""

    def __init__(self, services: Services, client: AsyncWebClient) -> None:
        self.services = services
        self.settings = services.settings
        self.db = services.db
        self.client = client
        self.zone = ZoneInfo(self.settings.deadlines.timezone)
        self.stats: Counter[str] = Counter()  # for benchmarks and health: calls, 429s, grouped posts
        self._outage_failures = 0  # calls failed in a row because Slack was down or unreachable
        self._settled: set[int] = set()  # outbox ids whose last try Slack refused: surely not posted

    def handlers(self) -> dict[str, Handler]:
        return {
            "slack.post_task": self.post_task,
            "slack.update_task": self.update_task,
            "slack.thread_note": self.thread_note,
            "slack.alert": self.alert,
            "slack.dm": self.direct_message,
            "slack.message": self.message,
            "slack.file": self.file,
        }

    # -- calling Slack ---------------------------------------------------------------------------

    async def call(
        self, method: str, operation: Callable[..., Awaitable[Any]], *, where: str = "", **arguments: Any
    ) -> Any:
        """Call Slack and translate failures for the outbox worker."""
        started = time.monotonic()
        self.stats["calls"] += 1
        try:
            response = await operation(**arguments)
        except SlackApiError as error:
            translated = self._translate(method, error, where)
            status = _error_parts(error)[0]
            # An answer below 500 means Slack did not do it; a 5xx or no answer leaves it open.
            translated.slack_answered = status is not None and status < 500  # type: ignore[attr-defined]
            raise translated from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            metrics.SLACK_REQUESTS.labels(method, "connection_error").inc()
            self.stats["connection_errors"] += 1
            raise self._unavailable(method, f"cannot reach Slack ({type(error).__name__})") from None
        finally:
            metrics.SLACK_LATENCY.observe(time.monotonic() - started)
        metrics.SLACK_REQUESTS.labels(method, "ok").inc()
        self._outage_failures = 0
        return response

    def _unavailable(self, method: str, why: str) -> RetryLater:
        """Slack is down or unreachable: wait, longer each time, but never give the message up.

        Counting these as attempts would fail task messages for good during a long outage; waiting
        keeps the channel's order and everything is sent once Slack is back.
        """
        self._outage_failures += 1
        delay_s = min(OUTAGE_MAX_WAIT_S, 2.0 ** min(self._outage_failures, 10)) * random.uniform(0.5, 1.0)
        return RetryLater(max(1.0, delay_s), f"Slack {method}: {why}; trying again in {delay_s:.0f}s")

    def _translate(self, method: str, error: SlackApiError, where: str) -> Exception:
        status, code, headers = _error_parts(error)
        if status == 429 or code == "ratelimited":
            metrics.SLACK_REQUESTS.labels(method, "ratelimited").inc()
            self.stats["ratelimited"] += 1
            delay_s = _retry_after_s(headers)
            return RetryLater(delay_s, f"Slack {method} rate limited {where}: retry after {delay_s:.0f}s")
        if status is not None and status >= 500:
            metrics.SLACK_REQUESTS.labels(method, "server_error").inc()
            self.stats["server_errors"] += 1
            return self._unavailable(
                method, f"Slack answered HTTP {status}{' (' + code + ')' if code else ''}"
            )
        metrics.SLACK_REQUESTS.labels(method, "error").inc()
        self.stats[f"error:{code or 'unknown'}"] += 1
        advice = _PERMANENT_ADVICE.get(code)
        if advice is not None:
            return PermanentFailure(
                f"Slack {method}: {code}: " + advice.format(where=where or "?", method=method)
            )
        if code in _GONE:
            return PermanentFailure(f"Slack {method}: {code}: the message is gone from Slack")
        return PlatformError(f"Slack {method} failed: {code or 'HTTP ' + str(status)}")

    async def _post(self, channel: str, payload: dict[str, Any], **extra: Any) -> Any:
        return await self.call(
            "chat.postMessage",
            self.client.chat_postMessage,
            where=channel,
            channel=channel,
            text=payload["text"],
            blocks=payload.get("blocks"),
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )

    async def _alert_once(self, key: str, text: str) -> None:
        """Tell the admin channel about a problem people must fix, once a day per problem."""
        if not self.settings.slack.admin_channel:
            return
        async with self.db.session() as session:
            await repo.enqueue(
                session,
                "slack.alert",
                {"text": text},
                lane=f"slack:{self.settings.slack.admin_channel}",
                priority=0,
                dedupe_key=f"slack.alert:{key}:{datetime.now(UTC).date().isoformat()}",
            )
        self.services.wake_outbox()

    async def on_failure(self, message: OutboxMessage, reason: str) -> None:
        """A Slack message failed for good: tell the admins, once a day per kind and channel."""
        if not message.kind.startswith("slack.") or message.kind == "slack.alert":
            return  # an alert about a failed alert would loop
        payload = message.payload if isinstance(message.payload, dict) else {}
        channel = str(payload.get("channel") or message.lane.removeprefix("slack:") or "")
        if channel and channel == self.settings.slack.admin_channel:
            return
        what = _KIND_WORDS.get(message.kind, "ei melding")
        if payload.get("task_id"):
            what += f" for oppgåve {payload['task_id']}"
        where = f" til <#{channel}>" if channel.startswith(("C", "G")) else ""
        await self._alert_once(
            f"failed:{message.kind}:{channel}",
            f":warning: Kommentarvakt fekk ikkje sendt {what}{where}. Årsak: {kit.truncate(reason, 1500)}",
        )

    # -- task messages ---------------------------------------------------------------------------

    async def post_task(self, message: OutboxMessage) -> dict[str, Any] | None:
        """Post a task's message (or one message for a burst of praise/neutral on the same post)."""
        task_id = int(message.payload["task_id"])
        channel = str(message.payload["channel"])
        copy = bool(message.payload.get("copy"))
        async with self.db.session() as session:
            task = await repo.get_task(session, task_id)
            if task is None:
                return {"skipped": "the task no longer exists"}
            if not copy and task.slack_ts:
                return {"skipped": "already posted", "ts": task.slack_ts}
            waiting = await self._waiting_to_group(session, message, task, copy=copy)
            if len(waiting) > self.settings.slack.group_after:
                members = sorted([task, *(row for row, _outbox_id in waiting)], key=lambda row: row.id)
                group: GroupCard | None = await load_group(session, members)
            else:
                group = None
                card = task_card(task, await load_history(session, task_id))
                crisis = await crisis_on(session)
        if group is not None:
            payload = group_message(group)
        else:
            payload = task_message(card, now=datetime.now(UTC), zone=self.zone, crisis=crisis)
        posted_channel, ts, reconciled = await self._post_once(message, channel, payload, task_id)
        if group is not None:
            return await self._record_group(
                group, [outbox_id for _row, outbox_id in waiting], posted_channel, ts, copy=copy
            )
        self.stats["task_messages"] += 1
        if not copy:

            async def record(session: AsyncSession) -> None:
                await session.execute(
                    update(TaskRow)
                    .where(TaskRow.id == task_id)
                    .values(slack_channel=posted_channel, slack_ts=ts)
                )

            await self._record_posted(record)
        return {"channel": posted_channel, "ts": ts, **({"reconciled": True} if reconciled else {})}

    async def _post_once(
        self, message: OutboxMessage, channel: str, payload: dict[str, Any], task_id: int
    ) -> tuple[str, str, bool]:
        """Post, unless an earlier try that died half-way did already: then that message is found
        (by the task id in its metadata) instead of posting a second one. Returns (channel, ts, found)."""
        if self._maybe_posted(message):
            found = await self._find_posted(channel, task_id)
            if found is not None:
                log.info("task %s: its message was posted by an interrupted try (ts %s)", task_id, found)
                return channel, found, True
        await self._mark_attempt(message)
        try:
            response = await self._post(
                channel,
                payload,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"task_id": task_id}},
            )
        except Exception as error:
            if getattr(error, "slack_answered", False):
                self._settled.add(message.id)  # Slack said no: the message surely was not posted
            raise
        self._settled.discard(message.id)
        return str(response["channel"]), str(response["ts"]), False

    def _maybe_posted(self, message: OutboxMessage) -> bool:
        result = message.result if isinstance(message.result, dict) else {}
        return bool(result.get("posting_since")) and message.id not in self._settled

    async def _mark_attempt(self, message: OutboxMessage) -> None:
        """Committed before the call: a process that dies after Slack accepted the message leaves this
        mark behind, and the next try looks for the message before posting."""
        async with self.db.session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id)
                .values(result={"posting_since": datetime.now(UTC).isoformat()})
            )

    async def _find_posted(self, channel: str, task_id: int) -> str | None:
        """The ts of this task's message among the channel's latest messages, if it is there."""
        try:
            history = await self.call(
                "conversations.history",
                self.client.conversations_history,
                where=channel,
                channel=channel,
                limit=HISTORY_LOOKBACK,
                include_all_metadata=True,
            )
        except (PermanentFailure, PlatformError) as error:
            # Without channels:history (or groups:history) the bot cannot look: post again, at worst twice.
            log.warning(
                "task %s: cannot check whether it was posted already (%s); posting it", task_id, error
            )
            return None
        for found in history.get("messages") or []:
            metadata = found.get("metadata") or {}
            event = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and event.get("task_id") == task_id:
                return str(found.get("ts"))
        return None

    async def _record_posted(self, write: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Store where a message was posted, trying hard: a post that is not recorded would be posted
        again by the retry, so a busy database (a SQLite writer lock) is waited out here instead."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                async with self.db.session() as session:
                    await write(session)
                return
            except OperationalError:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
                log.warning("could not record a posted Slack message yet (database busy); retrying")
                await asyncio.sleep(min(30.0, 2.0**attempt))

    async def _waiting_to_group(
        self, session: AsyncSession, message: OutboxMessage, task: TaskRow, *, copy: bool
    ) -> list[tuple[TaskRow, int]]:
        """Other unposted praise/neutral tasks of the same post waiting in this lane (with outbox ids)."""
        post_id = task.comment.post_id
        if task.category not in LOW_PRIORITY_CATEGORIES or post_id is None or task.status != "open":
            return []
        now = datetime.now(UTC)
        rows = (
            await session.execute(
                select(OutboxMessage.id, OutboxMessage.payload).where(
                    OutboxMessage.kind == "slack.post_task",
                    OutboxMessage.status == "pending",
                    OutboxMessage.lane == message.lane,
                    OutboxMessage.id != message.id,
                    OutboxMessage.priority >= _LOW_PRIORITY_FROM,
                    (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now),
                )
            )
        ).all()
        outbox_ids = {
            int(payload["task_id"]): row_id
            for row_id, payload in rows
            if isinstance(payload, dict) and bool(payload.get("copy")) == copy and "task_id" in payload
        }
        if len(outbox_ids) <= self.settings.slack.group_after:
            return []
        found: list[TaskRow] = []
        ids = list(outbox_ids)
        for start in range(0, len(ids), 500):  # stay under the bound-parameter limits of both backends
            statement = (
                select(TaskRow)
                .join(CommentRow, CommentRow.id == TaskRow.comment_id)
                .where(
                    TaskRow.id.in_(ids[start : start + 500]),
                    CommentRow.post_id == post_id,
                    TaskRow.category.in_(LOW_PRIORITY_CATEGORIES),
                    TaskRow.status == "open",
                )
            )
            if not copy:
                statement = statement.where(TaskRow.slack_ts.is_(None))
            found.extend((await session.execute(statement)).unique().scalars().all())
        return [(row, outbox_ids[row.id]) for row in sorted(found, key=lambda row: row.id)]

    async def _record_group(
        self, group: GroupCard, outbox_ids: list[int], channel: str, ts: str, *, copy: bool
    ) -> dict[str, Any]:
        """The grouped outbox rows are done, and the grouped tasks point at the one message."""
        now = datetime.now(UTC)

        async def record(session: AsyncSession) -> None:
            for start in range(0, len(outbox_ids), 500):
                await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id.in_(outbox_ids[start : start + 500]),
                        OutboxMessage.status == "pending",
                    )
                    .values(status="done", done_at=now, claimed_until=None, result={"grouped_into": ts})
                )
            if not copy:
                task_ids = list(group.task_ids)
                for start in range(0, len(task_ids), 500):
                    await session.execute(
                        update(TaskRow)
                        .where(TaskRow.id.in_(task_ids[start : start + 500]), TaskRow.slack_ts.is_(None))
                        .values(slack_channel=channel, slack_ts=ts)
                    )

        await self._record_posted(record)
        count = len(group.task_ids)
        self.stats["group_messages"] += 1
        self.stats["grouped_tasks"] += count
        self.stats["messages_saved"] += count - 1
        log.info("grouped %d low-priority tasks into one message in %s", count, channel)
        return {"channel": channel, "ts": ts, "grouped": count}

    async def update_task(self, message: OutboxMessage) -> dict[str, Any] | None:
        """Re-render a posted task message in place from the database (skipped if not posted yet)."""
        task_id = int(message.payload["task_id"])
        async with self.db.session() as session:
            duplicates = await self._queued_updates(session, message, task_id)
            task = await repo.get_task(session, task_id)
            if task is None:
                return {"skipped": "the task no longer exists"}
            if not task.slack_ts or not task.slack_channel:
                return {"skipped": "not posted yet; the post will show the latest state"}
            channel, ts = task.slack_channel, task.slack_ts
            members = await group_members(session, channel, ts)
            if len(members) > 1:
                payload = group_message(await load_group(session, members))
            else:
                card = task_card(task, await load_history(session, task_id))
                payload = task_message(
                    card, now=datetime.now(UTC), zone=self.zone, crisis=await crisis_on(session)
                )
        try:
            await self.call(
                "chat.update",
                self.client.chat_update,
                where=channel,
                channel=channel,
                ts=ts,
                text=payload["text"],
                blocks=payload["blocks"],
            )
        except PermanentFailure as error:
            if "the message is gone" not in str(error):
                raise
            log.warning("task %s: its Slack message is gone; not updated", task_id)
            return {"skipped": "the Slack message is gone"}
        if duplicates:
            # Updates queued before this render are shown by it already: one chat.update is enough.
            async with self.db.session() as session:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(duplicates), OutboxMessage.status == "pending")
                    .values(status="done", done_at=datetime.now(UTC), result={"coalesced_into": message.id})
                )
        self.stats["updates"] += 1
        return {"channel": channel, "ts": ts, "coalesced": len(duplicates)}

    @staticmethod
    async def _queued_updates(session: AsyncSession, message: OutboxMessage, task_id: int) -> list[int]:
        """Other pending updates of the same task in this lane, read before the task itself."""
        rows = await session.execute(
            select(OutboxMessage.id, OutboxMessage.payload).where(
                OutboxMessage.kind == "slack.update_task",
                OutboxMessage.status == "pending",
                OutboxMessage.lane == message.lane,
                OutboxMessage.id != message.id,
                OutboxMessage.claimed_until.is_(None),
            )
        )
        return [
            row_id
            for row_id, payload in rows.all()
            if isinstance(payload, dict) and payload.get("task_id") == task_id
        ]

    async def thread_note(self, message: OutboxMessage) -> dict[str, Any] | None:
        """A note in the thread of a task's message (an edit, a removal, a new reply)."""
        task_id = int(message.payload["task_id"])
        text = thread_note(str(message.payload.get("text") or ""))
        if not text:
            return {"skipped": "empty note"}
        async with self.db.session() as session:
            task = await repo.get_task(session, task_id)
            if task is None:
                return {"skipped": "the task no longer exists"}
            channel, ts = task.slack_channel, task.slack_ts
            pending_post = None
            if not ts:
                pending_post = (
                    await session.execute(
                        select(OutboxMessage).where(
                            OutboxMessage.dedupe_key
                            == f"slack.post_task:{task_id}:{task.slack_channel or ''}",
                            OutboxMessage.status == "pending",
                        )
                    )
                ).scalar_one_or_none()
                if pending_post is None:
                    return {"skipped": "the task's message was never posted"}
                session.expunge(pending_post)
        if not ts:
            assert pending_post is not None
            if pending_post.lane != message.lane:
                raise RetryLater(NOTE_RETRY_S, f"task {task_id}: its message is not posted yet")
            # The post waits behind this note in the same lane (the note sorts first, e.g. after a
            # reclassification made the task urgent): waiting would block the lane, so post it now.
            result = await self.post_task(pending_post)
            async with self.db.session() as session:
                await queue.complete(session, pending_post.id, result)
                task = await repo.get_task(session, task_id)
                channel, ts = (task.slack_channel, task.slack_ts) if task else (None, None)
            if not ts:
                return {"skipped": "the task's message could not be posted"}
        assert channel is not None
        response = await self.call(
            "chat.postMessage",
            self.client.chat_postMessage,
            where=channel,
            channel=channel,
            thread_ts=ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        return {"channel": channel, "ts": str(response["ts"]), "thread_ts": ts}

    # -- other messages --------------------------------------------------------------------------

    async def alert(self, message: OutboxMessage) -> dict[str, Any] | None:
        """An alert for the administrators in [slack] admin_channel."""
        channel = self.settings.slack.admin_channel
        if not channel:
            raise PermanentFailure(
                "slack.alert: [slack] admin_channel is empty; set it to the channel id where admin alerts "
                f"should go (alert: {kit.truncate(str(message.payload.get('text', '')), 200)})"
            )
        text = kit.fallback_text(str(message.payload.get("text") or "(tomt varsel)"))
        response = await self._post(channel, {"text": text})
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    async def direct_message(self, message: OutboxMessage) -> dict[str, Any] | None:
        """A direct message to one user (reminders, escalations)."""
        user = str(message.payload.get("user") or "")
        if not user:
            raise PermanentFailure("slack.dm: the payload has no user id")
        opened = await self.call("conversations.open", self.client.conversations_open, where=user, users=user)
        channel = str(opened["channel"]["id"])
        payload = {
            "text": kit.fallback_text(str(message.payload.get("text") or " ")),
            "blocks": kit.fit(message.payload["blocks"]) if message.payload.get("blocks") else None,
        }
        response = await self._post(channel, payload)
        return {"channel": channel, "ts": str(response["ts"])}

    async def message(self, message: OutboxMessage) -> dict[str, Any] | None:
        """A plain message (digest, report) to a channel."""
        channel = str(message.payload.get("channel") or "")
        if not channel:
            raise PermanentFailure("slack.message: the payload has no channel")
        payload = {
            "text": kit.fallback_text(str(message.payload.get("text") or " ")),
            "blocks": kit.fit(message.payload["blocks"]) if message.payload.get("blocks") else None,
        }
        response = await self._post(channel, payload)
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    async def file(self, message: OutboxMessage) -> dict[str, Any] | None:
        """A file (a report image or CSV) shared to a channel."""
        payload = message.payload
        channel = str(payload.get("channel") or "")
        filename = str(payload.get("filename") or "")
        if not channel or not filename:
            raise PermanentFailure("slack.file: the payload needs channel and filename")
        try:
            content = base64.b64decode(str(payload.get("content_b64") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise PermanentFailure(f"slack.file: content_b64 of {filename} is not valid base64") from None
        response = await self.call(
            "files.upload",
            self.client.files_upload_v2,
            where=channel,
            channel=channel,
            content=content,
            filename=filename,
            title=str(payload.get("title") or filename),
            initial_comment=str(payload.get("comment") or "") or None,
        )
        files = response.get("files") or [{}]
        return {"channel": channel, "file_id": str(files[0].get("id", ""))}


async def unposted_count(services: Services) -> int:
    """Task messages still waiting to be posted (for health and benchmarks)."""
    async with services.db.session() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).where(
                        OutboxMessage.kind == "slack.post_task", OutboxMessage.status == "pending"
                    )
                )
            ).scalar_one()
        )
