"""Reminders before a task's deadline and escalations after it, each at most once per task."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deadlines import DeadlinePolicy
from bot.domain import TaskStatus
from bot.followup import (
    FollowUpContext,
    category_label,
    escape_mrkdwn,
    format_duration,
    format_moment,
    page_name,
    page_settings,
    received_at,
    slack_excerpt,
    task_link,
    team_leads_for,
    zone_of,
)
from bot.ingest import slack_lane
from storage import repository as repo
from storage.models import TaskRow

log = logging.getLogger(__name__)


@dataclass
class ReminderSummary:
    reminded: int = 0
    escalated: int = 0


def reminder_due_at(policy: DeadlinePolicy, task: TaskRow) -> datetime:
    """When `reminder_share` of the time to the deadline has passed, counted like the deadline itself."""
    received = received_at(task)
    if "urgent" in task.flags.split(","):
        return policy.reminder_at(received, task.deadline_at)
    try:
        duration = policy.settings.duration(task.category)
    except AttributeError:  # a category the deadline settings do not know: share of the wall clock
        return policy.reminder_at(received, task.deadline_at)
    due = policy.add_business_time(received, duration * policy.settings.reminder_share)
    return min(due, task.deadline_at)


async def send_reminders(context: FollowUpContext, now: datetime) -> ReminderSummary:
    """Remind before deadlines and escalate after them; every task gets each message once."""
    policy = DeadlinePolicy(context.settings.deadlines)
    summary = ReminderSummary()
    async with context.db.session() as session:
        upcoming = await _open_tasks(
            session,
            TaskRow.reminded_at.is_(None),
            TaskRow.escalated_at.is_(None),
            TaskRow.deadline_at > now,
        )
        for task in upcoming:
            if reminder_due_at(policy, task) <= now and await _remind(context, session, task, now):
                summary.reminded += 1
        overdue = await _open_tasks(session, TaskRow.escalated_at.is_(None), TaskRow.deadline_at <= now)
        for task in overdue:
            if await _escalate(context, session, task, now):
                summary.escalated += 1
    if summary.reminded or summary.escalated:
        context.wake_outbox()
        log.info("reminders: %d reminded, %d escalated", summary.reminded, summary.escalated)
    return summary


async def _open_tasks(session: AsyncSession, *conditions: object) -> list[TaskRow]:
    statement = (
        select(TaskRow)
        .where(TaskRow.status == TaskStatus.OPEN.value, *conditions)  # type: ignore[arg-type]
        .order_by(TaskRow.deadline_at, TaskRow.id)
    )
    return list((await session.execute(statement)).unique().scalars())


def _summary_line(task: TaskRow) -> str:
    link = task_link(task)
    line = f"«{slack_excerpt(task.comment.text, 140)}» – {category_label(task.category)}"
    return f"{line}\n<{link}|Opne oppgåva>" if link else line


async def _remind(context: FollowUpContext, session: AsyncSession, task: TaskRow, now: datetime) -> bool:
    zone = zone_of(context.settings)
    when = f"{format_moment(task.deadline_at, zone, now)} (om {format_duration(task.deadline_at - now)})"
    if task.assignee:
        text = (
            f":alarm_clock: Påminning: oppgåva di på *{escape_mrkdwn(page_name(task))}* har frist {when}.\n"
            + _summary_line(task)
        )
        queued = await repo.enqueue(
            session,
            "slack.dm",
            {"user": task.assignee, "text": text},
            lane=slack_lane(task.assignee),
            priority=task.priority,
            dedupe_key=f"followup.reminder:{task.id}",
        )
        target = {"target": "dm", "user": task.assignee}
    elif task.slack_channel:
        note = f":alarm_clock: Påminning: fristen for denne oppgåva er {when}. Ingen har teke ho enno."
        queued = await _channel_note(session, task, note, f"followup.reminder:{task.id}")
        target = {"target": "channel", "channel": task.slack_channel}
    else:
        log.warning("task %s has neither an assignee nor a Slack channel; no reminder sent", task.id)
        queued, target = False, {"target": "none"}
    task.reminded_at = now
    if queued:
        repo.audit(session, "system", "reminded", task_id=task.id, **target)
    return queued


async def _escalate(context: FollowUpContext, session: AsyncSession, task: TaskRow, now: datetime) -> bool:
    zone = zone_of(context.settings)
    leads = sorted(await team_leads_for(context, page_settings(context.settings, task)))
    who = f"<@{task.assignee}>" if task.assignee else "ingen har teke ho"
    text = (
        f":rotating_light: Fristen er passert: oppgåva på *{escape_mrkdwn(page_name(task))}* skulle vore "
        f"svara {format_moment(task.deadline_at, zone, now)} ({format_duration(now - task.deadline_at)} "
        f"sidan). Ansvarleg: {who}.\n" + _summary_line(task)
    )
    for lead in leads:
        await repo.enqueue(
            session,
            "slack.dm",
            {"user": lead, "text": text},
            lane=slack_lane(lead),
            priority=task.priority,
            dedupe_key=f"followup.escalation:{task.id}:{lead}",
        )
    if leads:
        note = "Fristen er passert. Teamleiar er varsla: " + ", ".join(f"<@{lead}>" for lead in leads) + "."
    else:
        note = "Fristen er passert, men ingen teamleiar er sett opp for denne sida ([roles] team_leads)."
    if task.slack_channel:
        await _channel_note(session, task, note, f"followup.escalation:{task.id}")
    task.escalated_at = now
    repo.audit(session, "system", "escalated", task_id=task.id, team_leads=leads)
    return True


async def _channel_note(session: AsyncSession, task: TaskRow, text: str, dedupe_key: str) -> bool:
    """A note in the task's thread (queued in the channel's lane, so after the task message itself)."""
    return await repo.enqueue(
        session,
        "slack.thread_note",
        {"task_id": task.id, "text": text, "mrkdwn": True},
        lane=slack_lane(task.slack_channel or ""),
        priority=task.priority,
        dedupe_key=dedupe_key,
    )
