"""Deadlines in business hours of Europe/Oslo, skipping weekends and Norwegian public holidays."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import DeadlineSettings
from bot.deadlines import DeadlinePolicy, task_priority
from bot.domain import Category, Flag

OSLO = ZoneInfo("Europe/Oslo")
policy = DeadlinePolicy()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def deadline(category: Category, received: datetime, flags: tuple[Flag, ...] = ()) -> datetime:
    return policy.deadline(category, flags, received).astimezone(OSLO)


def test_within_one_working_day() -> None:
    assert deadline(Category.NEGATIVE, local(2026, 11, 24, 9, 0)) == local(2026, 11, 24, 13, 0)


def test_carries_over_to_next_morning() -> None:
    # 14:00 + 4h: 1.5h today (to 15:30), 2.5h tomorrow from 08:00
    assert deadline(Category.NEGATIVE, local(2026, 11, 24, 14, 0)) == local(2026, 11, 25, 10, 30)


def test_wednesday_before_easter_skips_the_easter_holidays() -> None:
    # 2026: Maundy Thursday 2 April, Good Friday 3 April, Easter Monday 6 April
    assert deadline(Category.NEGATIVE, local(2026, 4, 1, 14, 0)) == local(2026, 4, 7, 10, 30)


def test_saturday_counts_from_monday_morning() -> None:
    assert deadline(Category.NEGATIVE, local(2026, 11, 28, 12, 0)) == local(2026, 11, 30, 12, 0)


def test_late_evening_counts_from_next_morning() -> None:
    assert deadline(Category.FACTUAL_ERROR, local(2026, 11, 24, 23, 0)) == local(2026, 11, 25, 10, 0)


def test_long_deadline_spans_days() -> None:
    # praise 16h = two full 7.5h days + 1h
    assert deadline(Category.PRAISE, local(2026, 11, 23, 8, 0)) == local(2026, 11, 25, 9, 0)


def test_urgent_runs_on_a_24_7_clock_at_night() -> None:
    received = local(2026, 11, 28, 3, 0)  # a Saturday night
    assert deadline(Category.NEGATIVE, received, (Flag.URGENT,)) == local(2026, 11, 28, 3, 30)


def test_constitution_day_is_not_a_working_day() -> None:
    assert not policy.is_working_day(local(2026, 5, 17, 12).date())
    assert policy.is_working_day(local(2026, 5, 18, 12).date())


def test_dst_change_keeps_business_hours_in_local_time() -> None:
    # DST ends Sunday 25 October 2026; Friday 15:00 + 1h -> Monday 08:30 local
    assert deadline(Category.NEGATIVE, local(2026, 10, 23, 15, 0)).hour == 11
    assert DeadlinePolicy(DeadlineSettings(negative="1h")).deadline(
        Category.NEGATIVE, (), local(2026, 10, 23, 15, 0)
    ).astimezone(OSLO) == local(2026, 10, 26, 8, 30)


def test_configured_durations_and_hours_are_used() -> None:
    custom = DeadlinePolicy(DeadlineSettings(business_hours="09:00-17:00", neutral="1h"))
    assert custom.deadline(Category.NEUTRAL, (), local(2026, 11, 24, 8, 0)).astimezone(OSLO) == local(
        2026, 11, 24, 10, 0
    )


def test_reminder_at_share_of_deadline() -> None:
    start, end = local(2026, 11, 24, 9, 0), local(2026, 11, 24, 13, 0)
    assert policy.reminder_at(start, end) == local(2026, 11, 24, 12, 0)


def test_priority_puts_urgent_and_case_inquiries_first() -> None:
    assert task_priority(Category.PRAISE, {Flag.URGENT}) == 0
    assert task_priority(Category.CASE_INQUIRY, set()) < task_priority(Category.NEGATIVE, set())
    assert task_priority(Category.NEUTRAL, set()) < task_priority(Category.PRAISE, set())
