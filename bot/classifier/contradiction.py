"""Comments that contradict the post or a configured fact: wrong date, time, price, place, or a rumour."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from bot.classifier import cues
from bot.classifier.cues import Tokens
from bot.domain import Fact

KINDS = ("date", "time", "price", "place", "weekday", "number", "rumour")
_DIGIT = re.compile(r"\d")
_CASE_TRAPS = frozenset("ıſİ")  # dotless i, long s, dotted capital I
_PRIORITY = {"date": 0, "time": 1, "price": 2, "weekday": 3, "number": 4, "place": 5}


@dataclass(frozen=True, slots=True)
class Contradiction:
    """What the comment claims, what is correct, and the configured fact that says so (if any)."""

    kind: str  # one of KINDS
    claimed: str
    correct: str
    fact: Fact | None = None
    is_question: bool = False  # asked as a (leading) question: weaker evidence than a statement


@dataclass(frozen=True, slots=True)
class Value:
    """A date, time, price, weekday or number found in a text."""

    kind: str
    key: tuple[object, ...]  # what is compared: (month, day), (hour, minute), (amount,), ...
    text: str  # as written
    start: int
    end: int


def match_fact(text: str, facts: Sequence[Fact]) -> Fact | None:
    """The configured fact `text` is about (most keywords found, inflection-tolerant), or None."""
    if not facts:
        return None
    tokens = cues.tokenize(text)
    best, best_count = None, 0
    for fact in facts:
        if not fact.keywords:
            continue
        count = cues.keywords(tuple(fact.keywords)).count(tokens)
        if count > best_count:
            best, best_count = fact, count
    return best


def find_contradiction(
    text: str, post_text: str, facts: Sequence[Fact], *, today: date | None = None
) -> Contradiction | None:
    """The first claim in `text` that disagrees with the post or a matching fact, or None."""
    fact = match_fact(text, facts) or (match_fact(post_text, facts) if post_text else None)
    references = [(fact.statement, fact)] if fact else []
    if post_text:
        references.append((post_text, None))
    if not references:
        return None
    tokens = cues.tokenize(text)
    claims = [claim for claim in _corrections(text, tokens, references, today) if claim]
    if not claims:
        claims = _value_claims(text, tokens, references, today)
    if claims:
        return min(claims, key=lambda claim: _PRIORITY.get(claim.kind, 9))
    return _rumour(text, tokens, references, fact)


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Patterns:
    month_names: dict[str, int]
    weekday_names: dict[str, int]
    relative: dict[str, int]
    date_word: re.Pattern[str]
    date_numeric: re.Pattern[str]
    week: re.Pattern[str]
    time: re.Pattern[str]
    time_bare: re.Pattern[str]
    price_before: re.Pattern[str]
    price_after: re.Pattern[str]
    free: re.Pattern[str]
    number: re.Pattern[str]
    weekday: re.Pattern[str]
    relative_day: re.Pattern[str]
    month: re.Pattern[str]
    weekday_words: frozenset[str]
    month_words: frozenset[str]
    free_words: frozenset[str]
    month_hint: re.Pattern[str]  # a month name in lower-case text (see _extract)


def _alternation(words: Sequence[str]) -> str:
    return "|".join(
        re.escape(word).replace(r"\ ", r"\s+") for word in sorted(set(words), key=len, reverse=True)
    )


@lru_cache(maxsize=1)
def _patterns() -> _Patterns:
    dates = cues.load_cues()["dates"]
    months = {name: number for number, names in enumerate(dates["months"], 1) for name in names}
    weekdays = {name: number for number, names in enumerate(dates["weekdays"]) for name in names}
    month = _alternation(list(months))
    weekday = _alternation([name for name in weekdays if len(name) > 3])
    times = _alternation([word.rstrip(".") for word in dates["time_words"] if word != "at"])
    price_words = _alternation([word for word in dates["price_words"] if word[0].isalpha()])
    return _Patterns(
        month_names=months,
        weekday_names=weekdays,
        relative={key: int(value) for key, value in dates["relative"].items()},
        date_word=re.compile(
            rf"(?i)(?<![\d.,])(\d{{1,2}})\.?\s*(?:of\s+)?({month})\b\.?(?:\s+(\d{{4}}))?|\b({month})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b"
        ),
        date_numeric=re.compile(
            r"(?<![\d.,/:])(\d{1,2})([./])(\d{1,2})(?:\2(\d{4}|\d{2}))?(\.?)(?![\d/]|[.,:]\d)"
        ),
        week=re.compile(rf"(?i)\b(?:{_alternation(dates['week_words'])})\.?\s*(\d{{1,2}})\b"),
        time=re.compile(
            rf"(?i)\b(?:{times})\.?\s*(\d{{1,2}})(?:[.:](\d{{2}}))?(?:\s*(?:-|–|til|og|to|and)\s*(?:(?:{times})\.?\s*)?(\d{{1,2}})(?:[.:](\d{{2}}))?)?(?!\d)"
        ),
        time_bare=re.compile(r"(?<![\d.,:/])([01]?\d|2[0-3])([.:])([0-5]\d)(?![\d]|[.,:]\d)"),
        price_before=re.compile(r"(?i)\b(?:kr\.?|nok)\s*(\d{1,3}(?:[  .]\d{3})+|\d+)(?:,(?:-|\d{2}))?"),
        price_after=re.compile(
            rf"(?i)(?<![\d.,])(\d{{1,3}}(?:[  .]\d{{3}})+|\d+)(?:,(?:-|\d{{2}}))?"
            rf"(?:\s*(?:{price_words})\b|,-)"
        ),
        free=re.compile(rf"(?i)\b(?:{_alternation(dates['free_words'])})\b"),
        number=re.compile(r"(?<![\d.,:/])(\d+(?:,\d+)?)\.?\s*(%|[^\W\d_]{2,})"),
        month=re.compile(rf"(?i)(?<![\d.]\s)(?<![\d.])\b({month})\b"),
        weekday=re.compile(rf"(?i)\b({weekday})\b"),
        relative_day=re.compile(rf"(?i)\b({_alternation(list(dates['relative']))})\b"),
        weekday_words=cues.words_in(name for name in weekdays if len(name) > 3),
        month_words=cues.words_in(months),
        free_words=cues.words_in(word.split()[0] for word in dates["free_words"]),
        month_hint=re.compile(rf"(?:{month})"),
    )


def _amount(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def extract_values(text: str, today: date | None = None) -> list[Value]:
    """Dates, times, prices, weekdays and numbers in `text`, in order."""
    return list(_extract(text, today))


@lru_cache(maxsize=512)
def _extract(text: str, today: date | None) -> tuple[Value, ...]:
    patterns = _patterns()
    values: list[Value] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, key: tuple[object, ...], start: int, end: int) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        written = text[start:end].strip()
        if kind == "date" and written.endswith(".") and not written[-2:-1].isdigit():
            written = written.rstrip(".")
        values.append(Value(kind, key, written, start, end))

    # Cheap gates first: most comments have no digits and name no weekday or month.
    has_digits = bool(_DIGIT.search(text))
    words = frozenset(cues.tokenize(text).norm)
    # Necessary conditions for the case-insensitive patterns, tested on the lower-cased text: a month
    # name (date_word), a time word, which all start with "kl" (time), "kr", "nok" or ",-" (prices).
    # Letters that IGNORECASE, but not str.lower, equates with ASCII ones make every test pass.
    lowered = text.lower() if has_digits else ""
    unsure = has_digits and not _CASE_TRAPS.isdisjoint(text)
    if has_digits and (unsure or patterns.month_hint.search(lowered)):
        for match in patterns.date_word.finditer(text):
            day = match.group(1) or match.group(5)
            # IGNORECASE also matches letters that lower() keeps ("AUGUſT"): those are skipped
            month_number = patterns.month_names.get((match.group(2) or match.group(4)).lower())
            year = match.group(3)
            if month_number is not None and 1 <= int(day) <= 31:
                add(
                    "date",
                    (month_number, int(day)) + ((int(year),) if year else ()),
                    match.start(),
                    match.end(),
                )
    if has_digits and (unsure or "kl" in lowered):
        for match in patterns.time.finditer(text):
            hour, minute = int(match.group(1)), int(match.group(2) or 0)
            if hour <= 24 and minute < 60:
                add(
                    "time",
                    (hour % 24, minute),
                    match.start(),
                    match.end(2) if match.group(2) else match.end(1),
                )
                if match.group(3) and int(match.group(3)) <= 24:
                    add(
                        "time",
                        (int(match.group(3)) % 24, int(match.group(4) or 0)),
                        match.start(3),
                        match.end(4) if match.group(4) else match.end(3),
                    )
    if has_digits:
        for match in patterns.date_numeric.finditer(text):
            day, separator, month, year, dot = match.groups()
            is_date = (
                1 <= int(day) <= 31
                and 1 <= int(month) <= 12
                # "10.30" is a time; "1.9", "01.09", "1.9." and "01.09.2026" are dates
                and (year or dot or separator == "/" or len(month) == 1 or day.startswith("0"))
            )
            if is_date:
                add(
                    "date",
                    (int(month), int(day)) + ((_full_year(year),) if year else ()),
                    match.start(),
                    match.end(4) if year else match.end(3),
                )
        for match in patterns.time_bare.finditer(text):
            add("time", (int(match.group(1)), int(match.group(3))), match.start(), match.end())
        for match in patterns.week.finditer(text):
            add("date", ("week", int(match.group(1))), match.start(), match.end())
        if unsure or "kr" in lowered or "nok" in lowered or ",-" in lowered:
            for pattern in (patterns.price_before, patterns.price_after):
                for match in pattern.finditer(text):
                    add("price", (_amount(match.group(1)),), match.start(), match.end())
    if words & patterns.free_words:
        for match in patterns.free.finditer(text):
            add("price", (0,), match.start(), match.end())
    if words & patterns.weekday_words:
        for match in patterns.weekday.finditer(text):
            weekday = patterns.weekday_names.get(match.group(1).lower())
            if weekday is not None:
                add("weekday", (weekday,), match.start(), match.end())
    if today is not None:
        for match in patterns.relative_day.finditer(text):
            offset = patterns.relative.get(re.sub(r"\s+", " ", match.group(1).lower()))
            if offset is not None:
                day = today + timedelta(days=offset)
                add("date", (day.month, day.day), match.start(), match.end())
    if words & patterns.month_words:
        for match in patterns.month.finditer(text):
            month_number = patterns.month_names.get(match.group(1).lower())
            if month_number is not None:
                add("date", ("month", month_number), match.start(), match.end())
    if has_digits:
        for match in patterns.number.finditer(text):
            unit = _unit(match.group(2))
            if unit:
                add("number", (unit, float(match.group(1).replace(",", "."))), match.start(), match.end())
    values.sort(key=lambda value: value.start)
    return tuple(values)


def _full_year(year: str) -> int:
    return int(year) + 2000 if len(year) == 2 else int(year)


@lru_cache(maxsize=4096)
def _unit(word: str) -> str:
    """A counted thing as a comparable stem ("bilar", "biler" -> "bil"), or "" for non-units."""
    if word == "%":
        return "%"
    normalised = cues.normalise_word(word)
    if normalised in _not_units():
        return ""
    for ending in ("ane", "ene", "ar", "er", "en", "et", "a", "e"):
        if normalised.endswith(ending) and len(normalised) - len(ending) >= 3:
            return normalised[: -len(ending)]
    return normalised


@lru_cache(maxsize=1)
def _not_units() -> frozenset[str]:
    dates = cues.load_cues()["dates"]
    words = set(dates["stopwords"]) | {name for names in dates["months"] for name in names}
    words |= {name for names in dates["weekdays"] for name in names}
    words |= (
        set(dates["time_words"])
        | set(dates["price_words"])
        | set(dates["week_words"])
        | {"mot", "av", "of", "til", "og"}
    )
    return frozenset(cues.normalise_word(word) for word in words)


# --- claims -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _words() -> dict[str, frozenset[str]]:
    dates = cues.load_cues()["dates"]
    return {
        "presupposition": cues.words_in(dates["presupposition"]),
        "negation": cues.words_in(dates["negation"]),
        "stopwords": cues.words_in(dates["stopwords"]) | _not_units(),
        "own_doings": frozenset(cues.normalise_word(phrase) for phrase in dates["own_doings"]),
        "counterfactual": frozenset(cues.normalise_word(phrase) for phrase in dates["counterfactual"]),
        "approximate": cues.words_in(dates["approximate"]),
        "prepositions": cues.words_in(dates["prepositions"]),
    }


def _sentence_span(tokens: Tokens, offset: int) -> tuple[int, int, int]:
    """(sentence number, first token, last token + 1) of the sentence around character `offset`."""
    index = next((i for i, end in enumerate(tokens.ends) if end > offset), len(tokens) - 1)
    sentence = tokens.sentence[index] if tokens.raw else 0
    members = [i for i, s in enumerate(tokens.sentence) if s == sentence]
    return sentence, members[0] if members else 0, members[-1] + 1 if members else 0


def _sentence_text(tokens: Tokens, first: int, last: int) -> str:
    if last <= first:
        return ""
    end = tokens.ends[last - 1]
    trailing = re.match(r"[^\w\n]*", tokens.text[end:])
    return tokens.text[tokens.starts[first] : end + (trailing.end() if trailing else 0)].strip()


def _question(tokens: Tokens, first: int, last: int) -> tuple[bool, bool]:
    """(is a question, presupposes an answer: "opnar den ikkje 15. august?")."""
    sentence = _sentence_text(tokens, first, last)
    if "?" not in sentence:
        return False, False
    words = set(tokens.norm[first:last])
    return True, bool(words & _words()["presupposition"])


def _own_doing(
    tokens: Tokens, first: int, last: int, kinds: tuple[str, ...] = ("own_doings", "counterfactual")
) -> bool:
    """About the writer's own doings ("eg søkte 10. mars") or a wish ("burde vore gratis"), not a claim."""
    joined = " " + " ".join(tokens.norm[first:last]) + " "
    words = _words()
    return any(f" {phrase} " in joined for kind in kinds for phrase in words[kind])


