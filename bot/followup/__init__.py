"""Follow-up: reminders, escalations, the daily digest, the weekly report and privacy jobs.

This module holds what those jobs share: how to reach the data, how to link to a task, and how to
write times, durations and labels for people (in Nynorsk).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import PageSettings, Settings
from bot.labels import CATEGORY_LABELS, MONTHS, PLATFORM_LABELS, WEEKDAYS
from bot.labels import FLAG_LABELS as SHARED_FLAG_LABELS
from bot.roles import Role, RoleChecker
from storage.db import Database
from storage.models import TaskRow

LAST_DIGEST_KEY = "followup.last_digest"
LAST_REPORT_KEY = "followup.last_report"
LAST_PURGE_KEY = "followup.last_purge"

# Flags are written in lower case inside sentences here.
FLAG_LABELS = {flag: label.lower() for flag, label in SHARED_FLAG_LABELS.items()}


class FollowUpContext(Protocol):
    """What the follow-up jobs need; `bot.runtime.Services` is one, the CLI builds a lighter one."""

    settings: Settings
    db: Database
    roles: RoleChecker
    wake_outbox: Callable[[], None]


@dataclass
class CommandContext:
    """The follow-up context for one-shot commands: no classifier, no Slack app."""

    settings: Settings
    db: Database
    roles: RoleChecker
    wake_outbox: Callable[[], None] = field(default=lambda: None)


def zone_of(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.deadlines.timezone)


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def flag_labels(flags: str) -> list[str]:
    """Readable labels of a task's comma-separated flags."""
    return [FLAG_LABELS.get(flag, flag) for flag in flags.split(",") if flag]


def slack_permalink(channel: str | None, ts: str | None) -> str | None:
    """A link to a Slack message that works in any workspace the reader belongs to."""
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def task_link(task: TaskRow) -> str | None:
    """The task's Slack message if it was posted, else the comment on the platform."""
    return slack_permalink(task.slack_channel, task.slack_ts) or task.comment.permalink


def received_at(task: TaskRow) -> datetime:
    """When the comment was written (the deadline counts from here)."""
    return task.comment.created_time or task.comment.first_seen_at or task.created_at


def page_settings(settings: Settings, task: TaskRow) -> PageSettings | None:
    page = task.comment.page
    return settings.page(page.platform, page.external_id) if page else None


def page_name(task: TaskRow) -> str:
    page = task.comment.page
    return page.name or page.external_id if page else "Utan side"


def page_title(task: TaskRow) -> str:
    """The page and its platform, like Kinn kommune (Facebook)."""
    page = task.comment.page
    return (
        f"{page_name(task)} ({PLATFORM_LABELS.get(page.platform, page.platform)})"
        if page
        else page_name(task)
    )


async def team_leads_for(context: FollowUpContext, page: PageSettings | None) -> set[str]:
    """The page's own team leads if it names any, else the global team leads (groups expanded)."""
    if page is not None and page.team_leads:
        users: set[str] = set()
        for entry in page.team_leads:
            users |= await context.roles.resolve_group(entry) if entry.startswith("S") else {entry}
        return users
    return await context.roles.members(Role.TEAM_LEAD)


def local_time(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def format_clock(moment: datetime, zone: ZoneInfo) -> str:
    """Like 10:42."""
    return moment.astimezone(zone).strftime("%H:%M")


def format_date(moment: datetime, zone: ZoneInfo) -> str:
    """Like fredag 15. mai 2026."""
    local = moment.astimezone(zone)
    return f"{WEEKDAYS[local.weekday()]} {local.day}. {MONTHS[local.month - 1]} {local.year}"


def format_moment(moment: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """Like i dag kl. 10:42, i går kl. 14:00 or tysdag 12.05. kl. 09:30."""
    local = moment.astimezone(zone)
    clock = local.strftime("%H:%M")
    if now is not None:
        today = now.astimezone(zone).date()
        if local.date() == today:
            return f"i dag kl. {clock}"
        if local.date() == today - timedelta(days=1):
            return f"i går kl. {clock}"
        if local.date() == today + timedelta(days=1):
            return f"i morgon kl. {clock}"
    return f"{WEEKDAYS[local.weekday()]} {local.day:02d}.{local.month:02d}. kl. {clock}"


def format_full_moment(moment: datetime, zone: ZoneInfo) -> str:
    """Like 13. mai 2026 kl. 10:42 (for records that are read later)."""
    local = moment.astimezone(zone)
    return f"{local.day}. {MONTHS[local.month - 1]} {local.year} kl. {local.strftime('%H:%M')}"


def format_duration(duration: timedelta) -> str:
    """Like 45 min, 2 t 15 min or 3 d 4 t."""
    minutes = max(0, int(duration.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} t" if hours else f"{days} d"
    if hours:
        return f"{hours} t {minutes} min" if minutes else f"{hours} t"
    return f"{minutes} min"


def escape_mrkdwn(text: str) -> str:
    """Slack mrkdwn needs only &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def excerpt(text: str | None, limit: int = 80) -> str:
    """The start of a comment on one line, or a note that its text is gone."""
    if text is None:
        return "(teksten er sletta)"
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def masked_excerpt(text: str | None, limit: int = 80) -> str:
    """An excerpt with personal data masked, as the task message in Slack shows the comment."""
    from bot.classifier.pii import mask_personal_data

    return excerpt(mask_personal_data(text) if text else text, limit)


def slack_excerpt(text: str | None, limit: int = 80) -> str:
    """A masked excerpt, escaped for Slack mrkdwn."""
    return escape_mrkdwn(masked_excerpt(text, limit))
