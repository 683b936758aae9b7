"""Platform-neutral domain types: what a comment is, how it was classified, what a task is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Category(StrEnum):
    """Exactly one per comment (labels.md)."""

    PRAISE = "praise"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    FACTUAL_ERROR = "factual_error"
    CASE_INQUIRY = "case_inquiry"


class Flag(StrEnum):
    """Any number per comment (labels.md)."""

    ABUSIVE = "abusive"
    PERSONAL_DATA = "personal_data"
    POLITICAL = "political"
    URGENT = "urgent"


class Platform(StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    FILE = "file"


class TaskStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"  # a reply was published
    HANDLED = "handled"  # closed by a moderator without a reply
    HIDDEN = "hidden"  # the comment was hidden
    FORWARDED = "forwarded"  # sent to the records office
    CLOSED = "closed"  # the comment was removed on the platform

    @property
    def is_open(self) -> bool:
        return self is TaskStatus.OPEN


@dataclass(frozen=True, slots=True)
class Fact:
    """Something the municipality knows to be true (config `[[facts]]`)."""

    statement: str
    keywords: tuple[str, ...] = ()
    link: str = ""


@dataclass(frozen=True, slots=True)
class PoliticalMatter:
    """A political matter (config `[[political_matters]]`); status is "pending" or "decided"."""

    title: str
    status: str = "pending"
    keywords: tuple[str, ...] = ()
    link: str = ""

    @property
    def is_decided(self) -> bool:
        return self.status == "decided"


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment as the core sees it, whatever platform or file it came from."""

    text: str
    post_text: str = ""
    id: str = ""
    platform: str = Platform.FILE.value
    author_name: str | None = None
    author_id: str | None = None
    created_time: datetime | None = None
    permalink: str | None = None
    parent_id: str | None = None
    post_id: str | None = None
    page_id: str | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict on one comment."""

    category: Category
    flags: frozenset[Flag] = frozenset()
    confidence: float = 0.0
    language: str = "und"
    model_version: str = ""
    matched_fact: Fact | None = None
    matched_matter: PoliticalMatter | None = None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def sorted_flags(self) -> list[str]:
        return sorted(flag.value for flag in self.flags)


@dataclass(frozen=True, slots=True)
class SuggestedReply:
    """What the composer proposes. `text` is None when no public reply should be given."""

    text: str | None
    language: str
    note: str = ""  # advice to the moderator, e.g. "hide: guideline clause 'Ytringar'"
    recommend_hide: bool = False
    escalate: bool = False
