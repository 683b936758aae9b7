"""Written standards: every template word is real Nynorsk or Bokmål, and replies come in the right one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import simplemma

import bot.replies
from bot.config import ReplySettings
from bot.domain import Category, Classification, Comment, Fact, Flag, PoliticalMatter
from bot.errors import ConfigError
from bot.replies import ReplyComposer, load_templates

PACKAGED = Path(bot.replies.__file__).parent / "templates"

# Words simplemma's lexicon does not know but that belong in the reply, each with its reason.
ALLOWED = {
    "nn": {
        "SFO",  # acronym: skulefritidsordninga
        "barnevernvakta",  # the name of the emergency child welfare service
        "dokumentasjonsplikt",  # the guidelines' own term ("Sakshandsaming")
        "møteplan",  # what municipal websites call the calendar of political meetings and their papers
    },
    "nb": {
        "SFO",  # acronym: skolefritidsordningen
        "barnevernvakten",  # the name of the emergency child welfare service
    },
    "en": set(),
}
# Typical forms of one standard that must never appear in the other's templates.
BOKMAL_ONLY = [
    "ikke",
    "hva",
    "hvordan",
    "hvorfor",
    "fra",
    "jeg",
    "hilsen",
    "mye",
    "bare",
    "noen",
    "kommer",
    "mer",
]
NYNORSK_ONLY = [
    "ikkje",
    "kva",
    "korleis",
    "kvifor",
    "frå",
    "eg",
    "helsing",
    "mykje",
    "berre",
    "nokon",
    "kjem",
    "meir",
]

_PLACEHOLDER = re.compile(r"\{\w+\}")
_LINK = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\S+\.no/\S*")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def words(text: str) -> list[str]:
    """The words of a template, without placeholders, links and e-mail addresses."""
    return _WORD.findall(_LINK.sub(" ", _PLACEHOLDER.sub(" ", text)))


def template_texts(language: str) -> dict[str, str]:
    templates = load_templates()
    if language == "en":
        return {f"lines.{key}[{i}]": v for key, vs in templates.english.items() for i, v in enumerate(vs)}
    template_set = templates.languages[language]
    texts = {f"{key}[{i}]": v for key, vs in template_set.variants.items() for i, v in enumerate(vs)}
    texts.update({f"topics.{key}": name for key, name in template_set.topics.items()})
    return texts


@pytest.mark.parametrize("language", ["nn", "nb", "en"])
def test_every_template_word_is_known_in_its_written_standard(language: str) -> None:
    unknown = {
        (word, key)
        for key, text in template_texts(language).items()
        for word in words(text)
        if word not in ALLOWED[language] and not simplemma.is_known(word, lang=language)
    }
    assert not unknown, f"not {language} according to simplemma: {sorted(unknown)}"


def test_allow_lists_stay_small_and_are_needed() -> None:
    for language, allowed in ALLOWED.items():
        assert len(allowed) <= 5
        used = {word for text in template_texts(language).values() for word in words(text)}
        assert allowed <= used, f"remove unused allow-list entries: {sorted(allowed - used)}"


def test_no_bokmal_forms_in_nynorsk_templates() -> None:
    banned = set(BOKMAL_ONLY) | load_templates().cues.foreign_words["nn"]
    found = {
        (word, key)
        for key, text in template_texts("nn").items()
        for word in words(text)
        if word.lower() in banned
    }
    assert not found


def test_no_nynorsk_forms_in_bokmal_templates() -> None:
    banned = set(NYNORSK_ONLY) | load_templates().cues.foreign_words["nb"]
    found = {
        (word, key)
        for key, text in template_texts("nb").items()
        for word in words(text)
        if word.lower() in banned
    }
    assert not found


def test_the_other_standards_word_lists_hold_real_words_of_that_standard() -> None:
    foreign = load_templates().cues.foreign_words
    assert set(BOKMAL_ONLY) <= foreign["nn"] and set(NYNORSK_ONLY) <= foreign["nb"]
    assert [w for w in foreign["nn"] if not simplemma.is_known(w, lang="nb")] == []
    assert [w for w in foreign["nb"] if not simplemma.is_known(w, lang="nn")] == []


# --- replies in the right standard ----------------------------------------------------------------------

FACT = Fact("Symjehallen opnar att 1. september.", ("symjehall",), "https://kinn.kommune.no/symjehall")
MATTER = PoliticalMatter("Skulestruktur", "pending", ("skulestruktur",), "https://kinn.kommune.no/sak/41")
CASES = [
    ("praise", ()),
    ("neutral", ()),
    ("negative", ()),
    ("factual_error", ()),
    ("case_inquiry", ("personal_data",)),
    ("case_inquiry", ("urgent",)),
    ("negative", ("political",)),
    ("praise", ("political",)),
]


def composer(**changes: object) -> ReplyComposer:
    values: dict[str, object] = {
        "records_office_email": "postmottak@kinn.kommune.no",
        "phone": "57 75 20 00",
        "inquiry_form_url": "https://kinn.kommune.no/skjema",
        "signature": "Helsing Kinn kommune",
    }
    values.update(changes)
    return ReplyComposer(ReplySettings.model_validate(values), facts=[FACT], matters=[MATTER])


def verdict(category: str, flags: tuple[str, ...] = (), language: str = "nn") -> Classification:
    return Classification(Category(category), frozenset(Flag(f) for f in flags), 0.9, language)


def comment(text: str = "Kva med symjehallen og skulestruktur? Eg er uroa for ungen til naboen.") -> Comment:
    return Comment(text=text, id="lang-1", author_name="Ola Nordmann")


@pytest.mark.parametrize(("category", "flags"), CASES)
def test_nynorsk_replies_have_no_bokmal_forms(category: str, flags: tuple[str, ...]) -> None:
    reply = composer().compose(comment(), verdict(category, flags))
    assert reply.language == "nn"
    text = reply.text or ""
    assert not {w.lower() for w in words(text)} & (set(BOKMAL_ONLY) | {"hilsen"})
    assert text.endswith("Helsing Kinn kommune")


@pytest.mark.parametrize(("category", "flags"), CASES)
def test_bokmal_replies_have_no_nynorsk_forms(category: str, flags: tuple[str, ...]) -> None:
    reply = composer(language="nb").compose(comment(), verdict(category, flags))
    assert reply.language == "nb"
    text = reply.text or ""
    body = text.removesuffix("Hilsen Kinn kommune")
    assert text.endswith("Hilsen Kinn kommune"), "the signature follows the written standard"
    assert not {w.lower() for w in words(body)} & set(NYNORSK_ONLY)


def test_case_inquiry_in_both_standards() -> None:
    nynorsk = composer().compose(comment(), verdict("case_inquiry")).text or ""
    bokmal = composer(language="nb").compose(comment(), verdict("case_inquiry")).text or ""
    assert "ikkje" in nynorsk and "sosiale media" in nynorsk
    assert "ikke" in bokmal and "sosiale medier" in bokmal


def test_match_commenter_answers_in_the_commenters_standard() -> None:
    matching = composer(match_commenter=True)
    assert matching.compose(comment(), verdict("case_inquiry", language="nb")).language == "nb"
    assert (
        composer(language="nb", match_commenter=True).compose(comment(), verdict("praise")).language == "nn"
    )
    assert composer().compose(comment(), verdict("case_inquiry", language="nb")).language == "nn"


def test_other_languages_get_the_default_standard_and_english_a_short_english_line() -> None:
    matching = composer(match_commenter=True)
    english = matching.compose(comment("Where do I send this?"), verdict("case_inquiry", language="en"))
    polish = matching.compose(comment("Gdzie to wysłać?"), verdict("case_inquiry", language="pl"))
    assert english.language == polish.language == "nn"
    assert "In English:" in (english.text or "")
    assert "In English:" not in (polish.text or "")
    assert "In English:" not in (composer().compose(comment(), verdict("praise", language="en")).text or "")


def test_language_argument_overrides_and_is_checked() -> None:
    assert composer().compose(comment(), verdict("praise"), language="nb").language == "nb"
    with pytest.raises(ValueError, match="nn or nb"):
        composer().compose(comment(), verdict("praise"), language="sv")


# --- templates are data ---------------------------------------------------------------------------------


def copy_templates(tmp_path: Path) -> Path:
    for name in ("nn.toml", "nb.toml"):
        shutil.copy(PACKAGED / name, tmp_path / name)
    return tmp_path


def test_templates_path_lets_the_communications_office_change_wording(tmp_path: Path) -> None:
    folder = copy_templates(tmp_path)
    nynorsk = (folder / "nn.toml").read_text(encoding="utf-8")
    start = nynorsk.index("general = [")
    end = nynorsk.index("]", start)
    (folder / "nn.toml").write_text(
        nynorsk[:start] + 'general = ["Tusen hjartelege takk!"' + nynorsk[end:], encoding="utf-8"
    )
    for settings_path, argument in ((str(folder), None), ("", str(folder))):
        reply = (
            composer(templates_path=settings_path)
            if argument is None
            else ReplyComposer(ReplySettings(), templates_path=argument)
        )
        text = reply.compose(Comment(text="Flott!", id="x"), verdict("praise")).text or ""
        assert "Tusen hjartelege takk!" in text


def test_a_template_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    folder = copy_templates(tmp_path)
    text = (folder / "nb.toml").read_text(encoding="utf-8")
    (folder / "nb.toml").write_text(
        text.replace("satte pris på {topic}", "satte pris på {tema}"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"nb\.toml.*praise\.event.*tema"):
        load_templates(folder)


def test_a_missing_template_is_refused_at_start_up(tmp_path: Path) -> None:
    folder = copy_templates(tmp_path)
    text = (folder / "nn.toml").read_text(encoding="utf-8")
    (folder / "nn.toml").write_text(text.replace("long_thread = [", "lang_trad = [", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nn\.toml.*negative\.long_thread"):
        load_templates(folder)
