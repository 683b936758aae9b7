"""The follow-up component: scheduled reminders, digest, weekly report, retention; forwarding handlers."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.followup import LAST_DIGEST_KEY, LAST_PURGE_KEY, LAST_REPORT_KEY
from bot.followup.digest import run_daily_digest
from bot.followup.reminders import send_reminders
from bot.followup.report import run_weekly_report
from bot.followup.retention import purge_expired
from bot.forwarding import ARCHIVE, EMAIL, report_failure
from bot.forwarding.archive import ArchiveForwarder
from bot.forwarding.email import EmailForwarder
from bot.outbox import Handler
from bot.runtime import Job, Services
from storage import repository as repo
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


class FollowUpComponent:
    """Plugs the follow-up jobs and the forwarding outbox handlers into the runtime."""

    name = "followup"

    def __init__(
        self,
        services: Services,
        *,
        smtp_tls_context: ssl.SSLContext | None = None,
        retry_base_s: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.services = services
        self.clock = clock or (lambda: datetime.now(UTC))
        settings = services.settings
        self.email = EmailForwarder(
            services.db, settings, tls_context=smtp_tls_context, retry_base_s=retry_base_s, clock=self.clock
        )
        self.archive = ArchiveForwarder(services.db, settings, retry_base_s=retry_base_s, clock=self.clock)

    def routes(self) -> list[web.RouteDef]:
        return []

    def outbox_handlers(self) -> dict[str, Handler]:
        return {"forward.email": self.email, "forward.archive": self.archive}

    def jobs(self) -> list[Job]:
        schedule = self.services.settings.schedule
        return [
            Job("followup.reminders", schedule.reminders, self.run_reminders),
            Job("followup.digest", schedule.digest, self.run_digest),
            Job("followup.weekly_report", schedule.weekly_report, self.run_weekly_report),
            Job("followup.retention", schedule.retention, self.run_retention),
        ]

    async def run_reminders(self) -> None:
        await send_reminders(self.services, self.clock())

    async def run_digest(self) -> None:
        await run_daily_digest(self.services, self.clock())

    async def run_weekly_report(self) -> None:
        await run_weekly_report(self.services, self.clock())

    async def run_retention(self) -> None:
        await purge_expired(self.services.db, self.services.settings, self.clock())

    async def on_outbox_failure(self, message: OutboxMessage, reason: str) -> None:
        """For OutboxWorker(on_failure=...): a forward that failed for good is reported in its thread."""
        destination = {"forward.email": EMAIL, "forward.archive": ARCHIVE}.get(message.kind)
        if destination is not None:
            await report_failure(self.services.db, self.services.settings, message, destination, reason)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        async with self.services.db.session() as session:
            digest = await repo.get_state(session, LAST_DIGEST_KEY)
            report = await repo.get_state(session, LAST_REPORT_KEY)
            purge = await repo.get_state(session, LAST_PURGE_KEY)
        return {
            "ok": True,
            "last_digest": digest.get("at"),
            "last_weekly_report": report.get("at"),
            "last_purge": purge.get("at"),
        }
