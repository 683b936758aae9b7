"""Guards on a reply: no personal data from the comment, only our own numbers and links, within length."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.classifier.pii import find_personal_data

PLATFORM_LIMITS = {"facebook": 8000, "instagram": 2200}
# Eight or more digits, alone or in groups: phone numbers (8), national ID numbers (11), account numbers.
_NUMBER = re.compile(r"(?<![\d])(?:\+|00)?\d(?:[ \-]?\d){7,}(?!\d)")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>«»\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_WORD = re.compile(r"[^\W\d_]+")
_TRAILING = ".,;:!?)"


def _digits(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    if digits.startswith("0047"):
        return digits[4:]
    if digits.startswith("47") and len(digits) == 10:
        return digits[2:]
    return digits


def _mentions(haystack: str, needle: str) -> bool:
    needle = " ".join(needle.lower().split())
    if not needle:
        return False
    start = r"(?<!\w)" if needle[0].isalnum() else ""
    end = r"(?!\w)" if needle[-1].isalnum() else ""
    return re.search(start + re.escape(needle) + end, " ".join(haystack.lower().split())) is not None


def reply_problems(reply: str, comment_text: str, trusted: str) -> list[str]:
    """Why `reply` must not be published (empty when it is safe); `trusted` is text the municipality wrote."""
    # what occurs in our own text is ours: a generic word such as "barnevernet" is not a repeat
    problems = []
    repeated = sorted(
        {
            match.kind
            for match in find_personal_data(comment_text)
            if _mentions(reply, match.text) and not _mentions(trusted, match.text)
        }
    )
    if repeated:
        problems.append(f"det gjentok personopplysningar frå kommentaren ({', '.join(repeated)})")
    own_numbers = {_digits(number) for number in _NUMBER.findall(trusted)}
    if any(_digits(number) not in own_numbers for number in _NUMBER.findall(reply)):
        problems.append("det hadde eit telefon- eller ID-nummer som ikkje er kommunen sitt")
    trusted_lower = trusted.lower()
    if any(link.rstrip(_TRAILING).lower() not in trusted_lower for link in _URL.findall(reply)):
        problems.append("det hadde ei lenkje som ikkje står i malane, fakta eller oppsettet")
    if any(address.rstrip(_TRAILING).lower() not in trusted_lower for address in _EMAIL.findall(reply)):
        problems.append("det hadde ei e-postadresse som ikkje er kommunen si")
    return problems


def essentials(text: str) -> list[str]:
    """Links, e-mail addresses, phone and emergency numbers in `text` that a rewrite must keep."""
    found = [link.rstrip(_TRAILING) for link in _URL.findall(text)]
    found += [address.rstrip(_TRAILING) for address in _EMAIL.findall(text)]
    found += _NUMBER.findall(text)
    found += sorted(set(re.findall(r"(?<!\d)11[023](?!\d)", text)))
    return found


def missing_essentials(original: str, rewrite: str) -> list[str]:
    """The essentials of `original` that `rewrite` lost (numbers compared digit by digit)."""
    rewrite_digits = {_digits(n) for n in _NUMBER.findall(rewrite)}
    missing = []
    for item in essentials(original):
        if re.fullmatch(r"[+\d][\d \-]*", item):
            if _digits(item) not in rewrite_digits and item not in rewrite:
                missing.append(item)
        elif item.lower() not in rewrite.lower():
            missing.append(item)
    return missing


def foreign_words(text: str, forbidden: Iterable[str]) -> set[str]:
    """The words of `text` that belong to the other written standard."""
    banned = set(forbidden)
    return {word.lower() for word in _WORD.findall(text) if word.lower() in banned}


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of a reply; `joiner` goes before it: " " (same paragraph) or "\\n\\n" (new paragraph)."""

    text: str
    joiner: str = " "
    optional: bool = False  # may be left out to fit the length
    shrinkable: bool = False  # may be cut short to fit the length (never a block with a link)


def join_blocks(blocks: Sequence[Block]) -> str:
    """The reply text of `blocks`."""
    parts: list[str] = []
    for block in blocks:
        if not block.text:
            continue
        joiner = block.joiner
        if parts and joiner == " " and _URL.search(parts[-1].rsplit(" ", 1)[-1]):
            joiner = "\n"  # a link at the end of a line stays clickable and readable
        parts.append((joiner if parts else "") + block.text)
    return "".join(parts)


def shorten(text: str, length: int) -> str:
    """`text` cut to at most `length` characters at a word boundary, ending in "…"."""
    if len(text) <= length:
        return text
    if length < 2:
        return text[:length]
    cut = text[: length - 1]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:–-") + "…"


def fit_blocks(blocks: Sequence[Block], limit: int) -> str:
    """Join `blocks` within `limit` characters: drop optional blocks, then shorten long ones."""
    kept = [block for block in blocks if block.text]
    text = join_blocks(kept)
    for index in reversed(range(len(kept))):
        if len(text) <= limit:
            return text
        if kept[index].optional:
            kept.pop(index)
            text = join_blocks(kept)
    shrinkable = sorted((i for i, b in enumerate(kept) if b.shrinkable), key=lambda i: -len(kept[i].text))
    for index in shrinkable:
        overflow = len(join_blocks(kept)) - limit
        if overflow <= 0:
            break
        block = kept[index]
        kept[index] = replace(block, text=shorten(block.text, max(len(block.text) - overflow, 40)))
    text = join_blocks(kept)
    return text if len(text) <= limit else shorten(text, limit)
