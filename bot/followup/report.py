"""The weekly report: volume per category and page, response times, deadlines kept, trend, and a chart."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from bot.domain import TaskStatus
from bot.followup import (
    CATEGORY_LABELS,
    LAST_REPORT_KEY,
    FollowUpContext,
    category_label,
    escape_mrkdwn,
    format_duration,
    page_title,
    received_at,
    zone_of,
)
from bot.ingest import slack_lane
from storage import repository as repo
from storage.models import CommentRow, TaskRow

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class WeekStats:
    """What happened to the comments received in one week [start, end)."""

    start: datetime
    end: datetime
    total: int = 0
    per_category: Counter[str] = field(default_factory=Counter)
    per_page: Counter[str] = field(default_factory=Counter)
    first_response_s: list[float] = field(default_factory=list)
    judged: int = 0  # answered, or still open after the deadline
    within_deadline: int = 0

    @property
    def median_first_response_s(self) -> float | None:
        return statistics.median(self.first_response_s) if self.first_response_s else None

    @property
    def share_within_deadline(self) -> float | None:
        return self.within_deadline / self.judged if self.judged else None


@dataclass
class WeeklyReport:
    this_week: WeekStats
    last_week: WeekStats
    text: str
    png: bytes
    filename: str
    title: str


def week_bounds(now: datetime, zone: ZoneInfo, weeks_back: int = 1) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 (local time), `weeks_back` whole weeks before this one."""
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday() + 7 * weeks_back)
    start = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def week_stats(context: FollowUpContext, start: datetime, end: datetime, now: datetime) -> WeekStats:
    """Count and time the tasks whose comments were written in [start, end)."""
    stats = WeekStats(start, end)
    received_in_week = or_(
        and_(CommentRow.created_time >= start, CommentRow.created_time < end),
        and_(CommentRow.created_time.is_(None), TaskRow.created_at >= start, TaskRow.created_at < end),
    )
    async with context.db.session() as session:
        tasks = (
            (await session.execute(select(TaskRow).join(TaskRow.comment).where(received_in_week)))
            .unique()
            .scalars()
            .all()
        )
    for task in tasks:
        stats.total += 1
        stats.per_category[task.category] += 1
        stats.per_page[page_title(task)] += 1
        if task.first_response_at is not None:
            stats.first_response_s.append(
                max(0.0, (task.first_response_at - received_at(task)).total_seconds())
            )
            stats.judged += 1
            stats.within_deadline += task.first_response_at <= task.deadline_at
        elif task.status == TaskStatus.OPEN.value and task.deadline_at <= now:
            stats.judged += 1
    return stats


def _trend(current: float, previous: float, unit: str = "") -> str:
    difference = current - previous
    if abs(difference) < 1e-9:
        return "uendra"
    sign = "+" if difference > 0 else "−"
    return f"{sign}{abs(difference):g}{unit}"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)} %"


def _median(stats: WeekStats) -> str:
    median = stats.median_first_response_s
    return "–" if median is None else format_duration(timedelta(seconds=median))


def report_title(stats: WeekStats, zone: ZoneInfo) -> str:
    first = stats.start.astimezone(zone)
    last = (stats.end - timedelta(seconds=1)).astimezone(zone)
    return f"Vekerapport veke {first.isocalendar().week} ({first:%d.%m.}–{last:%d.%m.%Y})"


def render_report_text(this: WeekStats, last: WeekStats, zone: ZoneInfo) -> str:
    """The report as Nynorsk Slack mrkdwn, with the trend against the week before."""
    lines = [f"*{report_title(this, zone)}*"]
    lines.append(
        f"• Kommentarar som trong oppfølging: *{this.total}* ({_trend(this.total, last.total)} frå veka før, "
        f"som hadde {last.total})"
    )
    median_trend = ""
    if this.median_first_response_s is not None and last.median_first_response_s is not None:
        difference_s = this.median_first_response_s - last.median_first_response_s
        median_trend = (
            ", uendra" if abs(difference_s) < 60 else (", no raskare" if difference_s < 0 else ", no seinare")
        )
    lines.append(f"• Mediantid til første svar: *{_median(this)}* (veka før: {_median(last)}{median_trend})")
    share_trend = ""
    if this.share_within_deadline is not None and last.share_within_deadline is not None:
        points = round(this.share_within_deadline * 100) - round(last.share_within_deadline * 100)
        share_trend = f", {_trend(points, 0, ' prosentpoeng')}"
    lines.append(
        f"• Svart innan fristen: *{_percent(this.share_within_deadline)}* av {this.judged} "
        f"(veka før: {_percent(last.share_within_deadline)}{share_trend})"
    )
    if this.per_category:
        parts = [
            f"{category_label(category)} {this.per_category[category]} "
            f"({_trend(this.per_category[category], last.per_category[category])})"
            for category in CATEGORY_LABELS
            if this.per_category[category] or last.per_category[category]
        ]
        lines.append("*Per kategori:* " + ", ".join(parts))
    if this.per_page:
        parts = [f"{escape_mrkdwn(page)} {count}" for page, count in this.per_page.most_common()]
        lines.append("*Per side:* " + ", ".join(parts))
    return "\n".join(lines)


