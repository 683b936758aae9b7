"""The "forward.archive" outbox handler: the case as JSON to an archive system's API, once."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.config import Settings
from bot.followup import zone_of
from bot.forwarding import (
    ARCHIVE,
    ForwardCase,
    already_archived,
    load_case,
    mark_archived,
    report_failure,
)
from bot.forwarding.record import render_record
from bot.logs import register_secret
from bot.outbox import PermanentFailure, RetryLater
from storage import repository as repo
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0
MAX_RETRY_DELAY_S = 3600.0


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def archive_document(case: ForwardCase, record_html: str) -> dict[str, Any]:
    """The JSON body: every field of the case, and the same HTML record the e-mail carries."""
    return {
        "reference": case.reference,
        "task_id": case.task_id,
        "source": {"platform": case.platform, "page_id": case.page_id, "page_name": case.page_name},
        "post": {"text": case.post_text, "link": case.post_link},
        "comment": {
            "text": case.comment_text,
            "author_name": case.author_name,
            "author_id": case.author_id,
            "created_time": _iso(case.comment_time),
            "link": case.comment_link,
        },
        "category": case.category,
        "category_label": case.category_label,
        "flags": case.flags,
        "deadline_at": _iso(case.deadline_at),
        "forwarded_by": case.forwarded_by,
        "forwarded_at": _iso(case.forwarded_at),
        "slack_link": case.slack_link,
        "suggested_reply": case.suggested_reply,
        "final_reply": case.final_reply,
        "thread": [
            {
                "created_time": _iso(entry.created_time),
                "author_name": entry.author_name,
                "text": entry.text,
                "from_page": entry.from_page,
                "is_forwarded": entry.is_forwarded,
            }
            for entry in case.thread
        ],
        "audit": [
            {"at": _iso(entry.at), "actor": entry.actor, "action": entry.action, "detail": entry.detail}
            for entry in case.audit
        ],
        "record_html": record_html,
    }


def _retry_after_s(header: str | None, fallback_s: float) -> float:
    try:
        return max(0.0, float(header)) if header else fallback_s
    except ValueError:
        return fallback_s


class ArchiveForwarder:
    """Outbox handler for "forward.archive": 4xx fails for good, 5xx and timeouts are retried."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        retry_base_s: float = 30.0,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.retry_base_s = retry_base_s
        self.timeout_s = timeout_s
        self.clock = clock or (lambda: datetime.now(UTC))

    def _headers(self, reference: str) -> dict[str, str]:
        headers = {"Idempotency-Key": reference, "Accept": "application/json"}
        token_env = self.settings.forwarding.archive_token_env
        token = os.environ.get(token_env, "") if token_env else ""
        if token:
            register_secret(token)
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def __call__(self, message: OutboxMessage) -> dict[str, object] | None:
        payload = message.payload or {}
        task_id, actor = int(payload.get("task_id", 0)), str(payload.get("actor", ""))
        url = self.settings.forwarding.archive_url
        zone = zone_of(self.settings)
        now = self.clock()
        async with self.db.session() as session:
            task = await repo.get_task(session, task_id)
            if task is None:
                raise PermanentFailure(f"oppgåve {task_id} finst ikkje lenger")
            if await already_archived(session, task_id):
                return {"skipped": "already archived"}
            case = await load_case(session, task, actor, now, zone)
        if not url:
            reason = "ingen adresse til arkivsystemet er sett opp ([forwarding] archive_url)"
            await report_failure(self.db, self.settings, message, ARCHIVE, reason)
            raise PermanentFailure(reason)
        document = archive_document(case, render_record(case, zone))
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http,
                http.post(url, json=document, headers=self._headers(case.reference)) as response,
            ):
                status = response.status
                body = await response.text()
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = f"arkivsystemet svara ikkje ({type(error).__name__}: {error or 'tidsavbrot'})"
            raise await self._retry_or_give_up(message, reason) from None
        if status in (408, 429) or status >= 500:
            reason = f"arkivsystemet svara HTTP {status}"
            delay_s = _retry_after_s(retry_after, self.retry_base_s) if status == 429 else None
            raise await self._retry_or_give_up(message, reason, delay_s)
        if status >= 400:
            reason = f"arkivsystemet avviste førespurnaden med HTTP {status}: {body[:300]}"
            await report_failure(self.db, self.settings, message, ARCHIVE, reason)
            raise PermanentFailure(reason)
        archive_id = _archive_id(body)
        await mark_archived(
            self.db,
            task_id,
            actor=actor,
            url=url,
            reference=case.reference,
            now=now,
            zone=zone,
            archive_id=archive_id,
            http_status=status,
        )
        log.info("task %s archived as %s", task_id, case.reference)
        return {"reference": case.reference, "status": status, "archive_id": archive_id}

    async def _retry_or_give_up(
        self, message: OutboxMessage, reason: str, delay_s: float | None = None
    ) -> RetryLater | PermanentFailure:
        """What to raise: RetryLater, or PermanentFailure (reported in the thread) on the last attempt."""
        if message.attempts + 1 >= self.settings.forwarding.max_attempts:
            await report_failure(self.db, self.settings, message, ARCHIVE, reason)
            return PermanentFailure(reason)
        if delay_s is None:
            delay_s = min(MAX_RETRY_DELAY_S, self.retry_base_s * 4**message.attempts)
        return RetryLater(delay_s, reason, count_attempt=True)


def _archive_id(body: str) -> str | None:
    """The archive's own id for the record, if it answered with one."""
    import json

    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "archive_id", "journalpost_id", "reference"):
            if data.get(key) is not None:
                return str(data[key])
    return None
