"""Word forms only one written standard has: Nynorsk-only and Bokmål-only, for telling nn from nb.

language.py breaks a tie between Nynorsk and Bokmål cue words by counting the words that only the
Nynorsk, or only the Bokmål, dictionary knows. The dictionaries are simplemma's (about 140,000 and
640,000 forms); loading them takes about a second. This module keeps just the forms that tell the
standards apart, as CRC-32 hashes in nn_nb_words.npz (about 1.3 MB, loaded in milliseconds):

- a lower-case word counts for a standard when simplemma's ``is_known`` knows it in that standard
  and not in the other (the same test as before);
- a hash stands for its word: a word outside the lists is taken for a listed one about once in
  8,000 look-ups, and that only matters when the cue words tie; the few forms whose hash is in both
  lists are stored as words.

Rebuild after upgrading simplemma (deterministic, needs simplemma)::

    python -m bot.classifier.standard_words
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_FILE = Path(__file__).with_name("nn_nb_words.npz")
STANDARDS = ("nn", "nb")
# The words language.py reads (letters, at most one apostrophe inside).
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'"})
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def word_hash(word: str) -> int:
    """The stored hash of a lower-case word (apostrophes unified)."""
    return zlib.crc32(word.translate(_APOSTROPHES).encode("utf-8", "surrogatepass"))


def _encode(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted 32-bit hashes as (count per high 16 bits, low 16 bits): two bytes a word."""
    return (
        np.bincount(hashes >> 16, minlength=1 << 16).astype(np.uint32),
        (hashes & 0xFFFF).astype(np.uint16),
    )


def _decode(counts: np.ndarray, low: np.ndarray) -> np.ndarray:
    high = np.repeat(np.arange(1 << 16, dtype=np.uint32), counts.astype(np.int64))
    return (high << np.uint32(16)) | low.astype(np.uint32)


def build(path: str | Path = DATA_FILE) -> dict[str, int]:
    """Write the lists from simplemma's dictionaries; returns how many forms each standard has."""
    from simplemma import is_known
    from simplemma.strategies.dictionaries.dictionary_factory import DefaultDictionaryFactory

    factory = DefaultDictionaryFactory()
    candidates = sorted(
        {key.lower() for lang in STANDARDS for key in factory.get_dictionary(lang)} - {""},
    )
    candidates = [word for word in candidates if _WORD.fullmatch(word)]
    arrays: dict[str, np.ndarray] = {}
    summary: dict[str, int] = {}
    own: dict[str, list[str]] = {}
    hashes: dict[str, np.ndarray] = {}
    for lang, other in (STANDARDS, STANDARDS[::-1]):
        own[lang] = [word for word in candidates if is_known(word, lang) and not is_known(word, other)]
        hashes[lang] = np.unique(np.asarray([word_hash(word) for word in own[lang]], dtype=np.uint32))
        arrays[f"{lang}_counts"], arrays[f"{lang}_low"] = _encode(hashes[lang])
        summary[lang] = len(own[lang])
    # A hash in both lists cannot say which standard its word has: those words are kept as words.
    both = set(np.intersect1d(hashes["nn"], hashes["nb"]).tolist())
    for lang in STANDARDS:
        clashing = sorted(word for word in own[lang] if word_hash(word) in both)
        arrays[f"{lang}_clashes"] = np.asarray(clashing, dtype=str)
    summary["clashes"] = len(both)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=9)
    return summary


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, np.ndarray], dict[str, frozenset[str]]] | None:
    """The sorted hashes of each standard's own forms and the words whose hash both lists have,
    or None without the data file."""
    if not DATA_FILE.is_file():
        return None
    with np.load(DATA_FILE, allow_pickle=False) as data:
        tables = {lang: _decode(data[f"{lang}_counts"], data[f"{lang}_low"]) for lang in STANDARDS}
        clashes = {lang: frozenset(data[f"{lang}_clashes"].tolist()) for lang in STANDARDS}
    return tables, clashes


def available() -> bool:
    return _tables() is not None


def _member(table: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    position = np.searchsorted(table, hashes)
    position[position == len(table)] = 0
    return table[position] == hashes if len(table) else np.zeros(len(hashes), dtype=bool)


def votes(words: Iterable[str]) -> tuple[int, int]:
    """How many of `words` (lower case) only Nynorsk, and only Bokmål, has."""
    loaded = _tables()
    listed: Sequence[str] = list(words)
    if loaded is None or not listed:
        return 0, 0
    tables, clashes = loaded
    hashes = np.fromiter((word_hash(word) for word in listed), dtype=np.uint32, count=len(listed))
    nynorsk, bokmal = _member(tables["nn"], hashes), _member(tables["nb"], hashes)
    for i in np.flatnonzero(nynorsk & bokmal).tolist():
        nynorsk[i], bokmal[i] = listed[i] in clashes["nn"], listed[i] in clashes["nb"]
    return int(nynorsk.sum()), int(bokmal.sum())


if __name__ == "__main__":
    print(build())
