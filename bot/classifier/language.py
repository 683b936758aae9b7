"""Language of a comment: ISO 639-1, with Nynorsk ("nn") told apart from Bokmål ("nb")."""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.classifier import cues

UNDETERMINED = "und"
_NORWEGIAN_LABELS = frozenset({"no", "nn", "nb"})
_NOISE = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.]+|@\w+(?:[ \u00a0][A-ZÆØÅ]\w+){0,2}|#\w+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Letters that Norwegian never uses: a text with them is not Norwegian.
_FOREIGN_LATIN = re.compile(r"[äöüßłśżźćńąęčėįšųūžőűçñãõìùëïğşıýțășđ]")
_SWEDISH_LETTERS = re.compile(r"[äö]")
_NON_LATIN = re.compile(r"[\u0370-\u1FFF\u2C00-\uFFFF]")
_SCRIPTS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("arabic", ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))),
    ("cyrillic", ((0x0400, 0x04FF),)),
    ("ethiopic", ((0x1200, 0x139F),)),
    ("greek", ((0x0370, 0x03FF),)),
    ("hebrew", ((0x0590, 0x05FF),)),
    ("thai", ((0x0E00, 0x0E7F),)),
    ("hangul", ((0xAC00, 0xD7AF), (0x1100, 0x11FF))),
    ("kana", ((0x3040, 0x30FF),)),
    ("han", ((0x4E00, 0x9FFF),)),
    ("devanagari", ((0x0900, 0x097F),)),
)
_SCRIPT_LANGUAGE = {
    "greek": "el",
    "hebrew": "he",
    "thai": "th",
    "hangul": "ko",
    "kana": "ja",
    "han": "zh",
    "devanagari": "hi",
}
# Norwegian municipalities hear from Ukrainians far more than from Bulgarians or Serbians.
_SCRIPT_CANDIDATES = {"arabic": ("ar", "fa", "ur", "ps", "ku"), "cyrillic": ("uk", "ru")}


@dataclass(frozen=True, slots=True)
class _Cues:
    nn: frozenset[str]
    nb: frozenset[str]
    nb_also_danish: frozenset[str]
    nn_suffixes: tuple[str, ...]
    nb_suffixes: tuple[str, ...]
    norwegian: frozenset[str]
    danish: frozenset[str]
    swedish: frozenset[str]
    somali: frozenset[str]
    amharic: frozenset[str]
    ukrainian: frozenset[str]
    default: str
    candidates: tuple[str, ...]


