"""Language of comments: Nynorsk vs Bokmål, Scandinavian neighbours, and the languages people write in."""

from __future__ import annotations

import pytest

from bot.classifier.language import detect_language


@pytest.mark.parametrize(
    "text",
    [
        "Eg bur i Solbakken og mor mi kjem seg ikkje ut, kan de sende nokon?",
        "Kva tid opnar symjehallen?",
        "Korleis skal folk frå Måløy kome seg på jobb no??",
        "Det er heilt håplaust, berre to båtar om dagen",
        "Kan ein hente laurdag óg?",
        "Dokker har bomma på datoen",
        "KVIFOR ER DET IKKJE BRØYTA ENNO",
        "kjem ein seg til apoteket frå hamnegata-sida?",
        "Takk for ingenting 🙄 igjen er det distriktet som tapar",
        "Veit de kor lenge det tek før vegen er open att?",
    ],
)
def test_nynorsk(text: str) -> None:
    assert detect_language(text) == "nn"


@pytest.mark.parametrize(
    "text",
    [
        "Hvor melder man fra om veier som ikke er brøytet?",
        "Jeg er 84 år og har ikke bil, kommer meg ikke til brannstasjonen",
        "Hvorfor må dere alltid grave midt i sentrum?",
        "Dere har jo sluttet å brøyte boligfelt helt",
        "Kan man betale med app, eller må man ha mynter?",
        "HVA SKJER MED SKOLEN?",
        "Nå lyser det i hele gata vår igjen, kjempefint!",
    ],
)
def test_bokmal(text: str) -> None:
    assert detect_language(text) == "nb"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Just moved here from Bergen and the snow clearing is great. Great job!", "en"),
        ("Is the road open for pedestrians during the closure?", "en"),
        ("Czy ulice w Florø będą odśnieżone przed godziną 7?", "pl"),
        ("Gdzie jest remiza strażacka we Florø?", "pl"),
        ("Чи можна взяти пісок, якщо я живу в Måløy?", "uk"),
        ("Чи можна купити квиток онлайн?", "uk"),
        ("أين يمكنني الإبلاغ عن مصباح شارع معطل؟", "ar"),
        ("Halkee baan ka sheegi karaa nal waddo oo jaban?", "so"),
        ("Goorma ayuu dugsigu furmayaa?", "so"),
        ("Wird die Straße nach Stad heute noch geräumt? Wir wollen morgen früh fahren.", "de"),
        ("Ar galima čia važiuoti dviračiu?", "lt"),
        ("ሰላም፡ ናይ ገዛይ ጽርግያ መን እዩ ካብ በረድ ዘጽርዮ?", "ti"),
        ("Как пройти к ратуше?", "ru"),
    ],
)
def test_other_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gäller det även för stugägare? Vi har en stuga i Eikefjord", "sv"),
        ("Bra att ni förklarar det här, det är krångligt för oss som är nya här", "sv"),
        ("Kan man betala med kort om man inte har appen?", "sv"),
        ("Hvad koster det, og hvornår åbner svømmehallen igen? Tak for hjælpen", "da"),
    ],
)
def test_swedish_and_danish_are_told_from_norwegian(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Kommer varslene på engelsk også?",
        "Halv takst for elbil mens vi med gammel diesel betaler fullt",
        "Kurset koster 4000 kr for alle, også flyktninger",
        "Takk!",
        "Flott!",
        "Så bra tilbud!",
    ],
)
def test_short_norwegian_is_not_mistaken_for_danish_or_swedish(text: str) -> None:
    assert detect_language(text) in ("nn", "nb")


@pytest.mark.parametrize(
    "text", ["", "   ", "👏👏👏", "❄️❄️❄️", "🎒🍎❤️", "!!!", "123 456", "ok", "@Kari Solheim"]
)
def test_undetermined(text: str) -> None:
    assert detect_language(text) == "und"


def test_tags_and_links_do_not_decide_the_language() -> None:
    assert detect_language("@Kari Solheim sjå her, dei tek bustadfelta etterpå") == "nn"
    assert detect_language("Sjå https://www.kinn.kommune.no/nyheiter/ikkje-ver-redd for meir") == "nn"


def test_tie_break_word_lists_agree_with_simplemma() -> None:
    """The compact nn/nb lists give simplemma's votes (hash false positives are rare)."""
    simplemma = pytest.importorskip("simplemma")
    from bot.classifier import standard_words

    assert standard_words.available()
    words = [
        "vegen",
        "veien",
        "skulen",
        "skolen",
        "ikkje",
        "ikke",
        "kva",
        "hva",
        "heime",
        "hjemme",
        "låtene",
        "databasane",
        "gallerer",
        "kommunen",
        "takk",
        "for",
        "god",
        "hjelp",
        "fekk",
        "fikk",
        "høyrde",
        "hørte",
        "eigentleg",
        "egentlig",
        "sjukeheimen",
        "sykehjemmet",
    ]
    for word in words:
        expected = (
            int(simplemma.is_known(word, "nn") and not simplemma.is_known(word, "nb")),
            int(simplemma.is_known(word, "nb") and not simplemma.is_known(word, "nn")),
        )
        assert standard_words.votes([word]) == expected, word


def test_top_language_is_the_first_of_the_ranking() -> None:
    from bot.classifier import language

    candidates = language._cues().candidates
    for text in ["Takk for god hjelp!", "Hvad koster det", "ok ok", "Kiitos paljon", "Mulțumesc frumos", "?"]:
        assert language._top(text, candidates) == language._classify(text, candidates)[0]
