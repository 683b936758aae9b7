"""The daily digest of overdue and soon-due tasks, per page and per person, for leads and channels."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.deadlines import DeadlinePolicy
from bot.domain import TaskStatus
from bot.followup import (
    LAST_DIGEST_KEY,
    FollowUpContext,
    category_label,
    escape_mrkdwn,
    format_date,
    format_duration,
    format_moment,
    masked_excerpt,
    page_title,
    task_link,
    team_leads_for,
    zone_of,
)
from bot.ingest import slack_lane
from storage import repository as repo
from storage.models import TaskRow

log = logging.getLogger(__name__)

MAX_ITEMS_PER_PAGE = 30  # beyond this a page's list ends with "… og N til": Slack messages stay readable
MAX_TEXT_CHARS = 39_000  # at most 13 sections of 3000 characters: well inside Slack's 50 blocks
SECTION_TEXT_MAX = 3000  # Slack's limit for a section block's text


@dataclass(frozen=True, slots=True)
class DigestItem:
    task_id: int
    page_key: tuple[str, str]
    page_name: str
    assignee: str | None
    category: str
    deadline_at: datetime
    text_excerpt: str
    link: str | None
    overdue: bool


@dataclass
class Digest:
    """Overdue and soon-due open tasks at `generated_at`."""

    generated_at: datetime
    soon_until: datetime
    items: list[DigestItem] = field(default_factory=list)

    @property
    def overdue_count(self) -> int:
        return sum(item.overdue for item in self.items)

    @property
    def soon_count(self) -> int:
        return len(self.items) - self.overdue_count

    def for_pages(self, page_keys: Iterable[tuple[str, str]]) -> Digest:
        keys = set(page_keys)
        return Digest(self.generated_at, self.soon_until, [i for i in self.items if i.page_key in keys])


def soon_horizon(policy: DeadlinePolicy, now: datetime) -> datetime:
    """The end of today's business hours, or of the next working day once today's are over."""
    local = now.astimezone(policy.zone)
    day = local.date()
    closes = datetime.combine(day, policy.closes, tzinfo=policy.zone)
    if not policy.is_working_day(day) or local >= closes:
        day += timedelta(days=1)
        while not policy.is_working_day(day):
            day += timedelta(days=1)
        closes = datetime.combine(day, policy.closes, tzinfo=policy.zone)
    return closes.astimezone(UTC)


async def collect_digest(context: FollowUpContext, now: datetime) -> Digest:
    """Every open task that is overdue or due before the end of the (next) working day."""
    policy = DeadlinePolicy(context.settings.deadlines)
    digest = Digest(generated_at=now, soon_until=soon_horizon(policy, now))
    async with context.db.session() as session:
        tasks = (
            (
                await session.execute(
                    select(TaskRow)
                    .where(TaskRow.status == TaskStatus.OPEN.value, TaskRow.deadline_at <= digest.soon_until)
                    .order_by(TaskRow.deadline_at, TaskRow.id)
                )
            )
            .unique()
            .scalars()
            .all()
        )
    for task in tasks:
        page = task.comment.page
        digest.items.append(
            DigestItem(
                task_id=task.id,
                page_key=(page.platform, page.external_id) if page else ("", ""),
                page_name=page_title(task),
                assignee=task.assignee,
                category=task.category,
                deadline_at=task.deadline_at,
                text_excerpt=masked_excerpt(task.comment.text),
                link=task_link(task),
                overdue=task.deadline_at <= now,
            )
        )
    return digest


class _Style:
    """Slack mrkdwn, or plain text for a terminal."""

    def __init__(self, slack: bool) -> None:
        self.slack = slack

    def bold(self, text: str) -> str:
        return f"*{text}*" if self.slack else text

    def italic(self, text: str) -> str:
        return f"_{text}_" if self.slack else text

    def escape(self, text: str) -> str:
        return escape_mrkdwn(text) if self.slack else text

    def link(self, url: str | None, label: str) -> str:
        if not url:
            return label
        return f"<{url}|{label}>" if self.slack else f"{label} <{url}>"

    def user(self, user_id: str | None) -> str:
        if not user_id:
            return "Ikkje tildelt"
        return f"<@{user_id}>" if self.slack else f"@{user_id}"


def _counts(overdue: int, soon: int) -> str:
    parts = []
    if overdue:
        parts.append(f"{overdue} forfalne")
    if soon:
        parts.append(f"{soon} forfell snart")
    return " og ".join(parts) or "ingen"


def render_digest(digest: Digest, zone: ZoneInfo, *, slack: bool = True) -> str:
    """The digest as Nynorsk text: per page, per person inside each page, then a total per person."""
    style = _Style(slack)
    now = digest.generated_at
    lines = [style.bold(f"Oversikt over forfalne oppgåver – {format_date(now, zone)}")]
    if not digest.items:
        lines.append("Ingen opne oppgåver er forfalne eller forfell før arbeidsdagen er slutt. Godt jobba!")
        return "\n".join(lines)
    lines.append(
        f"{_counts(digest.overdue_count, digest.soon_count).capitalize()} "
        f"(snart = innan {format_moment(digest.soon_until, zone, now)})."
    )
    by_page: dict[tuple[str, str], list[DigestItem]] = defaultdict(list)
    for item in digest.items:
        by_page[item.page_key].append(item)
    for items in sorted(by_page.values(), key=lambda group: group[0].page_name):
        overdue = sum(item.overdue for item in items)
        lines += [
            "",
            style.bold(style.escape(items[0].page_name)) + f" – {_counts(overdue, len(items) - overdue)}",
        ]
        by_person: dict[str, list[DigestItem]] = defaultdict(list)
        for item in items:
            by_person[item.assignee or ""].append(item)
        shown = 0
        for person in sorted(by_person, key=lambda person: (person == "", person)):
            visible = by_person[person][: max(0, MAX_ITEMS_PER_PAGE - shown)]
            shown += len(visible)
            if visible:
                lines.append(style.italic(style.user(person or None)))
                lines += [_item_line(item, style, zone, now) for item in visible]
        if shown < len(items):
            lines.append(f"… og {len(items) - shown} til.")
    lines += ["", style.bold("Per person")]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in digest.items:
        totals[item.assignee or ""][0 if item.overdue else 1] += 1
    for person in sorted(totals, key=lambda person: (person == "", person)):
        overdue, soon = totals[person]
        lines.append(f"• {style.user(person or None)}: {_counts(overdue, soon)}")
    text = "\n".join(lines)
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[: MAX_TEXT_CHARS - 40].rsplit("\n", 1)[0] + "\n… (oversikta er forkorta)"  # whole lines only


def _item_line(item: DigestItem, style: _Style, zone: ZoneInfo, now: datetime) -> str:
    label = category_label(item.category)
    marker = (
        ":red_circle:" if item.overdue and style.slack else (":large_yellow_circle:" if style.slack else "")
    )
    status = (
        f"forfall for {format_duration(now - item.deadline_at)} sidan"
        if item.overdue
        else f"forfell om {format_duration(item.deadline_at - now)}"
    )
    head = f"{marker} " if marker else ("FORFALEN " if item.overdue else "SNART ")
    return (
        f"• {head}{style.link(item.link, label)}: «{style.escape(item.text_excerpt)}» – frist "
        f"{format_moment(item.deadline_at, zone, now)}, {status} (oppgåve {item.task_id})"
    )


async def build_digest_text(
    context: FollowUpContext, now: datetime | None = None, *, slack: bool = True
) -> str:
    """The whole digest as one text (for `/kommentarvakt digest` and `kommentarvakt digest`)."""
    now = now or datetime.now(UTC)
    digest = await collect_digest(context, now)
    return render_digest(digest, zone_of(context.settings), slack=slack)


def digest_blocks(text: str) -> list[dict[str, Any]]:
    """The digest as mrkdwn section blocks, split between lines so no section passes Slack's limit."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        line = line[:SECTION_TEXT_MAX]
        if current and len(current) + 1 + len(line) > SECTION_TEXT_MAX:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current.strip():
        chunks.append(current)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks if chunk.strip()
    ]