@lru_cache(maxsize=1)
def _cues() -> _Cues:
    section: Mapping[str, Any] = cues.load_cues()["language"]

    def words(key: str) -> frozenset[str]:
        return frozenset(word.lower() for word in section.get(key, ()))

    return _Cues(
        nn=words("nn"),
        nb=words("nb"),
        nb_also_danish=words("nb_also_danish"),
        nn_suffixes=tuple(section.get("nn_suffixes", ())),
        nb_suffixes=tuple(section.get("nb_suffixes", ())),
        norwegian=words("norwegian"),
        danish=words("danish_only"),
        swedish=words("swedish_only"),
        somali=words("somali"),
        amharic=words("amharic"),
        ukrainian=words("ukrainian"),
        default=section.get("norwegian_default", "nn"),
        candidates=tuple(section.get("candidates", ())),
    )


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text` ("nn", "nb", "en", "pl", ...), or "und" if it cannot be told."""
    return _detect(text)


@lru_cache(maxsize=1024)
def _detect(text: str) -> str:
    # every branch of _NOISE needs one of these
    cleaned = _NOISE.sub(" ", text) if "@" in text or "#" in text or "://" in text or "www." in text else text
    if sum(len(word) for word in _WORD.findall(cleaned)) < 2:
        return UNDETERMINED
    script = _script(cleaned)
    if script == "ethiopic":
        return "am" if set(_WORD.findall(cleaned)) & _cues().amharic else "ti"
    if script in _SCRIPT_LANGUAGE:
        return _SCRIPT_LANGUAGE[script]
    if script == "cyrillic":
        lowered = cleaned.lower()
        if re.search(r"[іїєґ]", lowered):
            return "uk"
        if re.search(r"[ыэъё]", lowered):
            return "ru"
        if set(_WORD.findall(lowered)) & _cues().ukrainian:
            return "uk"
    if script in _SCRIPT_CANDIDATES:
        return _top(cleaned, _SCRIPT_CANDIDATES[script])[0]
    return _latin(cleaned)


def _script(text: str) -> str:
    """The writing system most letters belong to ("latin" if none of the others)."""
    others = [character for character in _NON_LATIN.findall(text) if character.isalpha()]
    if not others:
        return "latin"
    counts: dict[str, int] = {
        "latin": sum(1 for character in text if character.isalpha() and ord(character) < 0x0370)
    }
    for character in others:
        code = ord(character)
        for name, ranges in _SCRIPTS:
            if any(low <= code <= high for low, high in ranges):
                counts[name] = counts.get(name, 0) + 1
                break
    return max(counts, key=lambda name: counts[name])


@dataclass(slots=True)
class _Scores:
    nn: float = 0.0
    nb: float = 0.0
    nb_only: float = 0.0
    shared: float = 0.0
    danish: float = 0.0
    swedish: float = 0.0
    somali: float = 0.0
    words: int = 0

    @property
    def norwegian(self) -> float:
        return self.nn + self.nb


_ZERO = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_WORD_SCORES: dict[str, tuple[float, ...]] = {}


def _word_score(original: str) -> tuple[float, ...]:
    """One word's evidence: (danish, swedish, somali, nn, nb, nb_only, shared)."""
    lexicon = _cues()
    danish = float(original in lexicon.danish)
    swedish = float(original in lexicon.swedish)
    somali = float(original in lexicon.somali)
    word = original.replace("aa", "å") if "aa" in original else original
    nn = nb = nb_only = 0.0
    matched = False
    if word in lexicon.nn:
        nn += 1
        matched = True
    if word in lexicon.nb:
        weight = 0.5 if word in lexicon.nb_also_danish else 1.0
        nb += weight
        nb_only += weight if weight == 1.0 else 0.0
        matched = True
    shared = float(word in lexicon.norwegian)
    if not matched and len(word) >= 5:
        if word.endswith(lexicon.nn_suffixes):
            nn += 0.5
        elif word.endswith(lexicon.nb_suffixes):
            nb += 0.5
    return danish, swedish, somali, nn, nb, nb_only, shared


def _score(words: Sequence[str]) -> _Scores:
    """The cue-word evidence of a text (each word's share memoised: most words recur)."""
    memo = _WORD_SCORES
    rows = []
    for word in words:
        row = memo.get(word)
        if row is None:
            row = _word_score(word)
            if len(memo) >= 200_000:
                memo.clear()
            memo[word] = row
        rows.append(row)
    columns = zip(*rows, _ZERO, strict=True)  # _ZERO: seven columns even without words
    danish, swedish, somali, nn, nb, nb_only, shared = (sum(column) for column in columns)
    return _Scores(nn, nb, nb_only, shared, danish, swedish, somali, len(words))


def _latin(cleaned: str) -> str:
    lowered = cleaned.lower()
    words = _WORD.findall(lowered)
    scores = _score(words)
    foreign_letters = bool(_FOREIGN_LATIN.search(lowered))
    specific = scores.nn + scores.nb_only
    if (
        not foreign_letters
        and not scores.danish
        and not scores.swedish
        and (specific >= 2 or (specific >= 1 and scores.shared >= 1))
    ):
        return _standard(scores, words)
    best, probability = _top(cleaned, _cues().candidates)
    if scores.somali >= 2 or (best == "so" and (scores.somali or probability >= 0.9)):
        return "so"
    scandinavian = best in ("sv", "da", "no", "nn")
    if not scandinavian and probability >= 0.9 and len(words) >= 3:
        return best
    if scandinavian or (scores.norwegian + scores.shared > 0 and best not in ("en", "de")):
        swedish_letters = bool(_SWEDISH_LETTERS.search(lowered)) and not re.search(r"[æø]", lowered)
        if swedish_letters and (
            best == "sv" or (best not in ("de", "fi", "et") and scores.swedish >= scores.norwegian)
        ):
            return "sv"
        if best == "sv" and scores.swedish and scores.swedish >= scores.nn + scores.nb_only:
            return "sv"
        if best == "da" and scores.danish > scores.nn + scores.nb_only:
            return "da"
        if best in _NORWEGIAN_LABELS or scores.norwegian + scores.shared > 0:
            return _standard(scores, words)
        if best in ("sv", "da") and probability >= 0.9 and len(words) >= 4:
            return best
        return UNDETERMINED
    if len(words) < 3 and probability < 0.9:
        return UNDETERMINED
    return best if probability >= 0.35 else UNDETERMINED


def _standard(scores: _Scores, words: Sequence[str]) -> str:
    """Nynorsk or Bokmål: by cue words, then by simplemma's word lists, then the configured default."""
    if scores.nn > scores.nb:
        return "nn"
    if scores.nb > scores.nn:
        return "nb"
    nynorsk, bokmal = _lexicon_votes(tuple(words))
    if nynorsk != bokmal:
        return "nn" if nynorsk > bokmal else "nb"
    return _cues().default


def _lexicon_votes(words: tuple[str, ...]) -> tuple[int, int]:
    """How many words only the Nynorsk, and only the Bokmål, dictionary of simplemma knows.

    From the compact lists in standard_words.py (milliseconds to load); simplemma itself (about a
    second to load its dictionaries) only if those are missing."""
    from bot.classifier import standard_words

    if standard_words.available():
        return standard_words.votes(words)
    try:
        from simplemma import is_known
    except ImportError:  # optional: without it, ties go to the configured default
        return 0, 0
    nynorsk = bokmal = 0
    for word in words:
        in_nn, in_nb = is_known(word, lang="nn"), is_known(word, lang="nb")
        nynorsk += in_nn and not in_nb
        bokmal += in_nb and not in_nn
    return nynorsk, bokmal


def _classify(text: str, languages: Sequence[str]) -> list[tuple[str, float]]:
    """The statistical model's ranking of `text` among `languages` (best first)."""
    identifier = _identifier(tuple(languages))
    text = unicodedata.normalize("NFC", text)
    return [(language, float(probability)) for language, probability in identifier.rank(text)]


def _top(text: str, languages: Sequence[str]) -> tuple[str, float]:
    """`_classify(text, languages)[0]` without ranking all the other languages."""
    identifier = _identifier(tuple(languages))
    decide = getattr(identifier, "_decide", None)
    if decide is None:  # another py3langid than the one this was written for
        return _classify(text, languages)[0]
    scores = decide(unicodedata.normalize("NFC", text))
    # rank() sorts the first column of each label (aliases are folded into it and zeroed) stably:
    # its first entry is the first column with the highest score
    best = int(scores.argmax())
    return identifier.nb_classes[best], float(scores[best])


@lru_cache(maxsize=1)
def _full_identifier() -> Any:
    """The py3langid model, loaded once (about half a second) on first use."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]) -> Any:
    """The model restricted to `languages` (a shallow copy: the weights are shared)."""
    identifier = copy.copy(_full_identifier())
    identifier.set_languages([language for language in languages if language in identifier.labels] or None)
    return identifier
