"""The inbox processor: turns stored webhook deliveries into comments, edits, removals and tasks.

Rows are claimed with a lease (SKIP LOCKED on PostgreSQL), processed in order of arrival, and marked
done or failed with a reason. Duplicates and out-of-order deliveries are harmless: an `edited` before
its `add` creates the comment, a late `add` never reverts an edit, and a `remove` before its `add`
leaves a tombstone so the `add` cannot bring the comment back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from bot import metrics
from bot.config import PageSettings
from bot.errors import ConfigError, InputError
from bot.ingest import Incoming
from bot.meta.client import GraphClient
from bot.meta.errors import MetaError, TokenInvalid
from bot.meta.mapping import (
    FeedCommentChange,
    InstagramCommentChange,
    PostInfo,
    facebook_webhook_comment,
    feed_comment_change,
    instagram_comment_change,
    instagram_webhook_comment,
    list_of,
    media_from_graph,
    object_of,
    post_from_graph,
    required_id,
)
from bot.meta.sync import page_token, pause_for_token_problem
from bot.runtime import Services
from storage import repository as repo
from storage.models import CommentRow, InboxEvent, Page, Post, TaskRow
from storage.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE_S = 120.0
CLAIM_BATCH = 10


# ---------------------------------------------------------------------- parsing a delivery


@dataclass(frozen=True, slots=True)
class Change:
    """One comment change for one configured page."""

    page: PageSettings
    change: FeedCommentChange | InstagramCommentChange

    @property
    def comment_id(self) -> str:
        return self.change.comment_id

    @property
    def verb(self) -> str:
        return self.change.verb if isinstance(self.change, FeedCommentChange) else "add"


@dataclass
class Delivery:
    """What a webhook body asks for, and what in it could not be used."""

    changes: list[Change]
    problems: list[str]
    notes: list[str]


def parse_delivery(payload: Any, find_page: Callable[[str, str], PageSettings | None]) -> Delivery:
    """Pick the comment changes out of a webhook body. A wrong top-level shape raises InputError."""
    body = object_of(payload, "webhook body")
    kind = body.get("object")
    if kind not in ("page", "instagram"):
        raise InputError(f"webhook body has object {kind!r}; expected 'page' or 'instagram'")
    platform = "facebook" if kind == "page" else "instagram"
    delivery = Delivery([], [], [])
    entries = list_of(body.get("entry"), "webhook entry")
    if not entries:
        raise InputError("webhook body has no entries")
    for entry_number, raw_entry in enumerate(entries, 1):
        try:
            entry = object_of(raw_entry, f"entry {entry_number}")
            account_id = required_id(entry, "id", f"entry {entry_number}")
            changes = list_of(entry.get("changes"), f"entry {entry_number} changes")
        except InputError as error:
            delivery.problems.append(str(error))
            continue
        page = find_page(platform, account_id)
        for change_number, raw_change in enumerate(changes, 1):
            where = f"entry {entry_number} change {change_number}"
            try:
                change = object_of(raw_change, where)
                parsed = _comment_change(kind, change, entry.get("time"))
            except InputError as error:
                delivery.problems.append(f"{where}: {error}")
                continue
            if parsed is None:
                continue  # not about a comment: nothing for the moderators
            if page is None:
                delivery.notes.append(f"{where}: no [[pages]] entry for {platform} {account_id}; ignored")
                continue
            delivery.changes.append(Change(page, parsed))
    return delivery


def _comment_change(
    kind: str, change: dict[str, Any], entry_time: Any
) -> FeedCommentChange | InstagramCommentChange | None:
    field = change.get("field")
    if kind == "page" and field == "feed":
        return feed_comment_change(change.get("value"))
    if kind == "instagram" and field == "comments":
        return instagram_comment_change(change.get("value"), entry_time)
    return None


# ---------------------------------------------------------------------- post text for webhook comments


class PostResolver:
    """The post (or media) a webhook comment belongs to: the database, then a cache, then one Graph call."""

    def __init__(
        self, services: Services, client: Callable[[], GraphClient], *, max_entries: int = 2000
    ) -> None:
        self.services = services
        self.client = client
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], PostInfo] = OrderedDict()

    async def resolve(self, page: PageSettings, post_id: str, permalink: str | None = None) -> PostInfo:
        key = (page.platform, post_id)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        stored = await self._stored(page.platform, post_id)
        if stored is not None:
            return self._remember(key, stored)
        fetched = await self._fetch(page, post_id)
        if fetched is None:
            return PostInfo(post_id, "", permalink)
        return self._remember(key, fetched)

    def forget(self) -> None:
        self._cache.clear()

    def _remember(self, key: tuple[str, str], post: PostInfo) -> PostInfo:
        self._cache[key] = post
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return post

    async def _stored(self, platform: str, post_id: str) -> PostInfo | None:
        async with self.services.db.session() as session:
            post = (
                await session.execute(
                    select(Post).where(Post.platform == platform, Post.external_id == post_id)
                )
            ).scalar_one_or_none()
        if post is None or not post.text:
            return None
        return PostInfo(post_id, post.text, post.permalink, post.created_time)

    async def _fetch(self, page: PageSettings, post_id: str) -> PostInfo | None:
        if await self._paused(page):
            return None
        try:
            token = page_token(self.services.settings, page)
        except ConfigError as error:
            log.warning("cannot fetch post %s for its text: %s", post_id, error)
            return None
        if page.platform == "instagram":
            fields, parse = "caption,permalink,timestamp", media_from_graph
        else:
            fields, parse = "message,permalink_url,created_time", post_from_graph
        try:
            raw = await self.client().get(post_id, token=token, page_id=page.id, params={"fields": fields})
            return parse(raw)
        except TokenInvalid as error:
            await pause_for_token_problem(self.services, page, error, token)
        except (MetaError, InputError) as error:
            log.warning(
                "could not fetch post %s for its text (%s); the comment is stored without it", post_id, error
            )
        return None

    async def _paused(self, page: PageSettings) -> bool:
        async with self.services.db.session() as session:
            paused = await session.execute(
                select(Page.paused).where(Page.platform == page.platform, Page.external_id == page.id)
            )
            return bool(paused.scalar_one_or_none())


# ---------------------------------------------------------------------- the processor


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: int
    body: str
    received_at: datetime
    attempts: int


class InboxProcessor:
    """Claims inbox rows and processes them; runs in the background of `run`, or on demand in tests."""

    def __init__(
        self,
        services: Services,
        posts: PostResolver,
        *,
        poll_s: float = 1.0,
        lease_s: float = LEASE_S,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.services = services
        self.posts = posts
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> asyncio.Task[None]:
        """Run in the background until stop()."""
        self._stopping = False
        return asyncio.create_task(self.run(), name="meta-inbox")

    def stop(self) -> None:
        """Finish the row in progress, then stop (the caller awaits the run() task)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                processed = await self.process_pending(max_rounds=1)
            except Exception:
                log.exception("inbox round failed; trying again shortly")
                processed = 0
            if processed == 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def process_pending(self, *, max_rounds: int | None = None) -> int:
        """Process due rows until none are left (or `max_rounds` claims). Returns how many were processed."""
        processed = rounds = 0
        while (max_rounds is None or rounds < max_rounds) and not self._stopping:
            rounds += 1
            claimed = await self._claim()
            if not claimed:
                break
            await self.process_events(claimed)
            processed += len(claimed)
        return processed

    async def _claim(self) -> list[ClaimedEvent]:
        """Lease the oldest due rows in one statement, so two processes never claim the same row."""
        now = utcnow()
        due = (
            select(InboxEvent.id)
            .where(
                InboxEvent.status == "pending",
                or_(InboxEvent.claimed_until.is_(None), InboxEvent.claimed_until <= now),
            )
            .order_by(InboxEvent.id)
            .limit(CLAIM_BATCH)
        )
        if self.services.db.is_postgres:
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(InboxEvent)
            .where(InboxEvent.id.in_(due.scalar_subquery()))
            .values(claimed_until=now + timedelta(seconds=self.lease_s), attempts=InboxEvent.attempts + 1)
            .returning(InboxEvent.id, InboxEvent.body, InboxEvent.received_at, InboxEvent.attempts)
            .execution_options(synchronize_session=False)
        )
        async with self.services.db.session() as session:
            rows = (await session.execute(statement)).all()
        return sorted((ClaimedEvent(*row) for row in rows), key=lambda event: event.id)

    async def process_events(self, events: list[ClaimedEvent]) -> None:
        """Process claimed deliveries in order of arrival, together (one ingest for a burst).

        Bad input marks only its own row failed. Any other failure (database down, a bug) is retried
        row by row, which is harmless because every step is idempotent.
        """
        outcomes: dict[int, tuple[str, str | None]] = {}
        work: list[tuple[ClaimedEvent, Change]] = []
        for event in events:
            try:
                delivery = parse_delivery(json.loads(event.body), self.services.settings.page)
            except json.JSONDecodeError as error:
                outcomes[event.id] = ("failed", f"the body is not JSON: {error}")
                continue
            except InputError as error:
                outcomes[event.id] = ("failed", str(error))
                continue
            work.extend((event, change) for change in delivery.changes)
            if delivery.problems:
                outcomes[event.id] = ("failed", "; ".join(delivery.problems))
            else:
                outcomes[event.id] = ("done", "; ".join(delivery.notes) or None)
        try:
            await self._apply(work)
        except Exception as error:  # database down, a bug: keep the rows and try again
            if len(events) > 1:
                log.warning("inbox: a batch of %d failed (%s); processing one by one", len(events), error)
                for event in events:
                    await self.process_events([event])
                return
            await self._retry_later(events[0], f"{type(error).__name__}: {error}")
            return
        for event_id, (status, reason) in outcomes.items():
            if status == "failed":
                log.warning("inbox #%d marked failed: %s", event_id, reason)
        await self._finish(outcomes)

    async def _apply(self, work: list[tuple[ClaimedEvent, Change]]) -> None:
        """Apply changes in order; adds, edits and new comments go to the ingest path in batches."""
        known = await self._known(
            {change.comment_id for _event, change in work if change.verb == "add"}, work
        )
        batch: list[tuple[ClaimedEvent, Incoming]] = []
        for event, change in work:
            key = (change.page.platform, change.comment_id)
            if change.verb == "remove":
                await self._ingest(batch)
                batch = []
                await self._remove(change)
                known.add(key)
                continue
            if change.verb == "add" and key in known:
                continue  # a repeated (or late) add never reverts an edit or resurrects a removal
            if any(item.comment.id == change.comment_id for _e, item in batch):
                await self._ingest(batch)
                batch = []
            batch.append((event, await self._incoming(change)))
            known.add(key)
        await self._ingest(batch)

    async def _incoming(self, change: Change) -> Incoming:
        if isinstance(change.change, FeedCommentChange):
            post = await self.posts.resolve(change.page, change.change.post_id, change.change.post_permalink)
            return facebook_webhook_comment(change.change, change.page, post)
        media = await self.posts.resolve(change.page, change.change.media_id)
        return instagram_webhook_comment(change.change, change.page, media)

    async def _known(self, ids: set[str], work: list[tuple[ClaimedEvent, Change]]) -> set[tuple[str, str]]:
        """(platform, id) of the comments among `ids` that are already stored."""
        if not ids:
            return set()
        platforms = {change.page.platform for _event, change in work}
        async with self.services.db.session() as session:
            rows = await session.execute(
                select(CommentRow.platform, CommentRow.external_id).where(
                    CommentRow.platform.in_(platforms), CommentRow.external_id.in_(ids)
                )
            )
            return {(platform, external_id) for platform, external_id in rows.all()}

    async def _ingest(self, batch: list[tuple[ClaimedEvent, Incoming]]) -> None:
        if not batch:
            return
        summary = await self.services.ingestor.ingest_many([incoming for _event, incoming in batch])
        if summary.new:
            metrics.COMMENTS_INGESTED.labels(batch[0][1].comment.platform, "webhook").inc(summary.new)
        if summary.task_ids:
            now = utcnow()
            received = {incoming.comment.id: event.received_at for event, incoming in batch}
            async with self.services.db.session() as session:
                rows = await session.execute(
                    select(CommentRow.external_id)
                    .join(TaskRow, TaskRow.comment_id == CommentRow.id)
                    .where(TaskRow.id.in_(summary.task_ids))
                )
                for external_id in rows.scalars():
                    if external_id in received:
                        metrics.WEBHOOK_TO_TASK.observe(
                            max(0.0, (now - received[external_id]).total_seconds())
                        )
        if summary.tasks or summary.edited:
            self.services.wake_outbox()

    async def _remove(self, change: Change) -> None:
        platform, comment_id = change.page.platform, change.comment_id
        if await self.services.ingestor.remove(platform, comment_id):
            self.services.wake_outbox()
            return
        async with self.services.db.session() as session:
            page_row = await repo.ensure_page(
                session, platform, change.page.id, change.page.name, change.page.channel
            )
            row, created = await repo.insert_comment(
                session,
                platform=platform,
                external_id=comment_id,
                page_id=page_row.id,
                parent_external_id=change.change.parent_id,
                text=None,
                created_time=change.change.created_time,
                is_deleted=True,
                first_seen_at=utcnow(),
                updated_at=utcnow(),
            )
            if created:
                repo.audit(session, "system", "comment_removed_before_seen", comment_id=row.id)
            already_gone = row.is_deleted
        if not already_gone:  # the add won a race with this remove: close it the normal way
            await self.services.ingestor.remove(platform, comment_id)

    async def _finish(self, outcomes: dict[int, tuple[str, str | None]]) -> None:
        """Mark rows done or failed (with the reason) in one transaction."""
        now = utcnow()
        async with self.services.db.session() as session:
            for event_id, (status, reason) in outcomes.items():
                await session.execute(
                    update(InboxEvent)
                    .where(InboxEvent.id == event_id)
                    .values(
                        status=status,
                        processed_at=now,
                        claimed_until=None,
                        last_error=reason[:2000] if reason else None,
                    )
                )

    async def _retry_later(self, event: ClaimedEvent, reason: str) -> None:
        if event.attempts >= self.max_attempts:
            log.error("inbox #%d failed %d times, giving up: %s", event.id, event.attempts, reason)
            await self._finish({event.id: ("failed", f"gave up after {event.attempts} attempts: {reason}")})
            return
        delay_s = random.uniform(0, min(600.0, 2.0 * 2**event.attempts))
        log.warning(
            "inbox #%d failed (attempt %d), retrying in %.0f s: %s", event.id, event.attempts, delay_s, reason
        )
        async with self.services.db.session() as session:
            row = await session.get(InboxEvent, event.id)
            if row is not None:
                row.claimed_until = utcnow() + timedelta(seconds=delay_s)
                row.last_error = reason[:2000]
