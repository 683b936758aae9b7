"""The scheduler on real databases with a controllable clock: once per period, catch-up after restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.errors import ConfigError
from bot.runtime import Job, Services
from bot.scheduler import STALE_CLAIM, Scheduler, cron_trigger
from storage.db import Database
from storage.models import JobRun
from tests.followup.conftest import OSLO, Clock, oslo


class Counter:
    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> None:
        await asyncio.sleep(0.01)  # let a second replica try while the first is running
        self.runs += 1


def scheduler(services: Services, jobs: list[Job], clock: Clock) -> Scheduler:
    return Scheduler(services, jobs, clock=clock)


async def job_runs(db: Database) -> list[tuple[str, str]]:
    async with db.session() as session:
        rows = (await session.execute(select(JobRun).order_by(JobRun.id))).scalars().all()
    return [(row.job, row.period) for row in rows]


@pytest.fixture
def light_services(db: Database) -> Services:
    """The scheduler only needs the settings and the database."""
    return Services(
        settings=Settings(database={"url": db.url}),
        db=db,
        triager=None,  # type: ignore[arg-type]
        ingestor=None,  # type: ignore[arg-type]
        roles=None,  # type: ignore[arg-type]
        tasks=None,  # type: ignore[arg-type]
        admin=None,  # type: ignore[arg-type]
    )


async def test_two_replicas_run_a_period_once(light_services: Services, db: Database) -> None:
    counter = Counter()
    job = Job("digest", "0 8 * * *", counter)
    clock = Clock(oslo(2026, 5, 15, 8, 0))
    first, second = scheduler(light_services, [job], clock), scheduler(light_services, [job], clock)
    period = oslo(2026, 5, 15, 8, 0)

    ran = await asyncio.gather(first.run_job(job, period), second.run_job(job, period))

    assert sorted(ran) == [False, True]
    assert counter.runs == 1
    assert await job_runs(db) == [("digest", period.isoformat(timespec="minutes"))]
    # The next day is a new period.
    assert await second.run_job(job, period + timedelta(days=1))
    assert counter.runs == 2


async def test_catch_up_after_a_restart_runs_a_missed_period_once(
    light_services: Services, db: Database
) -> None:
    counter = Counter()
    job = Job("digest", "0 8 * * *", counter)
    clock = Clock(oslo(2026, 5, 15, 9, 30))  # the bot was down at 08:00

    await scheduler(light_services, [job], clock).catch_up()
    assert counter.runs == 1

    # Restarted again a little later, and a second replica at the same time: nothing runs twice.
    clock.set(oslo(2026, 5, 15, 10, 0))
    await asyncio.gather(
        scheduler(light_services, [job], clock).catch_up(), scheduler(light_services, [job], clock).catch_up()
    )
    assert counter.runs == 1
    assert [period for _job, period in await job_runs(db)] == [
        oslo(2026, 5, 15, 8).isoformat(timespec="minutes")
    ]


async def test_catch_up_skips_periods_older_than_the_window(light_services: Services) -> None:
    counter = Counter()
    job = Job("digest", "0 8 * * *", counter)
    clock = Clock(oslo(2026, 5, 15, 15, 0))  # seven hours late: a digest now would be stale

    await scheduler(light_services, [job], clock).catch_up()
    assert counter.runs == 0

    clock.set(oslo(2026, 5, 16, 8, 10))
    await scheduler(light_services, [job], clock).catch_up()
    assert counter.runs == 1


async def test_periods_follow_oslo_time_across_daylight_saving(
    light_services: Services, db: Database
) -> None:
    counter = Counter()
    job = Job("report", "0 8 * * mon", counter)
    # Monday 30 March 2026 is the first Monday of summer time: 08:00 in Oslo is 06:00 UTC.
    clock = Clock(oslo(2026, 3, 30, 8, 5))
    await scheduler(light_services, [job], clock).catch_up()
    assert counter.runs == 1
    assert await job_runs(db) == [("report", "2026-03-30T06:00+00:00")]


async def test_a_failing_job_is_not_rerun_for_its_period(light_services: Services, db: Database) -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the job broke")

    job = Job("retention", "30 2 * * *", failing)
    clock = Clock(oslo(2026, 5, 15, 2, 45))
    assert await scheduler(light_services, [job], clock).run_job(job, oslo(2026, 5, 15, 2, 30))
    await scheduler(light_services, [job], clock).catch_up()
    assert calls == 1
    async with db.session() as session:
        run = (await session.execute(select(JobRun))).scalar_one()
    assert run.finished_at is not None


def test_a_bad_cron_expression_names_the_job() -> None:
    with pytest.raises(ConfigError, match=r"followup\.digest.*not a cron expression"):
        cron_trigger("every morning", OSLO, "followup.digest")


async def test_a_claim_that_never_finished_is_taken_over_once_it_is_stale(
    light_services: Services, db: Database
) -> None:
    counter = Counter()
    job = Job("digest", "0 8 * * *", counter)
    period = oslo(2026, 5, 15, 8, 0)
    clock = Clock(oslo(2026, 5, 15, 9, 0))
    now = datetime.now(UTC)
    async with db.session() as session:  # a replica claimed the period a minute ago and is still at it
        session.add(
            JobRun(
                job="digest",
                period=period.astimezone(UTC).isoformat(timespec="minutes"),
                started_at=now - timedelta(minutes=1),
            )
        )

    assert not await scheduler(light_services, [job], clock).run_job(job, period)
    assert counter.runs == 0

    async with db.session() as session:  # ... but it died long ago: one of two replicas takes it over
        await session.execute(update(JobRun).values(started_at=now - STALE_CLAIM - timedelta(minutes=1)))
    ran = await asyncio.gather(
        scheduler(light_services, [job], clock).run_job(job, period),
        scheduler(light_services, [job], clock).run_job(job, period),
    )
    assert sorted(ran) == [False, True]
    assert counter.runs == 1
    async with db.session() as session:
        finished = (await session.execute(select(JobRun.finished_at))).scalars().all()
    assert len(finished) == 1 and finished[0] is not None
    # A finished period is never taken over again, however old.
    assert not await scheduler(light_services, [job], clock).run_job(job, period)
