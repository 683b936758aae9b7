"""Polling sync: new and changed comments since the last sync, page by page, paging to the end.

A quiet Facebook page costs one call: the Page's posts with their comments expanded in the same
request, both limited by `since`. The newest created_time seen is stored (never cursors, which go
stale) and the next sync starts a little before it; the ingest path dedupes the overlap.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import metrics
from bot.config import PageSettings, Settings, secret
from bot.errors import ConfigError, InputError
from bot.ingest import Incoming, slack_lane
from bot.logs import register_secret
from bot.meta.client import GraphClient
from bot.meta.errors import InvalidRequest, MetaError, RateLimited, TokenInvalid
from bot.meta.mapping import (
    PostInfo,
    facebook_comment,
    instagram_comment,
    list_of,
    media_from_graph,
    post_from_graph,
)
from bot.runtime import Services
from storage import repository as repo
from storage.models import SyncState
from storage.types import utcnow

log = logging.getLogger(__name__)

# Comments created a little before the newest one seen may become visible late; dedup makes re-reading cheap.
OVERLAP = timedelta(minutes=10)
# Without any earlier sync (and without --backfill-days) only the last day is fetched, so a new page
# does not flood Slack with months of old comments.
FIRST_SYNC_LOOKBACK = timedelta(days=1)
# Instagram's media edge filters on the media's own time, not on its comments: new comments on media
# older than this are left to webhooks.
INSTAGRAM_MEDIA_LOOKBACK = timedelta(days=30)
POSTS_PER_REQUEST = 25
MEDIA_PER_REQUEST = 50
FACEBOOK_COMMENTS_PER_REQUEST = 100
INSTAGRAM_COMMENTS_PER_REQUEST = 50  # Instagram's maximum
INGEST_CHUNK = 200
MAX_PAGES_PER_EDGE = 2000

FACEBOOK_COMMENT_FIELDS = "id,message,created_time,from,parent{id},is_hidden,permalink_url"
INSTAGRAM_COMMENT_FIELDS = "id,text,timestamp,from,username,hidden"
TOKEN_PAUSE_PREFIX = "token:"
INSTAGRAM_COUNTS_KEY = "meta.instagram_comment_counts:{page_id}"

ProgressCallback = Callable[[PageSettings, int], None]


# ---------------------------------------------------------------------- page state shared by the connectors


def page_token(settings: Settings, page: PageSettings) -> str:
    """The page's access token from its environment variable; ConfigError names the key if it is unset."""
    index = next((i for i, p in enumerate(settings.pages) if p is page or p == page), 0)
    token = secret(page.access_token_env, f"pages.{index}.access_token_env ({page.name})")
    register_secret(token)
    return token


def token_alert_text(page: PageSettings, error: TokenInvalid) -> str:
    code = f"190/{error.subcode}" if error.subcode else "190"
    return (
        f":warning: Tilgangstokenet for {page.name} ({page.platform} {page.id}) verkar ikkje lenger: "
        f"{error.meaning} (Graph-feil {code}). Kommentarvakt har pausa sida; dei andre sidene går som før.\n"
        f"Gjer dette: lag eit nytt sidetilgangstoken, set det i miljøvariabelen {page.access_token_env} "
        f"(og start Kommentarvakt på nytt) og skriv `/kommentarvakt resume {page.id}`."
    )


async def pause_for_token_problem(
    services: Services, page: PageSettings, error: TokenInvalid, token: str
) -> None:
    """Pause this page (the others keep going) and alert the admins once per page and token."""
    code = f"190/{error.subcode}" if error.subcode else "190"
    reason = f"{TOKEN_PAUSE_PREFIX} {error.meaning} (Graph-feil {code})"
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    async with services.db.session() as session:
        row = await repo.ensure_page(session, page.platform, page.id, page.name, page.channel)
        if not row.paused:
            row.paused, row.paused_reason = True, reason
            repo.audit(session, "system", "page_paused", page=page.id, reason=reason)
        await repo.enqueue(
            session,
            "slack.alert",
            {"text": token_alert_text(page, error)},
            lane=slack_lane(services.settings.slack.admin_channel),
            priority=0,
            dedupe_key=f"meta.token_alert:{page.platform}:{page.id}:{fingerprint}",
        )
    log.error("paused %s %s: the access token does not work (%s)", page.platform, page.id, error.meaning)
    services.wake_outbox()


# ---------------------------------------------------------------------- results


