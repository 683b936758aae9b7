"""The Meta component: webhooks, the inbox processor, the poll job and the write-back handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from aiohttp import web
from sqlalchemy import func, select

from bot.meta.client import GraphClient, build_http_client
from bot.meta.inbox import InboxProcessor, PostResolver
from bot.meta.sync import TOKEN_PAUSE_PREFIX, PageSyncer, PageSyncResult, ProgressCallback
from bot.meta.webhooks import WebhookEndpoint
from bot.meta.writeback import WriteBack
from bot.outbox import Handler
from bot.runtime import Job, Services
from storage.models import InboxEvent, OutboxMessage, Page, SyncState
from storage.types import utcnow

log = logging.getLogger(__name__)

STALE_AFTER_POLL_INTERVALS = 3
STOP_TIMEOUT_S = 30.0


def poll_cron(poll_interval_s: int) -> str:
    """A cron expression that fires about every `poll_interval_s` seconds (at least once a minute)."""
    minutes = max(1, round(poll_interval_s / 60))
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = max(1, round(minutes / 60))
    return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


class MetaComponent:
    """Facebook Pages and Instagram accounts: polling, webhooks, replies and hiding."""

    name = "meta"

    def __init__(self, services: Services, *, client_options: dict[str, Any] | None = None) -> None:
        self.services = services
        self.client_options = client_options or {}
        self.settings = services.settings
        self._http: httpx.AsyncClient | None = None
        self._client: GraphClient | None = None
        self.posts = PostResolver(services, self.client)
        self.inbox = InboxProcessor(services, self.posts)
        self.webhooks = WebhookEndpoint(self.settings, services.db, on_stored=self.inbox.wake)
        self.writeback = WriteBack(services, self.client)
        self._inbox_task: asyncio.Task[None] | None = None
        self._started_at = utcnow()

    def client(self) -> GraphClient:
        """The one shared Graph API client (made on first use, inside the running event loop)."""
        if self._client is None:
            self._http = build_http_client(self.settings.meta)
            self._client = GraphClient(self.settings.meta, self._http, **self.client_options)
        return self._client

    def syncer(self, progress: ProgressCallback | None = None) -> PageSyncer:
        return PageSyncer(self.services, self.client(), progress=progress)

    # ------------------------------------------------------------------ Component protocol

    def routes(self) -> list[web.RouteDef]:
        return self.webhooks.routes()

    def outbox_handlers(self) -> dict[str, Handler]:
        return {"meta.reply": self.writeback.reply, "meta.hide": self.writeback.hide}

    async def on_outbox_failure(self, message: OutboxMessage, reason: str) -> None:
        await self.writeback.on_failure(message, reason)

    def jobs(self) -> list[Job]:
        return [Job("meta.poll", poll_cron(self.settings.meta.poll_interval_s), self.poll)]

    async def poll(self) -> list[PageSyncResult]:
        """The scheduled safety net beside webhooks: one sync of every page."""
        results = await self.syncer().sync_all()
        for result in results:
            if result.failed:
                log.warning("sync of %s %s failed: %s", result.platform, result.id, "; ".join(result.errors))
            elif result.new_comments:
                log.info("sync of %s %s: %d new comments", result.platform, result.id, result.new_comments)
        return results

    async def start(self) -> None:
        self.client()
        self._started_at = utcnow()
        self._inbox_task = self.inbox.start()

    async def stop(self) -> None:
        """Let the inbox finish the delivery in progress, then close the HTTP client."""
        if self._inbox_task is not None:
            self.inbox.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._inbox_task), timeout=STOP_TIMEOUT_S)
            except TimeoutError:
                self._inbox_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._inbox_task
            self._inbox_task = None
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._http = self._client = None

    async def health(self) -> dict[str, Any]:
        """Last successful sync per page and paused pages; not ok on a token problem or a stale page."""
        now = utcnow()
        stale_after_s = STALE_AFTER_POLL_INTERVALS * self.settings.meta.poll_interval_s
        healthy = True
        pages: list[dict[str, Any]] = []
        async with self.services.db.session() as session:
            for page in self.settings.pages:
                row = (
                    await session.execute(
                        select(Page).where(Page.platform == page.platform, Page.external_id == page.id)
                    )
                ).scalar_one_or_none()
                state = await session.get(SyncState, row.id) if row is not None else None
                last_success = state.last_success_at if state else None
                entry: dict[str, Any] = {
                    "platform": page.platform,
                    "id": page.id,
                    "name": page.name,
                    "last_success_at": last_success.isoformat() if last_success else None,
                    "paused": bool(row and row.paused),
                }
                if row is not None and row.paused:
                    entry["paused_reason"] = row.paused_reason
                if state is not None and state.consecutive_failures:
                    entry["consecutive_failures"] = state.consecutive_failures
                    entry["last_error"] = state.last_error
                token_problem = bool(
                    row and row.paused and (row.paused_reason or "").startswith(TOKEN_PAUSE_PREFIX)
                )
                reference = last_success or self._started_at
                stale = not entry["paused"] and (now - reference).total_seconds() > stale_after_s
                if token_problem:
                    entry["problem"] = "the access token does not work; the page is paused"
                elif stale:
                    entry["problem"] = f"no successful sync for more than {stale_after_s} s"
                healthy = healthy and not token_problem and not stale
                pages.append(entry)
            inbox = dict(
                (
                    await session.execute(
                        select(InboxEvent.status, func.count())
                        .where(InboxEvent.status.in_(["pending", "failed"]))
                        .group_by(InboxEvent.status)
                    )
                ).all()
            )
        return {
            "ok": healthy,
            "pages": pages,
            "inbox": {"pending": inbox.get("pending", 0), "failed": inbox.get("failed", 0)},
        }
