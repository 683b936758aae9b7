"""Personal data in free text: ID numbers, phone numbers, e-mail, health, child welfare, addresses."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from bot.classifier import cues
from bot.classifier.cues import Hit, Tokens

PLACEHOLDERS = {
    "national_id": "[fødselsnummer]",
    "d_number": "[fødselsnummer]",
    "h_number": "[fødselsnummer]",
    "phone": "[telefon]",
    "email": "[e-post]",
    "health": "[helseopplysning]",
    "child_welfare": "[barnevern]",
    "address": "[adresse]",
    "age": "[alder]",
    "birth_date": "[fødselsdato]",
    "case_number": "[saksnummer]",
    "vehicle": "[registreringsnummer]",
    "bank_account": "[kontonummer]",
    "circumstances": "[personopplysning]",
}
_SENSITIVE = {
    "health.terms": "health",
    "health.places": "health",
    "child_welfare.terms": "child_welfare",
    "circumstances.terms": "circumstances",
}
_WHAT = {
    "health": "health detail",
    "child_welfare": "child-welfare detail",
    "circumstances": "financial or social circumstances",
}


@dataclass(frozen=True, slots=True)
class PersonalDataMatch:
    """One piece of personal data: what kind, where in the text, and why it counts."""

    kind: str  # a key of PLACEHOLDERS
    start: int
    end: int
    text: str
    detail: str = ""

    @property
    def placeholder(self) -> str:
        """The Nynorsk placeholder that replaces it in masked text."""
        return PLACEHOLDERS.get(self.kind, "[personopplysning]")


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_ID = re.compile(r"(?<![\d.,/-])(\d{6})[ .\-\u00a0]?(\d{5})(?!\d|[.,]\d)")
_PHONE = re.compile(
    r"(?<![\w.,+/-])(?:(?:\+|00)[ \u00a0]?47[ .\-\u00a0]?)?"
    r"(?:[2-9]\d{7}"
    r"|[2-9]\d{2}(?P<a>[ .\-\u00a0])\d{2}(?P=a)\d{3}"
    r"|[2-9]\d(?P<b>[ .\-\u00a0])\d{2}(?P=b)\d{2}(?P=b)\d{2}"
    r"|[2-9]\d{2}[ \-\u00a0]\d{5}"
    r"|(?P<y>[2-9]\d{3})[ \-\u00a0](?P<z>\d{4}))"
    r"(?![\w]|[.,]\d)"
)
_YEAR = re.compile(r"(?:19|20)\d\d")
_DIGITS = re.compile(r"\d+")
_CASE_ALONE = re.compile(r"(?<![\w./-])\d{2}/\d{3,6}(?![\w/]|[.,]\d)")
_AGE = re.compile(
    r"\(\s*(\d{1,3})(?:\s*år)?\s*\)"
    r"|\b(?:på|er|is|aged?)\s+(?:berre\s+|bare\s+|only\s+)?(\d{1,3})\b(?!\s*(?:[.,:/]\d|%))"
    r"|\b(\d{1,3})\s*(?:år|years?)\b"
    r"|(?<=,\s)(\d{1,3})(?=\))",
    re.IGNORECASE,
)
_CAPITAL = r"[A-ZÆØÅ][\wæøåÆØÅ'’-]"
_ADDRESS = re.compile(
    rf"(?<![\w@])((?:{_CAPITAL}+ )?{_CAPITAL}{{2,}}(?: (?:gate|gata|vei|veg|vegen|veien|allé|alle))?)"
    r" (\d{1,3}[A-Za-z]?)(?: ?[-–] ?\d{1,3})?(?![\w/]|[.,:]\d)"
    rf"(?:, ?\d{{4}} {_CAPITAL}+)?"
)
_NEXT_WORD = re.compile(r"\s*(,-|\.(?=\s)|)\s*\(?([^\W\d_]+|%)?")
_BIRTH_DATE = re.compile(
    r"(?:\bf\.|\bfødt|\bfødd|\bfødselsdato|\bborn|\bdate of birth)\s*(?:den\s+|on\s+)?:?\s*"
    r"(\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})\b|\d{1,2}\.\s*[^\W\d_]+\s+\d{4}|(?:19|20)\d\d\b)",
    re.IGNORECASE,
)
_BANK_ACCOUNT = re.compile(r"(?<![\d.,])\d{4}([ .])\d{2}\1\d{5}(?![\d]|[.,]\d)")
_VEHICLE = re.compile(r"(?<![\w-])[A-Z]{2} ?\d{2} ?\d{2,3}(?![\w-])")


def national_id_kind(digits: str) -> str | None:
    """ "national_id", "d_number" or "h_number" when the 11 digits pass the date and mod-11 checks."""
    if len(digits) != 11 or not digits.isdigit():
        return None
    numbers = [int(digit) for digit in digits]
    first = 11 - sum(w * d for w, d in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), numbers[:9], strict=True)) % 11
    second = 11 - sum(w * d for w, d in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), numbers[:10], strict=True)) % 11
    if first % 11 != numbers[9] or second % 11 != numbers[10]:
        return None
    day, month = int(digits[:2]), int(digits[2:4])
    kind = "national_id"
    if day > 40:
        day, kind = day - 40, "d_number"
    if month > 40:
        month, kind = month - 40, "h_number"
    return kind if 1 <= day <= 31 and 1 <= month <= 12 else None


def find_personal_data(text: str) -> list[PersonalDataMatch]:
    """Every piece of personal data found in `text`, in order, without overlaps."""
    return list(_find(text))


def mask_personal_data(text: str) -> str:
    """`text` with every piece of personal data replaced by a placeholder such as [e-post]."""
    for match in reversed(_find(text)):
        text = text[: match.start] + match.placeholder + text[match.end :]
    return text


@lru_cache(maxsize=512)
def _find(text: str) -> tuple[PersonalDataMatch, ...]:
    tokens = cues.tokenize(text)
    people = _People(tokens, cues.find(text))
    found: list[PersonalDataMatch] = []
    if "@" in text:
        found += [
            PersonalDataMatch("email", m.start(), m.end(), m.group(), "e-mail address")
            for m in _EMAIL.finditer(text)
        ]
    streets: list[re.Match[str]] = []
    digits = sum(map(len, _DIGITS.findall(text)))
    if digits:
        if digits >= 8:  # ID, bank account and phone numbers have 8 digits or more
            found += _id_numbers(text, tokens)
            found += _simple(text, _BANK_ACCOUNT, "bank_account", "bank account number")
            found += _phones(text, tokens, found)
        if digits >= 4:
            found += _simple(text, _BIRTH_DATE, "birth_date", "date of birth", group=1)
            found += _simple(text, _VEHICLE, "vehicle", "vehicle registration number")
            found += _case_numbers(text, tokens, people)
        streets = _street_candidates(text, tokens)
        people.has_address = bool(streets)
        found += _addresses(text, tokens, people, streets)
    found += _sensitive(tokens, people)
    if found and digits:
        # An age alone is not sensitive; next to other personal data it helps identify the person.
        found += _ages(text, tokens, people)
    found.sort(key=lambda match: (match.start, -match.end))
    kept: list[PersonalDataMatch] = []
    for match in found:
        if not kept or match.start >= kept[-1].end:
            kept.append(match)
    return tuple(kept)


@lru_cache(maxsize=1)
def _context() -> dict[str, frozenset[str]]:
    loaded = cues.load_cues()
    pii, person, dates = loaded["pii"], loaded["person"], loaded["dates"]
    return {
        "id": cues.words_in(pii["id_context"]),
        "not_phone": cues.words_in(pii["not_phone_context"]),
        "not_phone_after": cues.words_in(pii["not_phone_after"]),
        "street": cues.words_in(pii["street_suffixes"]),
        "not_house": cues.words_in(pii["not_house_number_after"]),
        "first_names": frozenset(person["first_names"]),
        "ambiguous_names": frozenset(person["ambiguous_first_names"]),
        "not_surnames": frozenset(person["not_surnames"]),
        "months": frozenset(cues.normalise_word(w) for group in dates["months"] for w in group),
        "weekdays": frozenset(cues.normalise_word(w) for group in dates["weekdays"] for w in group),
    }


def _alternatives(words: list[str]) -> str:
    return "|".join(
        re.escape(word.lower()).replace(r"\ ", r"\s+") for word in sorted(words, key=len, reverse=True)
    )


@lru_cache(maxsize=1)
def _case_pattern() -> re.Pattern[str]:
    words = _alternatives(cues.load_cues()["pii"]["case_context"])
    return re.compile(
        rf"(?i)(?<!\w)(?:{words})(?!\w)\.?\s*(?:nr\.?|nummer)?\s*(?:er|is|:)?\s*"
        r"(\d{2,4}[/-]\d{1,6}(?:[/-]\d+)?|\d{4,12})"
    )


@lru_cache(maxsize=1)
def _residence_pattern() -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{_alternatives(cues.load_cues()['person']['residence'])})(?!\w)")


def _token_at(tokens: Tokens, offset: int) -> int:
    """Index of the token that starts at or before character `offset`."""
    return max(0, bisect_right(tokens.starts, offset) - 1)


def _next_word(text: str, offset: int) -> tuple[str, str]:
    """The punctuation and the normalised word right after `offset`."""
    match = _NEXT_WORD.match(text, offset)
    if not match:
        return "", ""
    return match.group(1), cues.normalise_word(match.group(2) or "")


def _words_before(tokens: Tokens, offset: int, count: int) -> list[str]:
    index = bisect_right(tokens.starts, offset - 1) - 1
    if index >= 0 and tokens.ends[index] > offset:
        index -= 1
    return list(tokens.norm[max(0, index - count + 1) : index + 1])


def _simple(
    text: str, pattern: re.Pattern[str], kind: str, detail: str, group: int = 0
) -> list[PersonalDataMatch]:
    return [
        PersonalDataMatch(kind, m.start(group), m.end(group), m.group(group), detail)
        for m in pattern.finditer(text)
    ]


def _id_numbers(text: str, tokens: Tokens) -> list[PersonalDataMatch]:
    context = _context()
    found = []
    for match in _ID.finditer(text):
        before = _words_before(tokens, match.start(), 3)
        introduced = any(word in context["id"] for word in before)
        kind = national_id_kind(match.group(1) + match.group(2))
        if kind is not None and (introduced or not set(before[-2:]) & context["not_phone"]):
            detail = {"national_id": "national ID number", "d_number": "D-number", "h_number": "H-number"}[
                kind
            ]
            found.append(
                PersonalDataMatch(
                    kind, match.start(), match.end(), match.group(), f"{detail} with valid check digits"
                )
            )
        elif introduced:
            found.append(
                PersonalDataMatch(
                    "national_id",
                    match.start(),
                    match.end(),
                    match.group(),
                    "number given as a national ID number",
                )
            )
    return found


def _phones(text: str, tokens: Tokens, taken: list[PersonalDataMatch]) -> list[PersonalDataMatch]:
    context = _context()
    found = []
    for match in _PHONE.finditer(text):
        if any(other.start < match.end() and match.start() < other.end for other in taken):
            continue
        if match.group("y") and _YEAR.fullmatch(match.group("y")) and _YEAR.fullmatch(match.group("z") or ""):
            continue
        before = _words_before(tokens, match.start(), 1)
        punctuation, word = _next_word(text, match.end())
        if (
            (before and before[-1] in context["not_phone"])
            or punctuation == ",-"
            or word in context["not_phone_after"]
        ):
            continue
        found.append(
            PersonalDataMatch("phone", match.start(), match.end(), match.group(), "Norwegian phone number")
        )
    return found


def _case_numbers(text: str, tokens: Tokens, people: _People) -> list[PersonalDataMatch]:
    if not people.others:
        return []
    spans = {(m.start(1), m.end(1)) for m in _case_pattern().finditer(text)}
    spans |= {(m.start(), m.end()) for m in _CASE_ALONE.finditer(text)}
    return [
        PersonalDataMatch("case_number", s, e, text[s:e], "case, invoice or staff number of a person")
        for s, e in sorted(spans)
    ]


def _ages(text: str, tokens: Tokens, people: _People) -> list[PersonalDataMatch]:
    context = _context()
    units = context["not_house"] - {"ar", "ars"}
    found = []
    for match in _AGE.finditer(text):
        group = next(g for g in (1, 2, 3, 4) if match.group(g))
        start, end = match.start(group), match.end(group)
        punctuation, word = _next_word(text, end)
        if (
            int(match.group(group)) > 110
            or word in units
            or (punctuation == "." and word in context["months"])
        ):
            continue
        tail = re.match(r"\s*(?:år|years?(?: old)?)", text[end:], re.IGNORECASE)
        end += tail.end() if tail else 0
        if people.owner_before(_token_at(tokens, start), window=5):
            found.append(
                PersonalDataMatch("age", start, end, text[start:end], "age of a named or identifiable person")
            )
    return found


def _street_candidates(text: str, tokens: Tokens) -> list[re.Match[str]]:
    """Street-and-number strings (by street word or by "bur i" before them), not dates or amounts."""
    context = _context()
    found = []
    for match in _ADDRESS.finditer(text):
        last_word = cues.normalise_word(match.group(1).split()[-1])
        punctuation, word = _next_word(text, match.end(2))
        if last_word in context["months"] or last_word in context["weekdays"] or word in context["not_house"]:
            continue
        if punctuation == "." and word in context["months"]:
            continue
        if any(last_word.endswith(suffix) for suffix in context["street"]) or _lived_in(
            text, tokens, match.start()
        ):
            found.append(match)
    return found


def _lived_in(text: str, tokens: Tokens, offset: int) -> bool:
    index = _token_at(tokens, offset)
    window = text[tokens.starts[max(0, index - 5)] : offset].lower() if index > 0 else ""
    return bool(_residence_pattern().search(window))


def _addresses(
    text: str, tokens: Tokens, people: _People, streets: list[re.Match[str]]
) -> list[PersonalDataMatch]:
    found = []
    for match in streets:
        index = _token_at(tokens, match.start())
        if people.sensitive or people.identifies(index, allow_self=False, near=False):
            found.append(
                PersonalDataMatch(
                    "address", match.start(), match.end(), match.group(), "street address tied to a person"
                )
            )
    return found


def _sensitive(tokens: Tokens, people: _People) -> list[PersonalDataMatch]:
    found = []
    for hit in people.hits:
        kind = _SENSITIVE.get(hit.label)
        if kind is None:
            continue
        allow_self = hit.label != "health.places"
        if people.has_address or people.identifies(hit.first, allow_self=allow_self, near=True):
            start, end = tokens.span(hit.first, hit.last)
            found.append(
                PersonalDataMatch(
                    kind, start, end, tokens.text[start:end], f"{_WHAT[kind]} about an identifiable person"
                )
            )
    return found


class _People:
    """Who a comment is about: the writer, relatives and named people, by sentence."""

    def __init__(self, tokens: Tokens, hits: tuple[Hit, ...]) -> None:
        self.tokens = tokens
        self.hits = hits
        self.has_address = False
        self.sensitive = any(h.label in _SENSITIVE for h in hits)
        self.others = [(h.first, h.last) for h in hits if h.label == "person.relative"] + _names(tokens)
        self.others += [
            (h.last, h.last + 1) for h in hits if h.label == "person.name_intro" and h.last < len(tokens)
        ]
        self.other_sentences = {tokens.sentence[first] for first, _ in self.others}
        self.pronouns = [h.first for h in hits if h.label == "person.pronoun"]
        self.self_sentences = {tokens.sentence[h.first] for h in hits if h.label == "person.self"}
        self.generic = [(h.last, tokens.sentence[h.first]) for h in hits if h.label == "person.generic"]

    def identifies(self, index: int, *, allow_self: bool, near: bool) -> bool:
        """Whether the detail at token `index` is about an identifiable person."""
        sentences = self.tokens.sentence
        sentence = sentences[index]
        if sentence in self.other_sentences or (sentence - 1) in self.other_sentences:
            return True
        if self.others and any(sentences[p] == sentence for p in self.pronouns):
            return True
        if not allow_self or not {sentence - 1, sentence, sentence + 1} & self.self_sentences:
            return False
        return not (near and any(s == sentence and index - 3 <= end <= index for end, s in self.generic))

    def owner_before(self, index: int, window: int) -> bool:
        """Whether a relative, a name, or a pronoun for one comes just before token `index`."""
        sentences = self.tokens.sentence
        for first, last in self.others:
            if last <= index and index - last < window and sentences[first] == sentences[index]:
                return True
        return bool(self.others) and any(
            p < index and index - p <= window and sentences[p] == sentences[index] for p in self.pronouns
        )


def _names(tokens: Tokens) -> list[tuple[int, int]]:
    """Token spans of people's names (a known first name, with or without a surname)."""
    context = _context()
    if tokens.text.isupper():
        return []
    names = []
    raw = tokens.raw
    for index, word in enumerate(raw):
        if tokens.mention[index] or not word[:1].isupper():
            continue
        ambiguous = word in context["ambiguous_names"]
        if word not in context["first_names"] and not ambiguous:
            continue
        following = raw[index + 1] if index + 1 < len(raw) else ""
        gap = tokens.text[tokens.ends[index] : tokens.starts[index + 1]] if following else ""
        if gap == " " and following[:1].isupper() and following not in context["not_surnames"]:
            names.append((index, index + 2))
        elif not ambiguous or gap.strip() == "(":
            names.append((index, index + 1))
    return names