def _content(tokens: Tokens, first: int, last: int) -> list[str]:
    stopwords = _words()["stopwords"]
    return [
        word
        for word in tokens.norm[first:last]
        if len(word) >= 4 and word.isalpha() and word not in stopwords
    ]


_DEFINITE = ("en", "et", "a", "ane", "ene", "inga", "ingen", "na", "ne")


def _about_same_subject(
    tokens: Tokens, first: int, last: int, reference: str, skip: frozenset[int] = frozenset()
) -> bool:
    """The comment's sentence names no other thing (a proper or definite noun) than the reference."""
    content = [
        word
        for index, word in enumerate(tokens.norm[first:last], first)
        if index not in skip and word in _content(tokens, index, index + 1)
    ]
    if not content:
        return True
    haystack = _canonical_text(reference)
    if any(_canonical(word)[:5] in haystack for word in content):
        return True
    stopwords = _words()["stopwords"]
    subjects = [
        word
        for index, word in enumerate(tokens.norm[first:last], first)
        if index not in skip
        and len(word) >= 5
        and word.isalpha()
        and word not in stopwords
        and ((tokens.raw[index][:1].isupper() and index != first) or word.endswith(_DEFINITE))
    ]
    return not subjects


@lru_cache(maxsize=1)
def _variants() -> tuple[tuple[str, str], ...]:
    pairs = cues.load_cues().get("keywords", {}).get("variants", [])
    return tuple((cues.normalise_word(a), cues.normalise_word(b)) for a, b in pairs)


