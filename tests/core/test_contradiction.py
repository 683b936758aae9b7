"""Comments that state another date, time, price, weekday, place or number than the post or a fact."""

from __future__ import annotations

from datetime import date

import pytest

from bot.classifier.contradiction import Contradiction, extract_values, find_contradiction, match_fact
from bot.domain import Fact

POOL_POST = "Symjehallen opnar 1. september klokka 10. Inngang kr 90 for vaksne, gratis for born."
POOL = Fact("Symjehallen opnar 1. september.", ("symjehall", "bading"), "https://kinn.kommune.no/symjehall")
LIBRARY = Fact("Biblioteket i Måløy opnar 15. august.", ("bibliotek",))


def test_a_different_date_is_a_date_contradiction() -> None:
    found = find_contradiction("Den opnar 15. august, det står på nettsida", POOL_POST, [])
    assert found == Contradiction("date", "15. august", "1. september", None, False)


def test_a_leading_question_is_a_weaker_contradiction() -> None:
    found = find_contradiction("opnar den ikkje 15. august?", POOL_POST, [])
    assert found is not None
    assert (found.kind, found.claimed, found.is_question) == ("date", "15. august", True)


def test_a_question_that_merely_asks_is_not_a_contradiction() -> None:
    assert find_contradiction("Opnar den 15. august?", POOL_POST, []) is None
    assert find_contradiction("Kva tid opnar symjehallen?", POOL_POST, []) is None


def test_the_same_date_is_not_a_contradiction() -> None:
    assert find_contradiction("Flott, 1. september passar perfekt!", POOL_POST, []) is None
    assert find_contradiction("Gler meg til 01.09!", POOL_POST, []) is None


def test_another_subject_with_another_date_is_not_a_contradiction() -> None:
    assert find_contradiction("Biblioteket opnar 15. august", POOL_POST, []) is None


def test_time_contradiction() -> None:
    found = find_contradiction("Opnar kl 11, står det på plakaten", POOL_POST, [])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("time", "kl 11", "klokka 10")


@pytest.mark.parametrize("claim", ["Det kostar 120 kr", "Inngangen er 120 kroner no", "120,- for vaksne"])
def test_price_contradiction(claim: str) -> None:
    found = find_contradiction(claim, POOL_POST, [])
    assert found is not None
    assert found.kind == "price"
    assert found.correct == "kr 90"


def test_free_versus_a_price() -> None:
    found = find_contradiction("Er det ikkje gratis for alle då?", "Inngang kr 90 for vaksne", [])
    assert found is not None
    assert (found.kind, found.claimed, found.is_question) == ("price", "gratis", True)


def test_weekday_correction() -> None:
    post = "Kommunestyret handsamar torsdag 14. november ei fråsegn om nytt ferjesamband."
    found = find_contradiction("Møtet er onsdag, ikkje torsdag. Står i møtekalenderen", post, [])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("weekday", "onsdag", "torsdag")


def test_place_contradiction() -> None:
    post = "Vegen blir stengd. Omkøyring via Solheimsvegen."
    found = find_contradiction("Omkjøringa går via Brendøyvegen, ikkje Solheimsvegen", post, [])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("place", "Brendøyvegen", "Solheimsvegen")
    found = find_contradiction("Møtet er i Måløy, ikkje Florø", "Folkemøte i Florø kulturhus", [])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("place", "Måløy", "Florø")


def test_number_contradiction_with_the_same_unit() -> None:
    post = "Reserveferja tek 30 bilar og går kvar time."
    found = find_contradiction("Reserveferja tek jo berre 20 bilar", post, [])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("number", "20 bilar", "30 bilar")
    assert find_contradiction("Reserveferja tek 30 bilar, bra", post, []) is None


def test_bare_number_in_a_correction() -> None:
    post = "Nye SFO-satsar: full plass kostar 3 150 kr, halv plass 2 050 kr."
    found = find_contradiction("Halv plass kostar 2500, ikkje 2050", post, [])
    assert found is not None
    assert (found.kind, found.claimed) == ("price", "2500")


def test_week_number() -> None:
    found = find_contradiction("Det er i veke 36 då", "Asfaltering i veke 34 på Eikefjordvegen.", [])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("date", "veke 36", "veke 34")


