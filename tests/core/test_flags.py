"""Rule-based flags on Nynorsk, Bokmål, dialect, English, ALL CAPS and emoji-laden comments."""

from __future__ import annotations

import pytest

from bot.classifier.flags import FlagEvidence, detect_flags
from bot.domain import Flag, PoliticalMatter

SCHOOLS = PoliticalMatter("Skulestruktur", "pending", ("skulestruktur", "nedlegging"))
TOLLS = PoliticalMatter("Bompengar Florø", "decided", ("bompengar", "bomstasjon"))


def flags(text: str, post: str = "", matters: tuple[PoliticalMatter, ...] = ()) -> frozenset[Flag]:
    return detect_flags(text, post, matters).flags


def test_evidence_has_flags_matter_personal_data_and_reasons() -> None:
    evidence = detect_flags("Ring meg på 934 56 789, sonen min har astma", "", (SCHOOLS,))
    assert isinstance(evidence, FlagEvidence)
    assert evidence.flags == frozenset({Flag.PERSONAL_DATA})
    assert evidence.matter is None
    assert [m.kind for m in evidence.personal_data] == ["phone", "health"]
    assert set(evidence.reasons) == set(evidence.flags)
    assert "phone number" in evidence.reasons[Flag.PERSONAL_DATA]


def test_a_plain_comment_gets_no_flags() -> None:
    evidence = detect_flags("Takk for god informasjon 👍", "Brøyting i natt")
    assert evidence.flags == frozenset()
    assert evidence.reasons == {}
    assert evidence.personal_data == []


def _check_digit(weights: tuple[int, ...], digits: list[int]) -> int:
    return (11 - sum(w * d for w, d in zip(weights, digits, strict=True)) % 11) % 11


def _valid_id(date_part: str) -> str:
    """An 11-digit national ID number for DDMMYY with correct mod-11 check digits."""
    for individual in range(100, 1000):
        digits = [int(c) for c in f"{date_part}{individual}"]
        k1 = _check_digit((3, 7, 6, 1, 8, 9, 4, 5, 2), digits)
        k2 = _check_digit((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), [*digits, k1])
        if k1 < 10 and k2 < 10:
            return f"{date_part}{individual}{k1}{k2}"
    raise AssertionError("no valid number")


def test_valid_national_id_number_gives_a_reason_about_check_digits() -> None:
    number = _valid_id("120323")
    evidence = detect_flags(f"Fnr {number[:6]} {number[6:]}, kan de sjekke søknaden?")
    assert Flag.PERSONAL_DATA in evidence.flags
    assert evidence.reasons[Flag.PERSONAL_DATA] == "national ID number with valid check digits"
    unchecked = detect_flags("Fnr 12032345870, kan de sjekke?")
    assert unchecked.reasons.get(Flag.PERSONAL_DATA, "") != "national ID number with valid check digits"


@pytest.mark.parametrize(
    "text",
    [
        "Det brenn i garasjen til naboen NO, flammane slår mot huset!!",
        "DET BRENN I LØA VÅR NO 🔥🔥🔥",
        "Det luktar gass i oppgangen i Brendøyvegen 5",
        "Det har rasa over vegen no nettopp og bilar kjem!",
        "Bil i grøfta ved avkøyringa, treng hjelp no",
        "Kjellaren er oversvømt og vatnet stig framleis, kom fort",
        "Det står ein liten gut åleine utanfor SFO no, ingen vaksne",
        "Sønnen min på 9 år er ikkje komen fram til skulen og svarar ikkje",
        "Eg vil ikkje leve meir",
        "Jeg orker ikke mer. Har samlet pillene mine til i kveld",
        "Eg veit kvar du bur, og du skal få svi",
        "Veien er speilblank og det er en bil på tvers NÅ",
        "There is smoke coming from the school right now, help!",
    ],
)
def test_urgent_danger_now(text: str) -> None:
    assert Flag.URGENT in flags(text)


@pytest.mark.parametrize(
    "text",
    [
        "Brannøvinga i går var fin, godt jobba",
        "Det var ein brann her i fjor, heldigvis gjekk det bra",
        "Kva gjer ein dersom det brenn?",
        "Flott at brannvesenet kom på besøk i barnehagen",
        "Kan ungar vere åleine heime etter skulen?",
        "Det har vi savnet lenge!",
        "Dette er jo livsfarleg, før eller sidan skjer det ei ulykke",
        "Me har fire brannar i året i snitt, seier statistikken",
    ],
)
def test_historical_or_hypothetical_danger_is_not_urgent(text: str) -> None:
    assert Flag.URGENT not in flags(text)


def test_threats_are_urgent_and_abusive() -> None:
    evidence = detect_flags("Ordføraren bør passe seg, me veit kvar ho bur")
    assert {Flag.URGENT, Flag.ABUSIVE} <= evidence.flags
    assert "threat" in evidence.reasons[Flag.URGENT]