def _canonical(word: str) -> str:
    """Bokmål spellings mapped to Nynorsk ones, so "omkjøring" and "omkøyring" compare equal."""
    for nynorsk, bokmal in _variants():
        if bokmal in word:
            word = word.replace(bokmal, nynorsk)
    return word


@lru_cache(maxsize=256)
def _canonical_text(text: str) -> str:
    return " ".join(_canonical(word) for word in cues.tokenize(text).norm)


def _claim(
    kind: str, claimed: str, correct: str, fact: Fact | None, tokens: Tokens, offset: int
) -> Contradiction | None:
    _, first, last = _sentence_span(tokens, offset)
    question, presupposes = _question(tokens, first, last)
    if question and not presupposes:
        return None
    return Contradiction(kind, claimed, correct, fact, question)


def _value_claims(
    text: str, tokens: Tokens, references: list[tuple[str, Fact | None]], today: date | None
) -> list[Contradiction]:
    claims: list[Contradiction] = []
    negation = _words()["negation"]
    for value in _extract(text, today):
        if value.key[0] == "month" or (value.kind == "number" and "." in value.text):
            continue  # month names alone and ordinals ("2. etasje") only count in explicit corrections
        _, first, last = _sentence_span(tokens, value.start)
        index = next((i for i, start in enumerate(tokens.starts) if start >= value.start), last)
        if index > 0 and tokens.norm[index - 1] in _words()["approximate"]:
            continue
        negated = index > 0 and tokens.norm[index - 1] in negation
        if (negated and not _question(tokens, first, last)[0]) or _own_doing(tokens, first, last):
            continue
        for reference, fact in references:
            known = [
                other
                for other in _extract(reference, today)
                if other.kind == value.kind and _comparable(value, other)
            ]
            if not known or any(_same(value, other) for other in known):
                continue
            if value.kind == "weekday" and len({other.key for other in known}) > 1:
                continue  # opening hours and the like: a weekday alone says too little
            if not _about_same_subject(tokens, first, last, _sentences_of(reference, known)):
                continue
            claim = _claim(value.kind, value.text, known[0].text, fact, tokens, value.start)
            if claim:
                claims.append(claim)
            break
    return claims


