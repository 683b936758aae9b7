"""Rule-based flags: personal data, urgent danger, abusive language and political matters."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.classifier import cues
from bot.classifier.cues import Hit, Tokens
from bot.classifier.pii import PersonalDataMatch, find_personal_data
from bot.domain import Flag, PoliticalMatter

_EXCLAMATIONS = re.compile(r"!{2,}|\?{3,}")
_PERSONAL_KINDS = {
    "national_id": "national ID number",
    "d_number": "D-number",
    "h_number": "H-number",
    "phone": "phone number",
    "email": "e-mail address",
    "health": "health detail about an identifiable person",
    "child_welfare": "child-welfare detail about an identifiable person",
    "address": "street address together with a name or other personal details",
    "age": "age of an identifiable person",
    "birth_date": "date of birth",
    "case_number": "case number of an identifiable person",
    "vehicle": "vehicle registration number",
    "bank_account": "bank account number",
    "circumstances": "financial or social circumstances of an identifiable person",
}


@dataclass(frozen=True, slots=True)
class FlagEvidence:
    """The flags a comment gets from the rules, and why."""

    flags: frozenset[Flag] = frozenset()
    matter: PoliticalMatter | None = None
    personal_data: list[PersonalDataMatch] = field(default_factory=list)
    reasons: dict[Flag, str] = field(default_factory=dict)


def detect_flags(text: str, post_text: str = "", matters: Sequence[PoliticalMatter] = ()) -> FlagEvidence:
    """Flags for a comment (judged with the post it was written under and the configured matters)."""
    tokens = cues.tokenize(text)
    hits = _without_threats_to_self(cues.find_by_label(text))
    reasons: dict[Flag, str] = {}
    personal = find_personal_data(text)
    if personal:
        reasons[Flag.PERSONAL_DATA] = _personal_reason(personal)
    urgent = _urgent_reason(tokens, hits)
    if urgent:
        reasons[Flag.URGENT] = urgent
    abusive = _abusive_reason(tokens, hits)
    if abusive:
        reasons[Flag.ABUSIVE] = abusive
    matter, political = _political(tokens, hits, post_text, tuple(matters))
    if political:
        reasons[Flag.POLITICAL] = political
    return FlagEvidence(frozenset(reasons), matter, personal, reasons)


def _personal_reason(matches: list[PersonalDataMatch]) -> str:
    first = matches[0]
    if first.kind in ("national_id", "d_number", "h_number") and first.detail:
        return first.detail
    kinds = list(dict.fromkeys(_PERSONAL_KINDS.get(match.kind, match.kind) for match in matches))
    return "; ".join(kinds)


_Hits = Mapping[str, tuple[Hit, ...]]


def _without_threats_to_self(hits: _Hits) -> _Hits:
    """A threat that overlaps a self-harm phrase does not count: "eg skal drepe meg sjølv" holds the
    threat "skal drepe", but it is about self-harm, not violence against others."""
    threats, self_harm = hits.get("urgent.threat", ()), hits.get("urgent.self_harm", ())
    if not threats or not self_harm:
        return hits
    kept = tuple(t for t in threats if not any(s.first < t.last and t.first < s.last for s in self_harm))
    return {**hits, "urgent.threat": kept}


def _labels(hits: _Hits, label: str) -> tuple[Hit, ...]:
    return hits.get(label, ())


def _sentences(hits: Sequence[Hit], tokens: Tokens) -> set[int]:
    return {tokens.sentence[hit.first] for hit in hits}


# Every reason below starts from a hit of one of these lists: without one, there is none.
_URGENT_STARTS = frozenset(
    {
        "urgent.threat",
        "urgent.self_harm",
        "urgent.self_harm_terms",
        "urgent.strong",
        "urgent.child_state",
        "urgent.hazards",
        "urgent.weak",
    }
)
_ABUSIVE_STARTS = frozenset(
    {
        "urgent.threat",
        "abusive.insults",
        "abusive.aimed_profanity",
        "abusive.mild_insults",
        "abusive.profanity",
    }
)


def _urgent_reason(tokens: Tokens, hits: _Hits) -> str:
    """Why the comment reports danger right now, or "" if it does not."""
    if _URGENT_STARTS.isdisjoint(hits):
        return ""
    threat = _labels(hits, "urgent.threat")
    if threat:
        return f"threat of violence ({_quote(tokens, threat[0])})"
    self_harm = _labels(hits, "urgent.self_harm")
    if self_harm:
        return f"risk of self-harm ({_quote(tokens, self_harm[0])})"
    now = _sentences(_labels(hits, "urgent.now"), tokens)
    if _EXCLAMATIONS.search(tokens.text) or _shouted(tokens):
        now = now | set(tokens.sentence)
    cancelled = _sentences(_labels(hits, "urgent.past") + _labels(hits, "urgent.hypothetical"), tokens)
    self_sentences = _sentences(_labels(hits, "person.self"), tokens)
    context = _labels(hits, "urgent.self_harm_context")
    for hit in _labels(hits, "urgent.self_harm_terms"):
        sentence = tokens.sentence[hit.first]
        nearby = {sentence - 1, sentence, sentence + 1} & self_sentences
        if nearby and any(c.first != hit.first for c in context) and sentence not in cancelled:
            return f"risk of self-harm ({_quote(tokens, hit)})"

    def live(hit: Hit) -> bool:
        sentence = tokens.sentence[hit.first]
        return sentence in now or sentence not in cancelled

    for hit in _labels(hits, "urgent.strong"):
        if live(hit):
            return f"danger right now ({_quote(tokens, hit)})"
    child_state = _labels(hits, "urgent.child_state")
    if child_state:
        child_sentences = _sentences(_labels(hits, "urgent.child"), tokens)
        for hit in child_state:
            sentence = tokens.sentence[hit.first]
            if sentence in child_sentences and live(hit) and not _general_question(tokens, sentence, now):
                return f"a child alone or missing ({_quote(tokens, hit)})"
    for hit in _labels(hits, "urgent.hazards"):
        sentence = tokens.sentence[hit.first]
        if (
            now
            and (sentence in now or sentence not in cancelled)
            and not _general_question(tokens, sentence, now)
        ):
            return f"danger reported as happening now ({_quote(tokens, hit)})"
    if _labels(hits, "urgent.vulnerable"):
        for hit in _labels(hits, "urgent.weak"):
            if live(hit) and not _general_question(tokens, tokens.sentence[hit.first], now):
                return f"vulnerable person at risk ({_quote(tokens, hit)})"
    return ""


def _general_question(tokens: Tokens, sentence: int, now: set[int]) -> bool:
    """A question about rules or what-ifs ("kan ungar vere åleine heime?"), not a report."""
    if sentence in now:
        return False
    indices = [i for i, s in enumerate(tokens.sentence) if s == sentence]
    if not indices:
        return False
    end = tokens.ends[indices[-1]]
    return (
        tokens.text[end : end + 3].lstrip().startswith("?") and tokens.norm[indices[0]] in _question_openers()
    )


@lru_cache(maxsize=1)
def _question_openers() -> frozenset[str]:
    return cues.words_in(cues.load_cues()["urgent"]["question_openers"])


def _shouted(tokens: Tokens) -> bool:
    """Two or more words in capitals (not the whole comment written in capitals)."""
    if tokens.text.isupper():
        return False
    return sum(1 for word in tokens.raw if len(word) >= 2 and word.isupper() and word.isalpha()) >= 2


def _abusive_reason(tokens: Tokens, hits: _Hits) -> str:
    """Why the comment is abusive, or "" if it is not."""
    if _ABUSIVE_STARTS.isdisjoint(hits):
        return ""
    for label, why in (
        ("urgent.threat", "threat"),
        ("abusive.insults", "insult or slur"),
        ("abusive.aimed_profanity", "profanity aimed at someone"),
    ):
        found = _labels(hits, label)
        if found:
            return f"{why} ({_quote(tokens, found[0])})"
    pointers = _labels(hits, "abusive.pointers")
    intensifiers = _labels(hits, "abusive.intensifiers")
    for hit in _labels(hits, "abusive.mild_insults"):
        sentence = tokens.sentence[hit.first]
        aimed = any(
            0 <= (hit.first - p.last if p.last <= hit.first else p.first - hit.last) <= 3
            and tokens.sentence[p.first] == sentence
            for p in pointers
        )
        if aimed or any(hit.first - i.last == 0 for i in intensifiers):
            return f"insult ({_quote(tokens, hit)})"
    targets = _labels(hits, "abusive.targets")
    for hit in _labels(hits, "abusive.profanity"):
        if any(
            abs(target.first - hit.first) <= 3 and tokens.sentence[target.first] == tokens.sentence[hit.first]
            for target in targets
        ):
            return f"profanity aimed at someone ({_quote(tokens, hit)})"
    return ""


def _political(
    tokens: Tokens, hits: _Hits, post_text: str, matters: tuple[PoliticalMatter, ...]
) -> tuple[PoliticalMatter | None, str]:
    """The configured matter the comment is about, and why it is political ("" if it is not)."""
    matter = _best_matter(tokens, matters)
    if matter is not None:
        return matter, f"about the political matter {matter.title!r}"
    own_case = bool(_labels(hits, "political.own_case"))
    for label, why in (("political.process", "political process"), ("political.topics", "political topic")):
        found = _labels(hits, label)
        if found and not (own_case and label == "political.topics"):
            return None, f"{why} ({_quote(tokens, found[0])})"
    if own_case or not post_text or not _substantive(tokens) or _labels(hits, "political.practical"):
        return None, ""
    post = cues.tokenize(post_text)
    matter = _best_matter(post, matters)
    if matter is not None:
        return matter, f"comment on a post about the political matter {matter.title!r}"
    context = cues.find_by_label(post_text).get("political.post_context", ())
    if context:
        return None, f"comment on a post about a political matter ({_quote(post, context[0])})"
    return None, ""


def _best_matter(tokens: Tokens, matters: tuple[PoliticalMatter, ...]) -> PoliticalMatter | None:
    best, best_count = None, 0
    for matter in matters:
        count = cues.keywords(tuple(matter.keywords) or (matter.title,)).count(tokens)
        if count > best_count:
            best, best_count = matter, count
    return best


def _substantive(tokens: Tokens) -> bool:
    """More than a tag or a reaction: three words or more, and not just a mention of a friend."""
    words = [
        word
        for word, mention in zip(tokens.norm, tokens.mention, strict=True)
        if not mention and word.isalpha()
    ]
    if tokens.mention and tokens.mention[0] and len(words) < 8:
        return False
    return len(words) >= 3


def _quote(tokens: Tokens, hit: Hit) -> str:
    start, end = tokens.span(hit.first, hit.last)
    return f"\u201c{tokens.text[start:end]}\u201d"
