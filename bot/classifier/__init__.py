"""Comment classification: one category, any flags, a confidence and the language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import Classification, Comment


class Classifier(Protocol):
    """Anything that turns comments into classifications."""

    version: str

    def classify(self, comment: Comment) -> Classification: ...

    def classify_many(self, comments: Sequence[Comment]) -> list[Classification]: ...
