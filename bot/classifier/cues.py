"""The cue lists in cues.toml, and the tokeniser and phrase matcher the rule-based detectors share."""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

CUES_PATH = Path(__file__).with_name("cues.toml")
# Sections of cues.toml whose string lists are phrase lists for the lexicon.
PHRASE_SECTIONS = (
    "person",
    "health",
    "circumstances",
    "child_welfare",
    "urgent",
    "abusive",
    "political",
    "rumour",
    "tone",
)
# Lists in those sections that are not phrase lists.
NOT_PHRASES = frozenset({"person.first_names", "person.ambiguous_first_names", "person.not_surnames"})
# Texts whose tokens and cue phrases are kept: a batch of comments, and the posts they were written
# under, which the detectors read again for every comment.
CACHE_SIZE = 4096
# Masked words ("f*en") are only read as abusive words.
MASKED_LABEL_PREFIX = "abusive."

# Stars only inside a word ("f*en", "id**t"): "*viktig*" is the word "viktig".
_TOKEN = re.compile(r"[\w@$]+(?:\*+[\w@$]+)*(?:['’][\w]+)*")
_FOLD_MAP = {
    "å": "a",
    "ø": "o",
    "æ": "ae",
    "ä": "a",
    "ö": "o",
    "ü": "u",
    "é": "e",
    "è": "e",
    "ê": "e",
    "ó": "o",
    "ò": "o",
    "ô": "o",
    "á": "a",
    "à": "a",
    "â": "a",
    "í": "i",
    "ú": "u",
}
_FOLD = str.maketrans(_FOLD_MAP)
# str.translate is slow on non-ASCII text; a regex over the few letters to fold is not.
_FOLDABLE = re.compile("[" + "".join(_FOLD_MAP) + "]")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_MIXED = re.compile(r"[^\W\d_][0-9@$]|[0-9@$][^\W\d_]")
# Explicit letter classes: Python's Unicode classes make these searches several times slower.
_STRETCHED = re.compile(r"([a-zæøåäöüéèóòáàíúñçłśżźćńąęčšž])\1\1+")
# Words a full stop follows without ending the sentence ("kl. 10", "ca. 20").
_ABBREVIATIONS = frozenset(
    {
        "kl",
        "ca",
        "nr",
        "tlf",
        "pga",
        "evt",
        "dvs",
        "osv",
        "f",
        "mvh",
        "bl",
        "eks",
        "st",
        "jf",
        "mill",
        "kr",
        "ref",
        "adr",
        "reg",
        "t",
        "o",
        "a",
        "m",
    }
)


@lru_cache(maxsize=1)
def load_cues() -> Mapping[str, Any]:
    """The parsed cues.toml (read once)."""
    with CUES_PATH.open("rb") as handle:
        return tomllib.load(handle)


def plain_word(word: str) -> str:
    """Lower case, leetspeak undone, letters stretched three times or more cut to two ("ikkkkje")."""
    word = word.lower().replace("’", "'")
    if _MIXED.search(word):
        word = word.translate(_LEET)
    return _STRETCHED.sub(r"\1\1", word)


def fold(plain: str) -> str:
    """A plain word without diacritics, "aa" read as "å" ("paa" and "på" both give "pa")."""
    if not plain.isascii():
        plain = _FOLDABLE.sub(_fold_letter, plain)
    return plain.replace("aa", "a")


def _fold_letter(match: re.Match[str]) -> str:
    return _FOLD_MAP[match.group()]


def normalise_word(word: str) -> str:
    """The form cue words are matched on: lower case, no diacritics, no leetspeak, no stretching."""
    return fold(plain_word(word))


