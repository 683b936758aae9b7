"""The App Home tab: my tasks, overdue tasks, and counts per page. Pure builder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.views import blocks as kit
from handlers.views import labels
from handlers.views.task_message import masked

LIST_MAX = 15
EXCERPT_MAX = 90


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """One line in a list of tasks."""

    task_id: int
    category: str
    flags: tuple[str, ...]
    page_name: str
    comment_text: str | None
    deadline_at: datetime
    slack_channel: str | None = None
    slack_ts: str | None = None


@dataclass(frozen=True, slots=True)
class PageCount:
    name: str
    open: int
    overdue: int
    paused: bool = False
    paused_reason: str | None = None


def message_url(channel: str | None, ts: str | None) -> str | None:
    """A link that opens the task message in Slack."""
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def task_line(task: TaskSummary, zone: ZoneInfo, now: datetime) -> str:
    flags = "".join(labels.FLAG_EMOJI.get(flag, "") for flag in labels.sorted_flags(task.flags))
    excerpt = (
        kit.truncate(" ".join(masked(task.comment_text).split()), EXCERPT_MAX) or f"oppgåve #{task.task_id}"
    )
    target = kit.link(message_url(task.slack_channel, task.slack_ts), excerpt)
    deadline = labels.deadline_words(task.deadline_at, now, zone)
    page = kit.escaped(task.page_name, 100)
    return f"{labels.CATEGORY_EMOJI.get(task.category, '')}{flags} {target} – {page} – frist {deadline}"


def _task_list(
    title: str, tasks: list[TaskSummary], total: int, empty: str, zone: ZoneInfo, now: datetime
) -> dict[str, Any]:
    if not tasks:
        return kit.section(f"*{title}*\n_{empty}_")
    lines = [task_line(task, zone, now) for task in tasks[:LIST_MAX]]
    more = f"\n_… og {total - len(lines)} til._" if total > len(lines) else ""
    # Lines are dropped whole (rather than cut mid-link) until the section fits.
    while len(lines) > 1 and len(f"*{title}* ({total})\n" + "\n".join(lines) + more) > kit.SECTION_TEXT_MAX:
        lines.pop()
        more = f"\n_… og {total - len(lines)} til._"
    return kit.section(f"*{title}* ({total})\n" + "\n".join(lines) + more)


def page_field(page: PageCount) -> str:
    state = ""
    if page.paused:
        reason = f": {kit.escaped(page.paused_reason, 200)}" if page.paused_reason else ""
        state = f"\n:double_vertical_bar: pausa{reason}"
    return f"*{kit.escaped(page.name, 150)}*\n{page.open} opne · {page.overdue} forfalne{state}"


def home_view(
    user_id: str,
    *,
    my_tasks: list[TaskSummary],
    my_total: int,
    overdue: list[TaskSummary],
    overdue_total: int,
    pages: list[PageCount],
    crisis: bool,
    now: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The Home tab of `user_id`."""
    result: list[dict[str, Any]] = [kit.header("Kommentarvakt")]
    if crisis:
        result.append(kit.section(labels.CRISIS_BANNER))
    result.append(_task_list("Mine oppgåver", my_tasks, my_total, "Du har ingen opne oppgåver.", zone, now))
    result.append(kit.divider())
    result.append(
        _task_list(
            "Forfalne oppgåver", overdue, overdue_total, "Ingen oppgåver har gått over fristen.", zone, now
        )
    )
    result.append(kit.divider())
    result.append(kit.section("*Per side*"))
    for start in range(0, len(pages), kit.SECTION_FIELDS_MAX):
        result.append(
            kit.fields_section([page_field(page) for page in pages[start : start + kit.SECTION_FIELDS_MAX]])
        )
    if not pages:
        result.append(kit.section("_Ingen sider er sette opp._"))
    result.append(kit.context(f"Oppdatert {labels.oslo_time(now, zone, now)} for <@{user_id}>"))
    return {"type": "home", "blocks": kit.fit(result, kit.VIEW_MAX_BLOCKS)}
