"""Response deadlines: business hours in Europe/Oslo without weekends and public holidays; urgent 24/7."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.config import DeadlineSettings, business_hours
from bot.domain import Category, Flag

# The order in which tasks are worked: lower first.
PRIORITY = {
    Category.CASE_INQUIRY: 1,
    Category.FACTUAL_ERROR: 2,
    Category.NEGATIVE: 3,
    Category.NEUTRAL: 4,
    Category.PRAISE: 5,
}


def task_priority(category: Category, flags: Iterable[Flag]) -> int:
    """0 for urgent, then case inquiries, factual errors, negative, neutral, praise."""
    return 0 if Flag.URGENT in set(flags) else PRIORITY[category]


@lru_cache(maxsize=8)
def _holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


class DeadlinePolicy:
    """Computes when a comment must have been answered."""

    def __init__(self, settings: DeadlineSettings | None = None) -> None:
        self.settings = settings or DeadlineSettings()
        self.zone = ZoneInfo(self.settings.timezone)
        self.opens, self.closes = business_hours(self.settings.business_hours)
        self.holidays = _holidays(self.settings.holiday_country)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def deadline(self, category: Category, flags: Iterable[Flag], received_at: datetime) -> datetime:
        """The deadline in UTC for a comment received at `received_at` (aware)."""
        if Flag.URGENT in set(flags):
            return (received_at + self.settings.duration("urgent")).astimezone(UTC)
        return self.add_business_time(received_at, self.settings.duration(category.value))

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """`start` plus `duration` counted only inside business hours on working days."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        local = start.astimezone(self.zone)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        remaining = duration
        while True:
            if not self.is_working_day(day) or clock >= self.closes:
                day, clock = self._next_working_day(day), self.opens
                continue
            clock = max(clock, self.opens)
            available = self._at(day, self.closes) - self._at(day, clock)
            if remaining <= available:
                return (self._at(day, clock) + remaining).astimezone(UTC)
            remaining -= available
            day, clock = self._next_working_day(day), self.opens

    def reminder_at(self, created_at: datetime, deadline_at: datetime) -> datetime:
        """When a reminder is due: the configured share of the time to the deadline."""
        return created_at + (deadline_at - created_at) * self.settings.reminder_share

    def _next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _at(self, day: date, clock: time) -> datetime:
        # Wall-clock arithmetic in UTC so DST changes do not shift business hours.
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)
