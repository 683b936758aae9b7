"""Nynorsk words for categories, flags, platforms and dates, shared by Slack views, digests and e-mails."""

from __future__ import annotations

CATEGORY_LABELS = {
    "praise": "Skryt",
    "neutral": "Nøytral",
    "negative": "Negativ",
    "factual_error": "Faktafeil",
    "case_inquiry": "Sakshandsaming",
}
FLAG_LABELS = {
    "urgent": "Hastar",
    "abusive": "Krenkjande",
    "personal_data": "Personopplysningar",
    "political": "Politisk",
}
PLATFORM_LABELS = {"facebook": "Facebook", "instagram": "Instagram", "file": "fil"}
WEEKDAYS = ("måndag", "tysdag", "onsdag", "torsdag", "fredag", "laurdag", "sundag")
MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)
