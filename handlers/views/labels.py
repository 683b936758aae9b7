"""Nynorsk words and emoji the Slack views show for categories, flags, statuses and times."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.labels import CATEGORY_LABELS, FLAG_LABELS, MONTHS, PLATFORM_LABELS, WEEKDAYS  # noqa: F401 (views use them)

CATEGORY_EMOJI = {
    "praise": ":clap:",
    "neutral": ":speech_balloon:",
    "negative": ":thumbsdown:",
    "factual_error": ":mag:",
    "case_inquiry": ":file_folder:",
}
# The order moderators see in the reclassify menu: most consequential first.
CATEGORY_ORDER = ("case_inquiry", "factual_error", "negative", "neutral", "praise")

FLAG_EMOJI = {
    "urgent": ":rotating_light:",
    "abusive": ":no_entry:",
    "personal_data": ":lock:",
    "political": ":classical_building:",
}
FLAG_ORDER = ("urgent", "abusive", "personal_data", "political")

STATUS_LABELS = {
    "open": "Open",
    "answered": "Svara",
    "handled": "Handsama",
    "hidden": "Skjult",
    "forwarded": "Send til postmottaket",
    "closed": "Lukka",
}


BUTTON_PUBLISH = "Publiser svaret"
BUTTON_EDIT = "Rediger svaret"
BUTTON_HANDLED = "Marker som handsama"
BUTTON_HIDE = "Skjul kommentaren"
BUTTON_FORWARD = "Send til postmottaket"
BUTTON_ASSIGN = "Ta oppgåva"
BUTTON_OPEN_GROUP = "Opne kommentarane"
RECLASSIFY_PLACEHOLDER = "Endre kategori"
ABUSIVE_NOTE = "ikkje svar offentleg – vurder å skjule"
CRISIS_BANNER = (
    ":rotating_light: *Krisemodus er på.* Alle svar må publiserast av ein krisegodkjennar. "
    "Sjå krisekanalen før du svarar."
)


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def category_with_emoji(category: str) -> str:
    return f"{CATEGORY_EMOJI.get(category, ':grey_question:')} {category_label(category)}"


def sorted_flags(flags: list[str] | tuple[str, ...]) -> list[str]:
    """Flags in the order that matters to a moderator: urgent first."""
    known = [flag for flag in FLAG_ORDER if flag in flags]
    return known + sorted(flag for flag in flags if flag not in FLAG_ORDER)


def flag_with_emoji(flag: str) -> str:
    return f"{FLAG_EMOJI.get(flag, ':small_orange_diamond:')} {FLAG_LABELS.get(flag, flag)}"


def oslo_time(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """ "kl. 14:30" today, "i går kl. 09:10", else "fredag 13. juni kl. 14:30" (local time)."""
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    clock = f"kl. {local:%H:%M}"
    if local.date() == today:
        return f"i dag {clock}"
    if local.date() == today - timedelta(days=1):
        return f"i går {clock}"
    if local.date() == today + timedelta(days=1):
        return f"i morgon {clock}"
    year = f" {local.year}" if local.year != today.year else ""
    return f"{WEEKDAYS[local.weekday()]} {local.day}. {MONTHS[local.month - 1]}{year} {clock}"


def duration_words(delta: timedelta) -> str:
    """A positive duration in short Nynorsk: "45 min", "2 t 5 min", "3 d 4 t"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} t {minutes} min" if minutes else f"{hours} t"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} t" if hours else f"{days} d"


def deadline_words(deadline_at: datetime, now: datetime, zone: ZoneInfo) -> str:
    """ "om 2 t 30 min (i dag kl. 14:30)" or "gjekk ut for 20 min sidan (i dag kl. 11:00)"."""
    when = oslo_time(deadline_at, zone, now)
    if deadline_at >= now:
        left = deadline_at - now
        relative = "no" if left < timedelta(minutes=1) else f"om {duration_words(left)}"
        return f"{relative} ({when})"
    return f"gjekk ut for {duration_words(now - deadline_at)} sidan ({when})"