def _sentences_of(text: str, values: Sequence[Value]) -> str:
    """The sentences of `text` that hold `values` (what the values are about)."""
    tokens = cues.tokenize(text)
    wanted = {_sentence_span(tokens, value.start)[0] for value in values}
    return " ".join(
        word for word, sentence in zip(tokens.raw, tokens.sentence, strict=True) if sentence in wanted
    )


def _comparable(value: Value, other: Value) -> bool:
    if value.kind == "number":
        return value.key[0] == other.key[0]
    if value.kind == "date":
        return (value.key[0] == "week") == (other.key[0] == "week") and other.key[0] != "month"
    return True


def _same(value: Value, other: Value) -> bool:
    if value.kind == "date" and "month" in (value.key[0], other.key[0]):
        month = value.key[1] if value.key[0] == "month" else value.key[0]
        other_month = other.key[1] if other.key[0] == "month" else other.key[0]
        return month == other_month
    if value.kind == "date" and value.key[0] != "week":
        if value.key[:2] != other.key[:2]:
            return False
        return len(value.key) < 3 or len(other.key) < 3 or value.key[2] == other.key[2]
    return value.key == other.key


# "15. august, ikkje 1. september" / "onsdag, ikkje torsdag": the commenter corrects the post.
_CORRECTION = re.compile(
    r"(?P<claimed>[^,;:!?]{1,60}?)\s*,\s*(?:og\s+)?(?:ikkje|ikke|not)\s+(?:på\s+|i\s+|til\s+|frå\s+|fra\s+)?"
    r"(?P<correct>[^\s,.;:!?](?:[^,;!?.]|[.,](?=\d)){0,40}?)(?=\s*(?:[,;!?]|\.(?!\d)|$|\s+(?:som|men|det|så|sidan|fordi)\b))",
    re.IGNORECASE,
)