@dataclass(frozen=True, slots=True)
class Tokens:
    """A text split into words, with normalised forms, character spans and sentence numbers."""

    text: str
    raw: tuple[str, ...]
    norm: tuple[str, ...]  # normalise_word of each word
    plain: tuple[str, ...]  # plain_word of each word (diacritics kept)
    alt: tuple[str, ...]  # a second reading of stretched words ("idiooot" -> "idiot"), else ""
    accented: tuple[bool, ...]  # the word has diacritics (Norwegian letters or accents)
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    sentence: tuple[int, ...]
    mention: tuple[bool, ...]
    joined: str  # the normalised words joined by single spaces, mentions left out

    def __len__(self) -> int:
        return len(self.raw)

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Character span of tokens first..last-1."""
        return self.starts[first], self.ends[last - 1]


@lru_cache(maxsize=CACHE_SIZE)
def tokenize(text: str) -> Tokens:
    """Split `text` into words (cached: every detector tokenises the same comment)."""
    raw = _TOKEN.findall(text)
    starts, ends, sentence = _positions(text, raw)
    lowered = "\x00".join(raw).lower().replace("’", "'")
    if any(not word.isalpha() and not word.isdigit() for word in raw):
        lowered = "\x00".join(w.translate(_LEET) if _MIXED.search(w) else w for w in lowered.split("\x00"))
    alt = [""] * len(raw)
    if _STRETCHED.search(lowered):
        alt = [fold(_STRETCHED.sub(r"\1", w)) if _STRETCHED.search(w) else "" for w in lowered.split("\x00")]
        lowered = _STRETCHED.sub(r"\1\1", lowered)
    plain = lowered.split("\x00") if raw else []
    folded = fold(lowered)
    norm = folded.split("\x00") if raw else []
    if "@" in text:
        mention = _mentions(text, raw, starts, ends)
        joined = " ".join(word for word, skip in zip(norm, mention, strict=True) if not skip)
    else:
        mention = [False] * len(raw)
        joined = folded.replace("\x00", " ")
    accented = (
        tuple(not p.isascii() and bool(_FOLDABLE.search(p)) for p in plain)
        if folded != lowered
        else (False,) * len(raw)
    )
    return Tokens(
        text,
        tuple(raw),
        tuple(norm),
        tuple(plain),
        tuple(alt),
        accented,
        tuple(starts),
        tuple(ends),
        tuple(sentence),
        tuple(mention),
        joined,
    )


_BREAKS = re.compile(r"[.!?\n…]")


def _positions(text: str, raw: list[str]) -> tuple[list[int], list[int], list[int]]:
    """Where each word starts and ends, and which sentence it is in ("1. september" goes on)."""
    starts: list[int] = []
    ends: list[int] = []
    find = text.find
    position = 0
    for word in raw:
        start = find(word, position)
        position = start + len(word)
        starts.append(start)
        ends.append(position)
    count = len(raw)
    if count < 2 or not _BREAKS.search(text):
        return starts, ends, [0] * count
    # Words never contain . ! ? or a line break, so each one found lies in the gap before some word.
    gaps = sorted({bisect_right(starts, match.start()) for match in _BREAKS.finditer(text)})
    steps = [0] * count
    for index in gaps:
        if index == 0 or index >= count:
            continue  # before the first word or after the last: no new sentence starts
        previous, word = raw[index - 1], raw[index]
        gap = text[ends[index - 1] : starts[index]]
        ordinal = previous.isdigit() and not word[:1].isupper()  # "1. september", "3. klasse"
        if not (gap.strip() == "." and (ordinal or previous.lower() in _ABBREVIATIONS)):
            steps[index] = 1
    return starts, ends, list(accumulate(steps))


def _mentions(text: str, raw: list[str], starts: list[int], ends: list[int]) -> list[bool]:
    """Words that tag a person ("@Kari Solheim"): the tag and up to two capitalised words after it."""
    mention = []
    remaining = 0
    for index, word in enumerate(raw):
        if word.startswith("@") and len(word) > 1:
            remaining = 3
        elif remaining and not (word[:1].isupper() and text[ends[index - 1] : starts[index]] == " "):
            remaining = 0
        mention.append(remaining > 0)
        remaining = max(remaining - 1, 0)
    return mention


@dataclass(frozen=True, slots=True)
class Hit:
    """A phrase from a cue list found at tokens first..last-1."""

    label: str
    first: int
    last: int


_EXACT, _PREFIX, _SUFFIX, _ANY = 0, 1, 2, 3
_Pattern = tuple[int, str, str]  # kind, folded text, plain text (diacritics kept)


def _pattern(word: str) -> _Pattern:
    if word == "?":
        return _ANY, "", ""
    if len(word) > 2 and word.endswith("*") and not word.startswith("*"):
        kind, word = _PREFIX, word[:-1]
    elif len(word) > 2 and word.startswith("*") and not word.endswith("*"):
        kind, word = _SUFFIX, word[1:]
    else:
        kind, word = _EXACT, word.strip("*")
    plain = plain_word(word)
    return kind, fold(plain), plain


def _matches(pattern: _Pattern, tokens: Tokens, index: int) -> bool:
    """Whether token `index` matches: diacritics the writer typed must agree ("høre" is not "hore")."""
    kind, folded, plain = pattern
    if kind == _ANY:
        return True
    word = tokens.norm[index]
    if kind == _EXACT:
        ok = word == folded and (not tokens.accented[index] or tokens.plain[index] == plain)
    elif kind == _PREFIX:
        ok = word.startswith(folded) and (not tokens.accented[index] or tokens.plain[index].startswith(plain))
    else:
        ok = word.endswith(folded) and (not tokens.accented[index] or tokens.plain[index].endswith(plain))
    if ok or not tokens.alt[index]:
        return ok
    alt = tokens.alt[index]  # a stretched word read with single letters: diacritics not checked
    return (
        alt == folded
        if kind == _EXACT
        else alt.startswith(folded)
        if kind == _PREFIX
        else alt.endswith(folded)
    )


_Entry = tuple[str, _Pattern, tuple[_Pattern, ...]]  # label, first word, the other words
_NOTHING: tuple[list[_Entry], list[_Entry], bool] = ([], [], False)  # a form that starts no phrase


class Lexicon:
    """Phrase lists indexed by their first word (or first two words), for one pass over a text."""

    def __init__(self, phrases: Mapping[str, Iterable[str]]) -> None:
        self._exact: dict[str, list[_Entry]] = {}
        self._pairs: dict[tuple[str, str], list[_Entry]] = {}
        self._prefix: dict[str, list[_Entry]] = {}
        self._suffix: dict[str, list[_Entry]] = {}
        for label, entries in phrases.items():
            for entry in entries:
                words = [_pattern(word) for word in entry.split()]
                if not words or words[0][0] == _ANY or not words[0][1]:
                    continue
                kind, head = words[0][0], words[0][1]
                item = (label, words[0], tuple(words[1:]))
                if kind == _EXACT and len(words) > 1 and words[1][0] == _EXACT:
                    self._pairs.setdefault((head, words[1][1]), []).append(item)
                    continue
                table = {_EXACT: self._exact, _PREFIX: self._prefix, _SUFFIX: self._suffix}[kind]
                table.setdefault(head, []).append(item)
        self._prefix_lengths = sorted({len(key) for key in self._prefix})
        self._suffix_lengths = sorted({len(key) for key in self._suffix})
        self._pair_heads = frozenset(head for head, _ in self._pairs)
        self._forms: dict[str, tuple[list[_Entry], list[_Entry], bool]] = {}

    def _single(self, form: str) -> tuple[list[_Entry], list[_Entry], bool]:
        """What a word form can start: (exact entries, prefix then suffix entries, whether it is the
        first word of a two-word key); memoised, since it depends on the form alone."""
        known = self._forms.get(form)
        if known is not None:
            return known
        exact = list(self._exact.get(form, ()))
        affixes: list[_Entry] = []
        size = len(form)
        for length in self._prefix_lengths:
            if length > size:
                break
            affixes.extend(self._prefix.get(form[:length], ()))
        for length in self._suffix_lengths:
            if length > size:
                break
            affixes.extend(self._suffix.get(form[-length:], ()))
        head = form in self._pair_heads
        known = (exact, affixes, head) if exact or affixes or head else _NOTHING
        if len(self._forms) >= 200_000:
            self._forms.clear()
        self._forms[form] = known
        return known

    def find(self, tokens: Tokens, labels: frozenset[str] | None = None) -> list[Hit]:
        """Every phrase found in `tokens` (mentions of people skipped), optionally only some labels."""
        hits: list[Hit] = []
        norm = tokens.norm
        alts = tokens.alt
        mention = tokens.mention
        count = len(norm)
        single = self._single
        memo = self._forms
        pairs = self._pairs
        for index, word in enumerate(norm):
            alt = alts[index]
            if (not alt and memo.get(word) is _NOTHING and "*" not in word) or mention[index]:
                continue  # most words start no phrase
            candidates: list[_Entry] = []
            for form in (word, alt) if alt else (word,):
                exact, affixes, starts_pair = single(form)
                candidates += exact
                if starts_pair and index + 1 < count:
                    found = pairs.get((form, norm[index + 1]))
                    if found:
                        candidates += found
                candidates += affixes
            masked = "*" in word
            if masked:
                candidates.extend(self._masked(word))
            if not candidates:
                continue
            seen: set[tuple[str, int]] = set()
            for label, head, rest in candidates:
                if labels is not None and label not in labels:
                    continue
                end = index + 1 + len(rest)
                if end > count or (label, end) in seen:
                    continue
                if not masked and tokens.accented[index] and not _matches(head, tokens, index):
                    continue
                if rest and not all(
                    _matches(pattern, tokens, index + 1 + offset) for offset, pattern in enumerate(rest)
                ):
                    continue
                seen.add((label, end))
                hits.append(Hit(label, index, end))
        return hits

    def _masked(self, word: str) -> list[_Entry]:
        """Entries that a *-masked word such as "f*en" or "id**t" could stand for."""
        pattern = re.compile(
            "".join(
                "[a-z]{1,4}" if part == "*" else re.escape(part) for part in re.split(r"(\*)+", word) if part
            )
        )
        found: list[_Entry] = []
        for head, entries in self._exact.items():
            if pattern.fullmatch(head):
                found.extend(entry for entry in entries if entry[0].startswith(MASKED_LABEL_PREFIX))
        return found


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """All phrase lists of cues.toml, labelled "section.key" (built once)."""
    return Lexicon(dict(_phrase_lists(load_cues(), PHRASE_SECTIONS)))


def _phrase_lists(cues: Mapping[str, Any], sections: Sequence[str]) -> Iterable[tuple[str, list[str]]]:
    for section in sections:
        for key, value in cues.get(section, {}).items():
            label = f"{section}.{key}"
            if (
                label not in NOT_PHRASES
                and isinstance(value, list)
                and all(isinstance(i, str) for i in value)
            ):
                yield label, value


@lru_cache(maxsize=CACHE_SIZE)
def find(text: str) -> tuple[Hit, ...]:
    """Every cue phrase in `text` (cached per text)."""
    return tuple(lexicon().find(tokenize(text)))


@lru_cache(maxsize=CACHE_SIZE)
def find_by_label(text: str) -> Mapping[str, tuple[Hit, ...]]:
    """The cue phrases in `text` grouped by list ("urgent.hazards": (...)), cached per text."""
    grouped: dict[str, list[Hit]] = {}
    for hit in find(text):
        grouped.setdefault(hit.label, []).append(hit)
    return {label: tuple(found) for label, found in grouped.items()}


def words_in(values: Iterable[str]) -> frozenset[str]:
    """A cue list as a set of normalised single words."""
    return frozenset(normalise_word(value) for value in values)


_ENDINGS = (
    "ingane",
    "ingene",
    "ingar",
    "inger",
    "ingen",
    "inga",
    "ing",
    "ane",
    "ene",
    "ar",
    "er",
    "en",
    "et",
    "a",
    "e",
)


def stem(word: str) -> str:
    """A normalised word without its inflection ending (kept at five letters or more)."""
    word = normalise_word(word)
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 5:
            return word[: -len(ending)]
    return word


class Keywords:
    """Configured keywords (facts, political matters) matched tolerant of inflection and compounds."""

    def __init__(self, keywords: Iterable[str]) -> None:
        variants = [
            (normalise_word(a), normalise_word(b))
            for a, b in load_cues().get("keywords", {}).get("variants", [])
        ]
        self.patterns: list[re.Pattern[str]] = []
        for keyword in keywords:
            words = [stem(word) for word in keyword.split() if word.strip()]
            if not words:
                continue
            forms = {" ".join(words)}
            for a, b in variants:
                forms |= {form.replace(a, b) for form in forms} | {form.replace(b, a) for form in forms}
            self.patterns.append(re.compile("|".join(_keyword_regex(form) for form in sorted(forms))))

    def count(self, tokens: Tokens) -> int:
        """How many of the keywords occur in `tokens`."""
        return sum(1 for pattern in self.patterns if pattern.search(tokens.joined))


def _keyword_regex(form: str) -> str:
    parts = form.split()
    if len(parts) == 1 and len(parts[0]) >= 6:
        return re.escape(parts[0])  # also inside compounds: "skulenedlegging"
    return (
        r"(?<!\S)"
        + r"\S* ".join(re.escape(part) for part in parts)
        + (r"" if len(parts[-1]) >= 4 else r"(?!\S)")
    )


@lru_cache(maxsize=256)
def keywords(words: tuple[str, ...]) -> Keywords:
    """The compiled matcher for a tuple of keywords (cached)."""
    return Keywords(words)