@pytest.mark.parametrize(
    "text", ["Eg skal drepe meg sjølv i kveld", "Jeg skal drepe meg selv, orker ikke mer"]
)
def test_killing_oneself_is_self_harm_not_a_threat(text: str) -> None:
    evidence = detect_flags(text)
    assert evidence.flags == frozenset({Flag.URGENT})
    assert "self-harm" in evidence.reasons[Flag.URGENT]
    assert Flag.ABUSIVE in flags("Eg skal drepe deg")


@pytest.mark.parametrize(
    "text",
    [
        "Brøytesjåføren er ein jævla idiot",
        "DERE ER NOEN BLODSUGERE HELE GJENGEN",
        "Politikarane er ein gjeng korrupte idiotar",
        "for ein tosk du er",
        "idiooooot",
        "Din 1d10t",
        "F*EN TA DYKK ALLE",
        "Du er ein f*kkings id**t",
        "jaevla tapern",
        "Send dei heim, dei kan ikkje ein gong snakke norsk",
        "Rektoren er en inkompetent kjerring",
        "Hald kjeft, ingen bryr seg om kva du meiner",
        "You are all useless idiots",
        "Ty kurwa",
        "*idiot*",
        "Dei som har vedteke dette fortener å bli skotne",
        "Those who voted for this should be shot",
    ],
)
def test_abusive_on_normalised_tokens(text: str) -> None:
    assert Flag.ABUSIVE in flags(text)


@pytest.mark.parametrize(
    "text",
    [
        "Kan publikum møte opp og høre på?",
        "Jeg fant skjemaet på nettsiden, takk",
        "Håper det løser seg for dere",
        "Sau og lam på vegen no, køyr forsiktig",
        "Fy faen så bra konsert!",
        "Eg har vore så dum å gløyme fristen",
        "We are hiking Kjerringa tomorrow",
        "Waxaan codsaday guri cusub bishii hore",
        "*** VIKTIG *** Vegen er stengd",
        "Dette er ** bra",
    ],
)
def test_not_abusive(text: str) -> None:
    assert Flag.ABUSIVE not in flags(text)


def test_configured_matter_by_inflected_keyword() -> None:
    evidence = detect_flags("Nedlegginga av Hennøy skule er ein skandale", "", (TOLLS, SCHOOLS))
    assert Flag.POLITICAL in evidence.flags
    assert evidence.matter == SCHOOLS
    assert "Skulestruktur" in evidence.reasons[Flag.POLITICAL]
    assert detect_flags("SKULESTRUKTUREN er tull", "", (SCHOOLS,)).matter == SCHOOLS
    assert detect_flags("Skolestrukturen må endres", "", (SCHOOLS,)).matter == SCHOOLS
    assert detect_flags("Bompengane er for høge", "", (SCHOOLS, TOLLS)).matter == TOLLS


def test_generic_political_topics_without_configured_matters() -> None:
    assert Flag.POLITICAL in flags("Eigedomsskatten er ran av folk flest")
    assert Flag.POLITICAL in flags("Politikarane våre har aldri betalt for parkering sjølve")
    assert Flag.POLITICAL in flags("Vindkraft på Okla? Aldri!")
    assert Flag.POLITICAL not in flags("Bussen var seint ute i dag")


def test_comment_under_a_political_post_is_political_unless_only_practical() -> None:
    post = "Skulestruktur: Kommunedirektøren tilrår å slå saman to skular. Saka skal opp i kommunestyret."
    evidence = detect_flags("Ungane våre skal ikkje sitje på buss i ein time kvar dag", post, (SCHOOLS,))
    assert Flag.POLITICAL in evidence.flags
    assert evidence.matter == SCHOOLS
    assert Flag.POLITICAL not in flags("Blir møtet strøyma?", post, (SCHOOLS,))
    assert Flag.POLITICAL not in flags("@Kari Solheim sjå her", post, (SCHOOLS,))


def test_administrative_decisions_are_not_political() -> None:
    assert Flag.POLITICAL not in flags("Eg vil klage på vedtaket om skuleskyss for sonen min")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mor mi har demens og bur åleine i Fjordvegen 8", Flag.PERSONAL_DATA),
        ("Mora mi har demens", Flag.PERSONAL_DATA),  # dialect/nn form
        ("Mamma har kreft 😢", Flag.PERSONAL_DATA),
        ("MANNEN MIN ER INNLAGT PÅ SJUKEHUSET", Flag.PERSONAL_DATA),
    ],
)
def test_personal_data_flag(text: str, expected: Flag) -> None:
    assert expected in flags(text)


def test_health_words_alone_are_not_personal_data() -> None:
    assert Flag.PERSONAL_DATA not in flags("Kommunen må bruke meir pengar på kreftbehandling og demensomsorg")


def test_missing_diacritics_are_handled() -> None:
    assert Flag.URGENT in flags("Det brenn i loa vaar naa, kom fort!!")
    assert Flag.ABUSIVE in flags("Dere er noen jaevla idioter")