def _corrections(
    text: str, tokens: Tokens, references: list[tuple[str, Fact | None]], today: date | None
) -> list[Contradiction | None]:
    claims: list[Contradiction | None] = []
    if "," not in text or not set(tokens.norm) & _words()["negation"]:
        return claims
    for match in _CORRECTION.finditer(text):
        _, first, last = _sentence_span(tokens, match.start())
        if _own_doing(tokens, first, last, ("counterfactual",)):
            continue  # "det burde vore på skulen, ikkje biblioteket" is a wish, not a correction
        correct = match.group("correct").strip()
        claimed_text = match.group("claimed").strip()
        correct_values = _extract(correct, today) or _bare_number(correct, references, today)
        for reference, fact in references:
            reference_values = _extract(reference, today)
            if correct_values:
                target = correct_values[0]
                if not any(other.kind == target.kind and _same(target, other) for other in reference_values):
                    continue
                same_kind = [v for v in _extract(claimed_text, today) if v.kind == target.kind]
                if not same_kind:
                    bare = re.findall(r"\d+(?:[.:,]\d+)?", claimed_text)
                    if not bare:
                        continue
                    claimed = bare[-1]
                else:
                    claimed = same_kind[-1].text
                claims.append(_claim(target.kind, claimed, target.text, fact, tokens, match.start()))
                break
            place = _place_correction(claimed_text, correct, reference)
            if place:
                claims.append(_claim("place", place[0], place[1], fact, tokens, match.start()))
                break
    return claims


