"""Reply templates and cue words, loaded from TOML data files that people edit without code."""

from __future__ import annotations

import hashlib
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

LANGUAGES = ("nn", "nb")
PLACEHOLDERS = frozenset(
    {"first_name", "topic", "fact", "link", "matter", "email", "form_url", "phone", "contact", "signature"}
)
# Every key a language file must have, so a missing variant fails at start-up, not on a comment.
REQUIRED_KEYS = (
    "greeting.named",
    "greeting.anonymous",
    "praise.event",
    "praise.staff",
    "praise.service",
    "praise.general",
    "neutral.answer",
    "neutral.unknown",
    "neutral.acknowledge",
    "negative.acknowledge",
    "negative.fact",
    "negative.contact",
    "negative.long_thread",
    "factual_error.correct",
    "factual_error.unknown",
    "case_inquiry.intro",
    "case_inquiry.send_form",
    "case_inquiry.send_email",
    "case_inquiry.send_phone",
    "case_inquiry.send_generic",
    "case_inquiry.call",
    "case_inquiry.after_urgent",
    "case_inquiry.privacy",
    "case_inquiry.child_concern",
    "case_inquiry.adult_concern",
    "political.opener",
    "political.pending",
    "political.pending_no_link",
    "political.decided",
    "political.decided_no_link",
    "political.unknown",
    "political.input",
    "urgent.emergency",
    "urgent.followup",
    "common.source",
    "common.contact_email_phone",
    "common.contact_email",
    "common.contact_phone",
    "common.sign_off",
    "common.safe",
    "common.safe_no_contact",
)
_FORMATTER = string.Formatter()


def placeholders(template: str) -> set[str]:
    """The placeholder names used in `template`."""
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name is not None}


def pick(variants: list[str], values: Mapping[str, str], seed: str) -> str | None:
    """Render one variant whose placeholders all have values, chosen by a stable hash of `seed`."""
    usable = [v for v in variants if all(values.get(name) for name in placeholders(v))]
    if not usable:
        return None
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    chosen = usable[int.from_bytes(digest[:8], "big") % len(usable)]
    return chosen.format_map(dict(values))


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """The reply templates of one written standard."""

    language: str
    variants: dict[str, list[str]]  # "praise.event" -> variants
    topics: dict[str, str]  # topic key -> noun phrase, e.g. "library" -> "biblioteket"
    signature_word: str  # "Helsing" / "Hilsen"

    def render(self, key: str, values: Mapping[str, str], seed: str) -> str | None:
        """One rendered variant of `key`, or None when no variant has all its values."""
        return pick(self.variants[key], values, f"{seed}|{key}")

    def all_text(self) -> str:
        """Every template and topic name, for telling our own words from the commenter's."""
        return "\n".join([*(v for vs in self.variants.values() for v in vs), *self.topics.values()])


@dataclass(frozen=True, slots=True)
class Cues:
    """Cue words for topics, concerns, questions, names and the written standards (cues.toml)."""

    topics: dict[str, tuple[str, tuple[str, ...]]]  # key -> (kind, cues)
    child_welfare: tuple[str, ...]
    report: tuple[str, ...]
    own_case: tuple[str, ...]
    worry: tuple[str, ...]
    child: tuple[str, ...]
    adult: tuple[str, ...]
    question_starters: frozenset[str]
    when: tuple[str, ...]
    price: tuple[str, ...]
    stopwords: frozenset[str]
    organisation_words: frozenset[str]
    foreign_words: dict[str, frozenset[str]]  # language -> words of the other standard


@dataclass(frozen=True, slots=True)
class Templates:
    """Everything the composer reads from data files."""

    languages: dict[str, TemplateSet]
    english: dict[str, list[str]]
    cues: Cues
    system_prompt: str


def load_templates(directory: str | Path | None = None) -> Templates:
    """Load nn.toml and nb.toml from `directory` (default: the packaged ones); other files fall back."""
    packaged = Path(str(resources.files("bot.replies") / "templates"))
    folder = Path(directory) if directory else packaged

    def read(name: str, *, fallback: bool) -> dict[str, Any]:
        path = folder / name
        if fallback and not path.exists():
            path = packaged / name
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: template file not found; check [replies] templates_path") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None

    languages = {
        lang: _template_set(lang, read(f"{lang}.toml", fallback=False), folder) for lang in LANGUAGES
    }
    english = {
        key: _variant_list(value, folder / "en.toml", f"lines.{key}")
        for key, value in read("en.toml", fallback=True).get("lines", {}).items()
    }
    cues = _cues(read("cues.toml", fallback=True))
    prompt = str(read("prompt.toml", fallback=True).get("system", "")).strip()
    for lang, template_set in languages.items():
        missing = sorted(set(cues.topics) - set(template_set.topics))
        if missing:
            raise ConfigError(f"{folder / (lang + '.toml')}: [topics] has no name for {', '.join(missing)}")
    return Templates(languages, english, cues, prompt)


def _template_set(language: str, raw: dict[str, Any], folder: Path) -> TemplateSet:
    path = folder / f"{language}.toml"
    variants: dict[str, list[str]] = {}
    for section, entries in raw.items():
        if section in ("meta", "topics") or not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            variants[f"{section}.{key}"] = _variant_list(value, path, f"{section}.{key}")
    missing = [key for key in REQUIRED_KEYS if key not in variants]
    if missing:
        raise ConfigError(f"{path}: missing template(s) {', '.join(missing)}; copy from the packaged file")
    topics = {str(k): str(v) for k, v in raw.get("topics", {}).items()}
    default_word = "Helsing" if language == "nn" else "Hilsen"
    signature_word = str(raw.get("meta", {}).get("signature_word", default_word))
    return TemplateSet(language, variants, topics, signature_word)


def _variant_list(value: object, path: Path, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigError(f"{path}: {key} must be a non-empty list of texts")
    for item in items:
        try:
            unknown = placeholders(item) - PLACEHOLDERS
        except ValueError as error:
            raise ConfigError(f"{path}: {key}: {error} in {item!r}; write a literal brace twice") from None
        if unknown:
            raise ConfigError(
                f"{path}: {key} uses unknown placeholder(s) {', '.join(sorted(unknown))}; "
                f"use only {', '.join(sorted(PLACEHOLDERS))}"
            )
    return list(items)


def _cues(raw: dict[str, Any]) -> Cues:
    def words(section: str, key: str) -> tuple[str, ...]:
        return tuple(str(w).lower() for w in raw.get(section, {}).get(key, []))

    topics = {
        str(key): (str(entry.get("kind", "service")), tuple(str(c).lower() for c in entry.get("cues", [])))
        for key, entry in raw.get("topics", {}).items()
    }
    foreign = {lang: frozenset(_foreign(raw, lang)) for lang in LANGUAGES}
    return Cues(
        topics=topics,
        child_welfare=words("concern", "child_welfare"),
        report=words("concern", "report"),
        own_case=words("concern", "own_case"),
        worry=words("concern", "worry"),
        child=words("concern", "child"),
        adult=words("concern", "adult"),
        question_starters=frozenset(words("questions", "starters")),
        when=words("questions", "when"),
        price=words("questions", "price"),
        stopwords=frozenset(words("matching", "stopwords")),
        organisation_words=frozenset(words("names", "organisation")),
        foreign_words=foreign,
    )


def _foreign(raw: dict[str, Any], language: str) -> tuple[str, ...]:
    return tuple(str(w).lower() for w in raw.get("standards", {}).get(language, {}).get("foreign", []))
