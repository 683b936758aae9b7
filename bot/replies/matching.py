"""Fitting a reply to a comment: facts, political matters, post sentences, topics, concerns, first names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from bot.domain import Fact, PoliticalMatter
from bot.replies.templates import Cues

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
# A sentence ends before a capital letter or a quote; "kl. 12" and "1. mars" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ«\"])")
_HEADLINE = re.compile(r"^[^\W\d_][\w -]{0,30}:\s+(?=\S)")
_NAME_TOKEN = re.compile(r"^[^\W\d_]+(?:[-'][^\W\d_]+)*$")
_STEM_LENGTH = 4  # "kostar"/"koster", "brøyta"/"brøyting" share their first four letters


@lru_cache(maxsize=4096)
def _cue_pattern(cue: str) -> re.Pattern[str]:
    core = re.escape(cue.strip("*"))
    start = "" if cue.startswith("*") else r"(?<!\w)"
    end = "" if cue.endswith("*") else r"(?!\w)"
    return re.compile(start + core + end)


def cue_position(cues: Iterable[str], text: str) -> int:
    """Where the first of `cues` occurs in `text` (case-insensitive), or -1."""
    lower = text.lower()
    positions = [m.start() for cue in cues if (m := _cue_pattern(cue).search(lower))]
    return min(positions, default=-1)


def has_cue(cues: Iterable[str], text: str) -> bool:
    """Whether any of `cues` occurs in `text`."""
    return cue_position(cues, text) >= 0


def content_stems(text: str, stopwords: frozenset[str]) -> set[str]:
    """Short stems of the words that carry meaning, for comparing a comment with a sentence."""
    stems: set[str] = set()
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower in stopwords or lower.isdigit():
            continue
        if len(lower) >= _STEM_LENGTH:
            stems.add(lower[:_STEM_LENGTH])
        elif len(word) >= 2 and word.isupper():  # acronyms such as SFO or NAV
            stems.add(lower)
    return stems


def _keyword_hits(keywords: Sequence[str], text: str) -> int:
    lower = text.lower()
    return sum(1 for keyword in keywords if keyword and _cue_pattern(keyword.lower() + "*").search(lower))


def find_fact(text: str, facts: Sequence[Fact]) -> Fact | None:
    """The configured fact whose keywords occur most often in `text`."""
    scored = [(_keyword_hits(fact.keywords, text), -index, fact) for index, fact in enumerate(facts)]
    best = max(scored, default=None, key=lambda item: item[:2])
    return best[2] if best and best[0] > 0 else None


def find_matter(texts: Sequence[str], matters: Sequence[PoliticalMatter]) -> PoliticalMatter | None:
    """The configured political matter that the first of `texts` with a keyword hit is about."""
    for text in texts:
        scored = [(_keyword_hits(m.keywords, text), -index, m) for index, m in enumerate(matters)]
        best = max(scored, default=None, key=lambda item: item[:2])
        if best and best[0] > 0:
            return best[2]
    return None


def is_question(text: str, cues: Cues) -> bool:
    """Whether the comment asks something."""
    if "?" in text:
        return True
    words = _WORD.findall(text)
    return bool(words) and words[0].lower() in cues.question_starters


def split_sentences(text: str) -> list[str]:
    """The sentences of a post, with a leading headline such as "Brøyting:" removed."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if sentences:
        sentences[0] = _HEADLINE.sub("", sentences[0], count=1)
    return sentences


def answer_from_post(comment_text: str, post_text: str, cues: Cues) -> str | None:
    """The sentence of the post that best answers or corrects the comment, if one clearly does."""
    wanted = content_stems(comment_text, cues.stopwords)
    wants_number = has_cue(cues.when, comment_text) or has_cue(cues.price, comment_text)
    best: tuple[int, bool, str] | None = None
    for sentence in split_sentences(post_text):
        overlap = len(wanted & content_stems(sentence, cues.stopwords))
        if not overlap:
            continue
        has_number = re.search(r"\d", sentence) is not None
        score = overlap + (1 if wants_number and has_number else 0)
        # on a tie, a sentence with a number or a link carries the fact worth quoting
        informative = has_number or "/" in sentence
        if score >= 2 and (best is None or (score, informative) > best[:2]):
            best = (score, informative, sentence)
    return best[2] if best else None


def find_topic(texts: Sequence[str], cues: Cues) -> tuple[str, str] | None:
    """(kind, topic key) of what the first of `texts` that names a topic is about, earliest cue first."""
    for text in texts:
        found = [
            (position, order, kind, key)
            for order, (key, (kind, topic_cues)) in enumerate(cues.topics.items())
            if (position := cue_position(topic_cues, text)) >= 0
        ]
        if found:
            _, _, kind, key = min(found)
            return kind, key
    return None


def concern_kind(text: str, cues: Cues) -> str | None:
    """ "child" or "adult" when the comment voices a concern about a child or a vulnerable person."""
    if has_cue(cues.own_case, text):
        return None  # a complaint or request about one's own case gets the case reply, not a referral
    worry = has_cue(cues.worry, text)
    if has_cue(cues.child_welfare, text) and (worry or has_cue(cues.report, text)):
        return "child"
    if worry and has_cue(cues.child, text):
        return "child"
    if worry and has_cue(cues.adult, text):
        return "adult"
    return None


def first_name(author_name: str | None, cues: Cues) -> str | None:
    """The first name of a person's display name; None for pages, organisations and user names."""
    if not author_name or any(ch.isdigit() or ch in "@&._/|:#+" for ch in author_name):
        return None
    tokens = author_name.split()
    if not tokens or any(token.lower().strip(",()") in cues.organisation_words for token in tokens):
        return None
    first = tokens[0]
    if not _NAME_TOKEN.match(first) or not first[0].isupper() or (len(first) > 1 and first.isupper()):
        return None
    return first