def test_configured_fact_is_matched_by_inflected_keywords() -> None:
    assert match_fact("Kva tid opnar symjehallen att?", [LIBRARY, POOL]) == POOL
    assert match_fact("Biblioteka er viktige", [LIBRARY, POOL]) == LIBRARY
    assert match_fact("Bra brøyting i dag", [LIBRARY, POOL]) is None


def test_contradiction_against_a_fact_carries_the_fact() -> None:
    found = find_contradiction("Symjehallen opnar vel 20. august", "", [LIBRARY, POOL])
    assert found is not None
    assert (found.kind, found.claimed, found.correct) == ("date", "20. august", "1. september")
    assert found.fact == POOL


def test_a_fact_about_another_subject_is_not_used() -> None:
    assert find_contradiction("Symjehallen opnar 1. september, topp", "", [LIBRARY, POOL]) is None
    assert find_contradiction("Brøytinga startar 20. august", "", [LIBRARY, POOL]) is None


def test_own_doings_are_not_claims() -> None:
    post = "Søknadsfristen for barnehageplass er 1. mars."
    assert find_contradiction("Eg søkte 10. mars og har ikkje fått svar", post, []) is None
    assert find_contradiction("Fristen er 10. mars, ikkje stress", post, []) is not None


def test_a_wish_with_a_correction_shape_is_not_a_claim() -> None:
    post = "Gratis leksehjelp på biblioteket tysdagar kl. 15–17."
    assert find_contradiction("Bra, men det burde vore på skulane, ikkje biblioteket", post, []) is None
    assert find_contradiction("Det er på skulane, ikkje biblioteket", post, []) is not None


def test_relative_days_need_today() -> None:
    post = "Symjehallen opnar 1. september."
    assert find_contradiction("Den opnar i morgon, står det på døra", post, []) is None
    found = find_contradiction("Den opnar i morgon, står det på døra", post, [], today=date(2026, 8, 20))
    assert found is not None
    assert found.kind == "date"
    assert find_contradiction("Den opnar i morgon!", post, [], today=date(2026, 8, 31)) is None


@pytest.mark.parametrize(
    "comment",
    [
        "Eg høyrde at symjehallen skal stengjast heile hausten",
        "Visstnok blir symjehallen stengd i haust",
        "Jeg har hørt at symjehallen skal legges ned",
        "Folk seier at symjehallen aldri opnar",
        "Ryktet sier at symjehallen blir stengt",
    ],
)
def test_rumours_presented_as_fact(comment: str) -> None:
    found = find_contradiction(comment, POOL_POST, [POOL])
    assert found is not None
    assert found.kind == "rumour"
    assert found.fact == POOL
    assert found.correct == POOL.statement


def test_a_rumour_about_something_else_is_ignored() -> None:
    assert find_contradiction("Eg høyrde at Biblioteket får ny leiar", POOL_POST, []) is None


def test_values_are_parsed_from_norwegian_text() -> None:
    text = "Måndag 3. mars, 01.09.2026, 1.9, kl 10, klokka 10.30, 10:30, kr 450, 450 kroner, 450,-, veke 36"
    values = [(v.kind, v.key) for v in extract_values(text)]
    assert ("weekday", (0,)) in values
    assert ("date", (3, 3)) in values
    assert ("date", (9, 1, 2026)) in values
    assert ("date", (9, 1)) in values
    assert ("time", (10, 0)) in values
    assert values.count(("time", (10, 30))) == 2
    assert values.count(("price", (450,))) == 3
    assert ("date", ("week", 36)) in values


def test_prices_with_thousands_separators_and_free() -> None:
    values = [(v.kind, v.key) for v in extract_values("Full plass 3 150 kr, kr 1.500 eller gratis")]
    assert values == [("price", (3150,)), ("price", (1500,)), ("price", (0,))]


def test_no_contradiction_without_anything_to_compare_with() -> None:
    assert find_contradiction("Den opnar 15. august", "", []) is None
    assert find_contradiction("Den opnar 15. august", "Bra vêr i dag!", []) is None


def test_letters_ignorecase_equates_with_ascii_do_not_crash() -> None:
    """IGNORECASE matches "AUGUſT" (long s) as a month name; the value is skipped, not a KeyError."""
    values = extract_values("Opnar 10. AUGUſT kl 10, MÅNDAG")
    assert ("time", (10, 0)) in [(v.kind, v.key) for v in values]