def digest_message(digest: Digest, zone: ZoneInfo) -> dict[str, Any]:
    """A short notification text and the whole digest as blocks."""
    headline = (
        f"Oversikt over forfalne oppgåver {format_date(digest.generated_at, zone)}: "
        f"{_counts(digest.overdue_count, digest.soon_count)}"
    )
    return {"text": headline, "blocks": digest_blocks(render_digest(digest, zone))}


@dataclass
class DigestDelivery:
    channels: list[str] = field(default_factory=list)
    team_leads: list[str] = field(default_factory=list)
    overdue: int = 0
    soon: int = 0

    @property
    def messages(self) -> int:
        return len(self.channels) + len(self.team_leads)


async def queue_digest(
    context: FollowUpContext, now: datetime, *, dedupe_period: str | None = None
) -> DigestDelivery:
    """Queue the digest to each page channel (its own page) and each team lead (the pages they lead).

    With `dedupe_period` (the scheduled day), queuing twice for the same day sends once.
    """
    settings = context.settings
    zone = zone_of(settings)
    digest = await collect_digest(context, now)
    delivery = DigestDelivery(overdue=digest.overdue_count, soon=digest.soon_count)
    all_keys = {(page.platform, page.id) for page in settings.pages} | {i.page_key for i in digest.items}
    outgoing: list[tuple[str, dict[str, Any], str, str]] = []
    channels: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for page in settings.pages:
        channels[page.channel].add((page.platform, page.id))
    for channel, keys in channels.items():
        part = digest.for_pages(keys)
        if part.items:
            message = {"channel": channel, **digest_message(part, zone)}
            outgoing.append(("slack.message", message, channel, f"channel:{channel}"))
            delivery.channels.append(channel)
    leads: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for page in settings.pages:
        for lead in await team_leads_for(context, page):
            leads[lead].add((page.platform, page.id))
    for lead in await team_leads_for(context, None):
        leads[lead] |= all_keys  # global team leads see every page, also pages no longer configured
    for lead, keys in sorted(leads.items()):
        part = digest.for_pages(keys)
        if part.items:
            outgoing.append(("slack.dm", {"user": lead, **digest_message(part, zone)}, lead, f"lead:{lead}"))
            delivery.team_leads.append(lead)
    async with context.db.session() as session:
        for kind, payload, lane, recipient in outgoing:
            await repo.enqueue(
                session,
                kind,
                payload,
                lane=slack_lane(lane),
                priority=6,
                dedupe_key=f"followup.digest:{dedupe_period}:{recipient}" if dedupe_period else None,
            )
        await repo.set_state(
            session,
            LAST_DIGEST_KEY,
            {
                "at": now.isoformat(),
                "overdue": delivery.overdue,
                "soon": delivery.soon,
                "messages": delivery.messages,
            },
        )
    context.wake_outbox()
    return delivery


async def run_daily_digest(context: FollowUpContext, now: datetime) -> DigestDelivery | None:
    """The scheduled digest: working days only (no weekends, no public holidays)."""
    policy = DeadlinePolicy(context.settings.deadlines)
    today = now.astimezone(policy.zone).date()
    if not policy.is_working_day(today):
        log.info("digest: %s is not a working day; nothing sent", today.isoformat())
        return None
    delivery = await queue_digest(context, now, dedupe_period=today.isoformat())
    log.info(
        "digest: %d overdue, %d soon; %d messages queued", delivery.overdue, delivery.soon, delivery.messages
    )
    return delivery