def render_chart(this: WeekStats, last: WeekStats, title: str) -> bytes:
    """A PNG with volume per category and per page, this week beside the week before (Agg backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 5.5), dpi=100)
    FigureCanvasAgg(figure)
    by_category, by_page = figure.subplots(1, 2)
    categories = list(CATEGORY_LABELS)
    positions = range(len(categories))
    width = 0.4
    by_category.bar(
        [p - width / 2 for p in positions],
        [last.per_category[c] for c in categories],
        width,
        label="Veka før",
        color="#b0b7c3",
    )
    by_category.bar(
        [p + width / 2 for p in positions],
        [this.per_category[c] for c in categories],
        width,
        label="Denne veka",
        color="#1f5fa8",
    )
    by_category.set_xticks(list(positions), [CATEGORY_LABELS[c] for c in categories], rotation=20)
    by_category.set_title("Kommentarar per kategori")
    by_category.legend()
    pages = sorted(set(this.per_page) | set(last.per_page))
    if pages:
        rows = range(len(pages))
        by_page.barh([r + width / 2 for r in rows], [last.per_page[p] for p in pages], width, color="#b0b7c3")
        by_page.barh([r - width / 2 for r in rows], [this.per_page[p] for p in pages], width, color="#1f5fa8")
        by_page.set_yticks(list(rows), pages)
        by_page.invert_yaxis()
    else:
        by_page.text(0.5, 0.5, "Ingen kommentarar", ha="center", va="center", transform=by_page.transAxes)
        by_page.set_yticks([])
    by_page.set_title("Kommentarar per side")
    figure.suptitle(
        f"{title}\nMediantid til første svar: {_median(this)} · svart innan fristen: "
        f"{_percent(this.share_within_deadline)}"
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def build_weekly_report(context: FollowUpContext, now: datetime) -> WeeklyReport:
    """The report for the last whole week before `now`, compared with the week before that."""
    zone = zone_of(context.settings)
    this_start, this_end = week_bounds(now, zone, 1)
    last_start, last_end = week_bounds(now, zone, 2)
    this = await week_stats(context, this_start, this_end, now)
    last = await week_stats(context, last_start, last_end, now)
    title = report_title(this, zone)
    png = await asyncio.to_thread(render_chart, this, last, title)
    local_start = this_start.astimezone(zone)
    filename = f"vekerapport-{local_start.isocalendar().year}-{local_start.isocalendar().week:02d}.png"
    return WeeklyReport(this, last, render_report_text(this, last, zone), png, filename, title)


def report_channels(context: FollowUpContext) -> list[str]:
    """Every page channel and the admin channel, once each."""
    channels = [page.channel for page in context.settings.pages] + [context.settings.slack.admin_channel]
    return list(dict.fromkeys(channel for channel in channels if channel))


async def run_weekly_report(context: FollowUpContext, now: datetime) -> WeeklyReport:
    """Build the report and queue it (chart and text) to each channel, once per week and channel."""
    report = await build_weekly_report(context, now)
    content_b64 = base64.b64encode(report.png).decode("ascii")
    channels = report_channels(context)
    async with context.db.session() as session:
        for channel in channels:
            await repo.enqueue(
                session,
                "slack.file",
                {
                    "channel": channel,
                    "filename": report.filename,
                    "title": report.title,
                    "content_b64": content_b64,
                    "comment": report.text,
                },
                lane=slack_lane(channel),
                priority=7,
                dedupe_key=f"followup.report:{report.filename}:{channel}",
            )
        await repo.set_state(
            session,
            LAST_REPORT_KEY,
            {"at": now.isoformat(), "week": report.filename, "comments": report.this_week.total},
        )
    context.wake_outbox()
    log.info("weekly report %s queued to %d channels", report.filename, len(channels))
    return report
