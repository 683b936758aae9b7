"""Scheduled jobs: cron in the deadline time zone, once per period across replicas and restarts.

Each firing claims its period (job name + scheduled time) in the job_runs table before it runs, so two
replicas never run the same period twice. At start and every few minutes after, a period that was missed
(the bot was down, or the replica that claimed it died before finishing) is run late within the catch-up
window, so jobs survive restarts and dead replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from bot.errors import ConfigError
from bot.runtime import Job, Services
from storage.db import Database
from storage.models import JobRun

log = logging.getLogger(__name__)

CATCH_UP_WINDOW = timedelta(hours=6)
CATCH_UP_EVERY = timedelta(minutes=5)
# A claim older than this that never finished belongs to a replica that died: another may take it over.
# Longer than any job runs (a poll of thousands of pages takes about a minute).
STALE_CLAIM = timedelta(minutes=30)


def cron_trigger(expression: str, zone: ZoneInfo, job_name: str = "") -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as error:
        raise ConfigError(
            f"schedule for {job_name or 'a job'}: {expression!r} is not a cron expression ({error})"
        ) from None


def previous_fire_time(trigger: CronTrigger, now: datetime, window: timedelta) -> datetime | None:
    """The last time the trigger fired within `window` before `now`, if any."""
    fire = trigger.get_next_fire_time(None, now - window)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


def _period_key(period: datetime) -> str:
    return period.astimezone(UTC).isoformat(timespec="minutes")


async def claim_period(db: Database, job: str, period: datetime) -> bool:
    """True if this process won the right to run `job` for `period`.

    A period claimed long ago and never finished is taken over; the conditional update lets only one
    replica win it.
    """
    key = _period_key(period)
    try:
        async with db.session() as session:
            session.add(JobRun(job=job, period=key))
        return True
    except IntegrityError:
        pass
    now = datetime.now(UTC)
    async with db.session() as session:
        taken = await session.execute(
            update(JobRun)
            .where(
                JobRun.job == job,
                JobRun.period == key,
                JobRun.finished_at.is_(None),
                JobRun.started_at < now - STALE_CLAIM,
            )
            .values(started_at=now)
        )
    if taken.rowcount == 1:
        log.warning("job %s for %s: taking over a claim that never finished", job, key)
        return True
    return False


async def finish_period(db: Database, job: str, period: datetime) -> None:
    async with db.session() as session:
        await session.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.period == _period_key(period))
            .values(finished_at=datetime.now(UTC))
        )


class Scheduler:
    """Runs the components' jobs on their cron schedules."""

    def __init__(
        self, services: Services, jobs: list[Job], *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.db = services.db
        self.zone = ZoneInfo(services.settings.deadlines.timezone)
        self.jobs = jobs
        self.clock = clock or (lambda: datetime.now(UTC))
        self.triggers = {job.name: cron_trigger(job.cron, self.zone, job.name) for job in jobs}
        self._scheduler = AsyncIOScheduler(timezone=self.zone)
        self._catch_up: asyncio.Task[None] | None = None

    async def run_job(self, job: Job, period: datetime) -> bool:
        """Run `job` for `period` unless someone already has. True if it ran here."""
        if not await claim_period(self.db, job.name, period):
            log.debug("job %s for %s already ran or runs elsewhere", job.name, period.isoformat())
            return False
        try:
            await job.run()
        except Exception:
            log.exception("job %s for %s failed", job.name, period.isoformat())
        finally:
            await finish_period(self.db, job.name, period)
        return True

    async def _fire(self, job: Job) -> None:
        now = self.clock().astimezone(self.zone)
        period = previous_fire_time(self.triggers[job.name], now + timedelta(seconds=1), timedelta(days=1))
        await self.run_job(job, period or now.replace(second=0, microsecond=0))

    async def catch_up(self) -> None:
        """Run the periods missed while nobody was running (within the catch-up window)."""
        now = self.clock()
        for job in self.jobs:
            period = previous_fire_time(self.triggers[job.name], now, CATCH_UP_WINDOW)
            if period is not None:
                await self.run_job(job, period)

    def start(self) -> None:
        for job in self.jobs:
            self._scheduler.add_job(
                self._fire,
                self.triggers[job.name],
                args=[job],
                id=job.name,
                name=job.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=300,
            )
        self._scheduler.add_job(
            self.catch_up,
            "interval",
            seconds=CATCH_UP_EVERY.total_seconds(),
            id="scheduler.catch_up",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.start()
        self._catch_up = asyncio.get_running_loop().create_task(self.catch_up(), name="scheduler-catch-up")

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._catch_up is not None:
            self._catch_up.cancel()
