"""Triage of one comment: classify it and suggest a reply. Pure core, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.classifier import Classifier
from bot.domain import Classification, Comment, SuggestedReply
from bot.replies import ReplyComposer


@dataclass(frozen=True, slots=True)
class Assessment:
    comment: Comment
    classification: Classification
    reply: SuggestedReply


class Triager:
    """Classifier and reply composer together."""

    def __init__(self, classifier: Classifier, composer: ReplyComposer) -> None:
        self.classifier = classifier
        self.composer = composer

    def assess(self, comment: Comment, *, thread_length: int = 0) -> Assessment:
        return self.assess_many([comment], thread_lengths=[thread_length])[0]

    def assess_many(
        self, comments: Sequence[Comment], *, thread_lengths: Sequence[int] | None = None
    ) -> list[Assessment]:
        classifications = self.classifier.classify_many(comments)
        lengths = thread_lengths or [0] * len(comments)
        return [
            Assessment(
                comment, classification, self.composer.compose(comment, classification, thread_length=n)
            )
            for comment, classification, n in zip(comments, classifications, lengths, strict=True)
        ]

    def suggest(
        self, comment: Comment, classification: Classification, *, thread_length: int = 0
    ) -> SuggestedReply:
        """A new reply for a known classification (after a moderator reclassifies)."""
        return self.composer.compose(comment, classification, thread_length=thread_length)