def _bare_number(
    correct: str, references: list[tuple[str, Fact | None]], today: date | None
) -> tuple[Value, ...]:
    """A bare number in a correction ("ikkje 2050") read as the reference value it stands for."""
    match = re.match(r"(\d{1,3}(?:[  ]\d{3})+|\d+)(?:,(\d+))?", correct)
    if not match:
        return ()
    number = float(re.sub(r"\D", "", match.group(1)) + ("." + match.group(2) if match.group(2) else ""))
    for reference, _ in references:
        for value in _extract(reference, today):
            amount = (
                value.key[-1]
                if value.kind in ("price", "number")
                else value.key[1]
                if value.key[0] == "week"
                else None
            )
            if value.kind == "time" and value.key[1] == 0:
                amount = value.key[0]
            if amount is not None and float(amount) == number:  # type: ignore[arg-type]
                return (Value(value.kind, value.key, match.group(0), 0, match.end()),)
        if re.search(rf"(?<![\d.,]){re.escape(match.group(0))}(?![\d]|[.,]\d)", reference):
            return (Value("number", ("", number), match.group(0), 0, match.end()),)
    return ()


def _place_correction(claimed_text: str, correct: str, reference: str) -> tuple[str, str] | None:
    """("Måløy", "Florø") for "i Måløy, ikkje Florø" when the reference names Florø as the place."""
    reference_tokens = cues.tokenize(reference)
    correct_word = correct.split()[0]
    folded = cues.normalise_word(correct_word)
    positions = [i for i, word in enumerate(reference_tokens.norm) if word == folded]
    if not positions or len(folded) < 3 or folded in _words()["stopwords"]:
        return None
    is_name = correct_word[:1].isupper()
    after_preposition = any(
        i > 0 and reference_tokens.norm[i - 1] in _words()["prepositions"] for i in positions
    )
    if not (is_name or after_preposition):
        return None
    words = re.findall(r"[^\W\d_]+", claimed_text)
    names = [word for word in words[1:] if word[:1].isupper()] if is_name else []
    if names:
        claimed = names[-1]
    else:
        lowered = [cues.normalise_word(word) for word in words]
        after = [words[i + 1] for i, word in enumerate(lowered[:-1]) if word in _words()["prepositions"]]
        if not after:
            return None
        claimed = after[-1]
    if cues.normalise_word(claimed) in reference_tokens.norm:
        return None
    return claimed, correct_word


def _rumour(
    text: str, tokens: Tokens, references: list[tuple[str, Fact | None]], fact: Fact | None
) -> Contradiction | None:
    """A second-hand claim ("eg høyrde at ...") about the subject of the post or a fact."""
    markers = [hit for hit in cues.find(text) if hit.label == "rumour.markers"]
    if not markers:
        return None
    hit = markers[0]
    sentence = tokens.sentence[hit.first]
    members = [i for i, s in enumerate(tokens.sentence) if s == sentence]
    first, last = members[0], members[-1] + 1
    if len(_content(tokens, first, last)) == 0 and len(set(tokens.sentence)) > 1:
        # "Det sa dei på radioen." after the claim: the claim is the sentence before.
        previous = [i for i, s in enumerate(tokens.sentence) if s == sentence - 1]
        if previous:
            first = previous[0]
    question, _ = _question(tokens, first, last)
    claimed = _sentence_text(tokens, first, last)
    reference = fact.statement if fact else references[0][0]
    skip = frozenset(i for marker in markers for i in range(marker.first, marker.last))
    if not _about_same_subject(tokens, first, last, " ".join(r for r, _ in references), skip):
        return None
    return Contradiction("rumour", claimed[:200], reference[:200], fact, question)
