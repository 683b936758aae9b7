"""Reminders before the deadline and escalations after it, with a controllable clock."""

from __future__ import annotations

from bot.domain import Category
from bot.followup.component import FollowUpComponent
from bot.followup.reminders import send_reminders
from bot.runtime import Services
from bot.scheduler import Scheduler
from storage.db import Database
from tests.followup.conftest import (
    BYGG,
    MODERATOR,
    PAGE_LEAD,
    TEAM_LEAD,
    Clock,
    audit_events,
    ingest,
    mark_slack_posted,
    oslo,
    outbox,
    task,
)

COMPLAINT = "Det er heilt uforståeleg at gangvegen til skulen framleis ikkje er brøyta. Dårleg gjort!"
SLACK_TS = "1747000000.000100"


async def complaint(services: Services, comment_id: str = "c1", **options: object) -> int:
    """A negative comment (4 business hours) written on Monday 11 May 2026 at 10:00."""
    created = options.pop("created", oslo(2026, 5, 11, 10, 0))
    task_id = await ingest(
        services, comment_id, COMPLAINT, created=created, category=Category.NEGATIVE, **options
    )  # type: ignore[arg-type]
    assert task_id is not None
    return task_id


async def test_reminder_in_the_thread_then_escalation_to_the_team_lead_each_once(
    services: Services, db: Database
) -> None:
    task_id = await complaint(services)
    await mark_slack_posted(db, task_id, SLACK_TS)
    assert (await task(db, task_id)).deadline_at == oslo(2026, 5, 11, 14, 0)

    assert (await send_reminders(services, oslo(2026, 5, 11, 12, 59))).reminded == 0
    summary = await send_reminders(services, oslo(2026, 5, 11, 13, 0))  # 3 of the 4 hours
    assert (summary.reminded, summary.escalated) == (1, 0)
    [reminder] = await outbox(db, prefix="followup.reminder")
    assert reminder.kind == "slack.thread_note" and reminder.payload["task_id"] == task_id
    assert reminder.lane == "slack:C0KINN"
    assert "Påminning" in reminder.payload["text"] and "i dag kl. 14:00" in reminder.payload["text"]
    assert "om 1 t" in reminder.payload["text"]

    again = await send_reminders(services, oslo(2026, 5, 11, 13, 5))
    assert (again.reminded, again.escalated) == (0, 0)

    summary = await send_reminders(services, oslo(2026, 5, 11, 14, 0))
    assert (summary.reminded, summary.escalated) == (0, 1)
    escalations = await outbox(db, prefix="followup.escalation")
    [dm] = [m for m in escalations if m.kind == "slack.dm"]
    assert dm.payload["user"] == TEAM_LEAD
    assert "Fristen er passert" in dm.payload["text"] and "ingen har teke ho" in dm.payload["text"]
    assert f"https://slack.com/archives/C0KINN/p{SLACK_TS.replace('.', '')}" in dm.payload["text"]
    [note] = [m for m in escalations if m.kind == "slack.thread_note"]
    assert f"<@{TEAM_LEAD}>" in note.payload["text"]

    later = await send_reminders(services, oslo(2026, 5, 11, 16, 0))
    assert (later.reminded, later.escalated) == (0, 0)
    row = await task(db, task_id)
    assert row.reminded_at == oslo(2026, 5, 11, 13, 0) and row.escalated_at == oslo(2026, 5, 11, 14, 0)
    assert [e.detail["target"] for e in await audit_events(db, "reminded")] == ["channel"]
    assert [e.detail["team_leads"] for e in await audit_events(db, "escalated")] == [[TEAM_LEAD]]


async def test_the_assignee_gets_the_reminder_as_a_direct_message(services: Services, db: Database) -> None:
    task_id = await complaint(services)
    assert (await services.tasks.assign(task_id, MODERATOR)).changed

    await send_reminders(services, oslo(2026, 5, 11, 13, 1))

    [reminder] = await outbox(db, prefix="followup.reminder")
    assert reminder.kind == "slack.dm" and reminder.payload["user"] == MODERATOR
    assert "oppgåva di" in reminder.payload["text"] and "Kinn kommune" in reminder.payload["text"]
    await send_reminders(services, oslo(2026, 5, 11, 14, 30))
    [dm] = [m for m in await outbox(db, prefix="followup.escalation") if m.kind == "slack.dm"]
    assert f"Ansvarleg: <@{MODERATOR}>" in dm.payload["text"]


async def test_escalation_goes_to_the_pages_own_team_leads(services: Services, db: Database) -> None:
    await complaint(services, "i1", page=BYGG, post_id="200_1")

    await send_reminders(services, oslo(2026, 5, 11, 15, 0))

    users = [m.payload["user"] for m in await outbox(db, ["slack.dm"])]
    assert users == [PAGE_LEAD]


async def test_reminders_count_business_hours_not_the_weekend(services: Services, db: Database) -> None:
    # Friday 15 May 15:00: half an hour today, the rest from Monday 08:00, deadline Monday 11:30.
    task_id = await complaint(services, created=oslo(2026, 5, 15, 15, 0))
    assert (await task(db, task_id)).deadline_at == oslo(2026, 5, 18, 11, 30)

    assert (await send_reminders(services, oslo(2026, 5, 17, 20, 0))).reminded == 0  # Sunday evening
    assert (await send_reminders(services, oslo(2026, 5, 18, 10, 29))).reminded == 0
    assert (await send_reminders(services, oslo(2026, 5, 18, 10, 30))).reminded == 1


async def test_closed_tasks_get_neither_reminder_nor_escalation(services: Services, db: Database) -> None:
    task_id = await complaint(services)
    assert (await services.tasks.mark_handled(task_id, MODERATOR)).changed

    summary = await send_reminders(services, oslo(2026, 5, 12, 10, 0))

    assert (summary.reminded, summary.escalated) == (0, 0)
    assert await outbox(db, ["slack.dm"]) == []


async def test_the_scheduled_job_reminds_through_the_scheduler(services: Services, db: Database) -> None:
    task_id = await complaint(services)
    clock = Clock(oslo(2026, 5, 11, 13, 2))
    component = FollowUpComponent(services, clock=clock)
    jobs = [job for job in component.jobs() if job.name == "followup.reminders"]

    await Scheduler(services, jobs, clock=clock).catch_up()  # the 13:00 period
    await Scheduler(services, jobs, clock=clock).catch_up()  # a second replica: nothing more

    [reminder] = await outbox(db, prefix="followup.reminder")
    assert reminder.payload["task_id"] == task_id
    assert len(await audit_events(db, "reminded")) == 1