@dataclass
class PageSyncResult:
    """What one sync of one page did (JSON-able through to_dict)."""

    page: str
    platform: str
    id: str
    calls: int = 0
    fetched: int = 0
    new_comments: int = 0
    edited: int = 0
    from_page: int = 0
    duplicates: int = 0
    tasks: int = 0
    malformed: int = 0  # items in Meta's answers that could not be read
    errors: list[str] = field(default_factory=list)
    paused: str | None = None
    since: str | None = None
    newest_created_time: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Run:
    """One page's sync in progress: the token, the window and what was collected."""

    page: PageSettings
    token: str
    since: datetime
    result: PageSyncResult
    newest: datetime | None = None
    pending: list[Incoming] = field(default_factory=list)

    def note_time(self, value: datetime | None) -> None:
        if value is not None and (self.newest is None or value > self.newest):
            self.newest = value


class PageSyncer:
    """Fetches each page's new comments and hands them to the ingest path."""

    def __init__(
        self, services: Services, client: GraphClient, *, progress: ProgressCallback | None = None
    ) -> None:
        self.services = services
        self.client = client
        self.progress = progress

    async def sync_all(
        self,
        pages: list[PageSettings] | None = None,
        *,
        backfill_days: int | None = None,
        concurrency: int | None = None,
    ) -> list[PageSyncResult]:
        """Sync every page; a failing page never stops the others."""
        settings = self.services.settings
        pages = list(settings.pages if pages is None else pages)
        concurrency = concurrency or settings.meta.sync_concurrency
        # SQLite has one writer at a time: parallel pages would only wait for (or trip over) its lock.
        gate = asyncio.Semaphore(concurrency if self.services.db.is_postgres else 1)

        async def one(page: PageSettings) -> PageSyncResult:
            async with gate:
                try:
                    return await self.sync_page(page, backfill_days=backfill_days)
                except Exception as error:  # one broken page must not stop the rest
                    log.exception("sync of %s %s failed unexpectedly", page.platform, page.id)
                    failed = PageSyncResult(page.name, page.platform, page.id)
                    failed.errors.append(f"unexpected {type(error).__name__}: {error}")
                    return failed

        return list(await asyncio.gather(*(one(page) for page in pages)))

    async def sync_page(self, page: PageSettings, *, backfill_days: int | None = None) -> PageSyncResult:
        result = PageSyncResult(page.name, page.platform, page.id)
        async with self.services.db.session() as session:
            row = await repo.ensure_page(session, page.platform, page.id, page.name, page.channel)
            page_row_id, paused, paused_reason = row.id, row.paused, row.paused_reason
            state = await session.get(SyncState, page_row_id)
            newest_before = state.newest_created_time if state else None
        if paused:
            result.paused = paused_reason or "paused"
            return result
        try:
            token = page_token(self.services.settings, page)
        except ConfigError as error:
            result.errors.append(str(error))
            await self._save_state(page_row_id, None, result)
            return result
        since = self.since(newest_before, backfill_days)
        run = _Run(page, token, since, result)
        result.since = since.isoformat()
        calls_before = self.client.calls_for(page.id)
        try:
            if page.platform == "instagram":
                await self._sync_instagram(run, full=backfill_days is not None)
            else:
                await self._sync_facebook(run)
            await self._flush(run)
        except RateLimited as error:
            result.errors.append(
                f"rate limited by Meta: waiting {error.retry_after_s:.0f} s before calling again"
            )
        except TokenInvalid as error:
            await pause_for_token_problem(self.services, page, error, token)
            result.errors.append(f"the access token does not work ({error.meaning}); the page is paused")
        except MetaError as error:
            result.errors.append(f"{type(error).__name__}: {error}")
        except InputError as error:
            result.errors.append(f"the Graph API answered in an unexpected shape: {error}")
        finally:
            result.calls = self.client.calls_for(page.id) - calls_before
        await self._flush(run)  # what was fetched before a failure is stored all the same
        newest = max((t for t in (newest_before, run.newest) if t is not None), default=None)
        result.newest_created_time = newest.isoformat() if newest else None
        await self._save_state(page_row_id, run.newest if not result.failed else None, result)
        return result

    @staticmethod
    def since(newest: datetime | None, backfill_days: int | None, now: datetime | None = None) -> datetime:
        now = now or utcnow()
        since = newest - OVERLAP if newest is not None else now - FIRST_SYNC_LOOKBACK
        if backfill_days:
            since = min(since, now - timedelta(days=backfill_days))
        return since

    # ------------------------------------------------------------------ Facebook

    async def _sync_facebook(self, run: _Run) -> None:
        since_unix = int(run.since.timestamp())
        fields = (
            "id,message,created_time,permalink_url,"
            f"comments.limit({FACEBOOK_COMMENTS_PER_REQUEST}).filter(stream).since({since_unix})"
            f"{{{FACEBOOK_COMMENT_FIELDS}}}"
        )
        first = await self.client.get(
            f"{run.page.id}/published_posts",
            token=run.token,
            page_id=run.page.id,
            params={"fields": fields, "since": since_unix, "limit": POSTS_PER_REQUEST},
        )
        async for posts in self._follow(run, first, "posts"):
            for raw in posts:
                try:
                    post = post_from_graph(raw)
                except InputError as error:
                    self._skip(run, "post", error)
                    continue
                run.note_time(post.created_time)
                await self._facebook_comments(run, post, raw.get("comments"))

    async def _facebook_comments(self, run: _Run, post: PostInfo, edge: Any) -> None:
        if not isinstance(edge, dict):
            return
        seen: set[str] = set()
        thread_newest = run.since
        try:
            async for comments in self._follow(run, edge, f"comments on {post.id}"):
                for raw in comments:
                    incoming = self._add(run, seen, raw, lambda item: facebook_comment(item, post, run.page))
                    created = incoming.comment.created_time if incoming else None
                    if created is not None and created > thread_newest:
                        thread_newest = created
                await self._flush_if_full(run)
        except InvalidRequest as error:
            if "cursor" not in error.api_message.lower():
                raise
            # Very long threads: "(#100) The After Cursor specified exceeds the max limit". Go on by time.
            log.info("comments on %s: cursor limit reached; continuing by time", post.id)
            await self._facebook_comments_by_time(run, post, seen, thread_newest)

    async def _facebook_comments_by_time(
        self, run: _Run, post: PostInfo, seen: set[str], newest: datetime
    ) -> None:
        """Read the rest of a thread in chronological windows that start at the newest comment seen."""
        for _ in range(MAX_PAGES_PER_EDGE):
            params = {
                "fields": FACEBOOK_COMMENT_FIELDS,
                "filter": "stream",
                "order": "chronological",
                "since": int(newest.timestamp()),
                "limit": FACEBOOK_COMMENTS_PER_REQUEST,
            }
            answer = await self.client.get(
                f"{post.id}/comments", token=run.token, page_id=run.page.id, params=params
            )
            added = 0
            for raw in list_of(answer.get("data"), "comments"):
                incoming = self._add(run, seen, raw, lambda item: facebook_comment(item, post, run.page))
                if incoming is not None:
                    added += 1
                    created = incoming.comment.created_time
                    if created is not None and created > newest:
                        newest = created
            await self._flush_if_full(run)
            if added == 0:
                return

    # ------------------------------------------------------------------ Instagram

    async def _sync_instagram(self, run: _Run, *, full: bool) -> None:
        media_since = min(run.since, utcnow() - INSTAGRAM_MEDIA_LOOKBACK)
        replies = f"replies.limit({INSTAGRAM_COMMENTS_PER_REQUEST}){{{INSTAGRAM_COMMENT_FIELDS}}}"
        comment_fields = f"{INSTAGRAM_COMMENT_FIELDS},{replies}"
        fields = (
            "id,caption,timestamp,permalink,comments_count,"
            f"comments.limit({INSTAGRAM_COMMENTS_PER_REQUEST}){{{comment_fields}}}"
        )
        known_counts = await self._load_counts(run.page)
        counts: dict[str, int] = {}
        first = await self.client.get(
            f"{run.page.id}/media",
            token=run.token,
            page_id=run.page.id,
            params={"fields": fields, "since": int(media_since.timestamp()), "limit": MEDIA_PER_REQUEST},
        )
        async for media_list in self._follow(run, first, "media"):
            for raw in media_list:
                try:
                    media = media_from_graph(raw)
                except InputError as error:
                    self._skip(run, "media", error)
                    continue
                count = raw.get("comments_count")
                if isinstance(count, int):
                    counts[media.id] = count
                # Instagram comments cannot be limited by time: only page through a media's comments when
                # its comment count moved since the last sync (or on a backfill).
                changed = full or not isinstance(count, int) or known_counts.get(media.id) != count
                await self._instagram_comments(run, media, raw.get("comments"), follow=changed)
        await self._flush(run)
        await self._save_counts(run.page, counts)

    async def _instagram_comments(self, run: _Run, media: PostInfo, edge: Any, *, follow: bool) -> None:
        if not isinstance(edge, dict):
            return
        seen: set[str] = set()

        def recent(incoming: Incoming) -> bool:
            created = incoming.comment.created_time
            return created is None or created >= run.since

        async for comments in self._follow(run, edge, f"comments on {media.id}", follow=follow):
            for raw in comments:
                self._add(run, seen, raw, lambda item: instagram_comment(item, media, run.page), keep=recent)
                if not isinstance(raw, dict):
                    continue
                # An old comment can have new replies: its replies are read even when it is not kept.
                parent_id, replies = str(raw.get("id", "")), raw.get("replies")
                if isinstance(replies, dict) and parent_id:
                    async for reply_page in self._follow(
                        run, replies, f"replies to {parent_id}", follow=follow
                    ):
                        for reply in reply_page:
                            self._add(
                                run,
                                seen,
                                reply,
                                lambda item, parent=parent_id: instagram_comment(
                                    item, media, run.page, parent
                                ),
                                keep=recent,
                            )
            await self._flush_if_full(run)

    async def _load_counts(self, page: PageSettings) -> dict[str, int]:
        async with self.services.db.session() as session:
            state = await repo.get_state(session, INSTAGRAM_COUNTS_KEY.format(page_id=page.id))
        return {str(key): value for key, value in state.items() if isinstance(value, int)}

    async def _save_counts(self, page: PageSettings, counts: dict[str, int]) -> None:
        async with self.services.db.session() as session:
            await repo.set_state(session, INSTAGRAM_COUNTS_KEY.format(page_id=page.id), counts)

    # ------------------------------------------------------------------ shared machinery

    async def _follow(
        self, run: _Run, first: dict[str, Any], what: str, *, follow: bool = True
    ) -> AsyncIterator[list[Any]]:
        """Yield the data of `first` and of every page after it, to the end.

        Guards against Graph's paging bugs: a `next` link seen before, or a page that only repeats ids
        already seen (the "same 25 ids on every page" pitfall), ends the walk instead of looping forever.
        An empty page may still have `next`, so it does not end the walk.
        """
        response = first
        seen_ids: set[str] = set()
        seen_links: set[str] = set()
        for _ in range(MAX_PAGES_PER_EDGE):
            data = list_of(response.get("data"), f"{what} data")
            ids = {str(item["id"]) for item in data if isinstance(item, dict) and "id" in item}
            if ids and ids <= seen_ids:
                log.warning("%s: Graph returned a page of ids already seen; stopping there", what)
                return
            seen_ids |= ids
            yield data
            paging = response.get("paging")
            next_link = paging.get("next") if isinstance(paging, dict) else None
            if not follow or not isinstance(next_link, str) or not next_link or next_link in seen_links:
                return
            seen_links.add(next_link)
            response = await self.client.get_next(next_link, token=run.token, page_id=run.page.id)
        log.warning("%s: stopped after %d pages", what, MAX_PAGES_PER_EDGE)

    def _add(
        self,
        run: _Run,
        seen: set[str],
        raw: Any,
        mapper: Callable[[Any], Incoming],
        *,
        keep: Callable[[Incoming], bool] | None = None,
    ) -> Incoming | None:
        try:
            incoming = mapper(raw)
        except InputError as error:
            self._skip(run, "comment", error)
            return None
        if incoming.comment.id in seen:
            return None
        seen.add(incoming.comment.id)
        run.note_time(incoming.comment.created_time)
        if keep is not None and not keep(incoming):
            return None
        run.pending.append(incoming)
        run.result.fetched += 1
        return incoming

    def _skip(self, run: _Run, what: str, error: InputError) -> None:
        run.result.malformed += 1
        log.warning(
            "%s %s: skipped a malformed %s from the Graph API: %s",
            run.page.platform,
            run.page.id,
            what,
            error,
        )

    async def _flush_if_full(self, run: _Run) -> None:
        if len(run.pending) >= INGEST_CHUNK:
            await self._flush(run)

    async def _flush(self, run: _Run) -> None:
        if not run.pending:
            return
        batch, run.pending = run.pending, []
        summary = await self.services.ingestor.ingest_many(batch)
        result = run.result
        result.new_comments += summary.new
        result.edited += summary.edited
        result.from_page += summary.from_page
        result.duplicates += summary.duplicates
        result.tasks += summary.tasks
        if summary.new:
            metrics.COMMENTS_INGESTED.labels(run.page.platform, "poll").inc(summary.new)
        if summary.tasks:
            self.services.wake_outbox()
        if self.progress is not None:
            self.progress(run.page, result.fetched)

    async def _save_state(self, page_row_id: int, newest: datetime | None, result: PageSyncResult) -> None:
        now = utcnow()
        async with self.services.db.session() as session:
            state = await session.get(SyncState, page_row_id)
            if state is None:
                state = SyncState(page_id=page_row_id, consecutive_failures=0)
                session.add(state)
            if result.failed:
                state.last_error = "; ".join(result.errors)[:2000]
                state.last_error_at = now
                state.consecutive_failures = (state.consecutive_failures or 0) + 1
                return
            if newest is not None and (
                state.newest_created_time is None or newest > state.newest_created_time
            ):
                state.newest_created_time = newest
            state.last_success_at = now
            state.consecutive_failures = 0
            state.last_error = None
