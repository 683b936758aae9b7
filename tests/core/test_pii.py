"""Personal data in comments: ID numbers with check digits, phone numbers, e-mail, health, addresses."""

from __future__ import annotations

import itertools

import pytest

from bot.classifier.pii import find_personal_data, mask_personal_data, national_id_kind

W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def with_check_digits(first_nine: str) -> str | None:
    """The 11-digit number with both mod-11 check digits, or None when no valid one exists."""
    digits = [int(c) for c in first_nine]
    k1 = (11 - sum(w * d for w, d in zip(W1, digits, strict=True)) % 11) % 11
    if k1 == 10:
        return None
    digits.append(k1)
    k2 = (11 - sum(w * d for w, d in zip(W2, digits, strict=True)) % 11) % 11
    if k2 == 10:
        return None
    return first_nine + str(k1) + str(k2)


def valid_number(date_part: str) -> str:
    """A valid ID number for a DDMMYY date part, trying individual numbers until one has check digits."""
    for individual in range(500, 1000):
        number = with_check_digits(f"{date_part}{individual:03d}")
        if number:
            return number
    raise AssertionError("no valid number")


def kinds(text: str) -> list[str]:
    return [match.kind for match in find_personal_data(text)]


def test_check_digits_decide_whether_an_eleven_digit_number_is_a_national_id() -> None:
    number = valid_number("120389")
    assert national_id_kind(number) == "national_id"
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert national_id_kind(broken) is None
    assert national_id_kind(number[:10] + "x") is None


def test_d_number_has_forty_added_to_the_day_and_is_validated_too() -> None:
    d_number = valid_number("520389")  # 12th of March, +40
    assert national_id_kind(d_number) == "d_number"
    assert national_id_kind(valid_number("720389")) is None  # day 32 does not exist


def test_h_number_has_forty_added_to_the_month() -> None:
    assert national_id_kind(valid_number("124389")) == "h_number"  # March, +40


@pytest.mark.parametrize("separator", ["", " ", "."])
def test_national_id_in_text_with_or_without_separator_after_the_date(separator: str) -> None:
    number = valid_number("150374")
    text = f"Kan de sjekke saka mi? {number[:6]}{separator}{number[6:]}"
    matches = find_personal_data(text)
    assert [m.kind for m in matches] == ["national_id"]
    assert matches[0].text == f"{number[:6]}{separator}{number[6:]}"
    assert "valid check digits" in matches[0].detail


def test_eleven_digits_that_fail_mod_11_are_not_an_id_unless_introduced_as_one() -> None:
    number = valid_number("150374")
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert kinds(f"Ordrenummer {wrong} er ikkje kome") == []
    assert kinds(f"Referanse {wrong}") == []
    assert kinds(f"Personnummeret mitt er {wrong}") == ["national_id"]


def test_d_number_is_found_in_text() -> None:
    assert kinds(f"D-nummeret mitt er {valid_number('450190')}") == ["d_number"]


@pytest.mark.parametrize(
    "text",
    [
        "Ring meg på 934 56 789",
        "Ring meg på 93456789",
        "Nummeret mitt er +47 93456789",
        "tlf 0047 934 56 789",
        "Ring 48 22 91 07 etter kl 16",
        "Mobil: 934-56-789",
    ],
)
def test_norwegian_phone_numbers(text: str) -> None:
    assert kinds(text) == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "Det kostar kr 4500 no",
        "Prisen er 4 500 kr, ikkje 3 900 kr",
        "Fakturaen på 12 500 000 kr for nye skulen er for høg",
        "Frå 01.09.2026 blir det nye opningstider",
        "Møtet er 24.12.2024 kl 10.30",
        "Ordrenummer 93456789 har ikkje kome",
        "Kontonummer 1234 56 78903 er feil på fakturaen",
        "Saksnummer 24/1183, kva skjer?",
        "Det har vore slik sidan 2019 og 2020",
        "Budsjettet er på 2024 2025-nivå",
        "450,- for ein time er for dyrt",
        "Det er 20 000 000 kroner som forsvinn",
    ],
)
def test_no_personal_data_in_prices_dates_years_and_order_numbers(text: str) -> None:
    assert [k for k in kinds(text) if k in ("phone", "national_id", "d_number")] == []


def test_email_address() -> None:
    matches = find_personal_data("Send svar til kari.nordmann+kinn@example.no takk")
    assert [(m.kind, m.text) for m in matches] == [("email", "kari.nordmann+kinn@example.no")]


@pytest.mark.parametrize(
    "text",
    [
        "Mor mi har demens og bur åleine",
        "Sønnen min har autisme og trenger fast voksen på SFO",
        "Eg har kreft og får cellegift kvar veke",
        "Datteren min har diabetes type 1",
        "My son has autism and needs help",
        "Far min er innlagt på sjukeheimen",
        "Dottera mi har depresjon",
    ],
)
def test_health_details_about_an_identifiable_person(text: str) -> None:
    assert "health" in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "Kommunen må satse meir på demensomsorg",
        "Dei som har demens fortener betre",
        "Kreft rammar mange i Noreg",
        "Eg jobbar på sjukeheimen og trivst godt",
        "Legevakta var fantastisk i natt",
    ],
)
def test_health_words_without_an_identifiable_person_are_not_personal_data(text: str) -> None:
    assert "health" not in kinds(text)


def test_child_welfare_about_an_identifiable_child() -> None:
    assert "child_welfare" in kinds("Barnevernet har vore heime hos oss og no er eg redd")
    assert "child_welfare" in kinds("Eg sende bekymringsmelding om nabojenta i går")
    assert "child_welfare" not in kinds("Barnevernet i Kinn gjer ein viktig jobb")


def test_street_address_counts_together_with_a_name_or_relative() -> None:
    assert "address" in kinds("Mor mi bur i Fjordvegen 8 og kjem seg ikkje ut")
    assert "address" in kinds("Eg heiter Nils Fanøy og bur i Fanøyvegen 12")
    assert "address" not in kinds("Lyset utanfor Krokane 17 har vore mørkt i ein månad")
    assert "address" not in kinds("Eg driv frisørsalongen i Strandavegen 9")


def test_house_numbers_are_not_confused_with_dates() -> None:
    assert "address" not in kinds("Mor mi var i Strandgata 9. juli og såg alt")


def test_masking_replaces_each_piece_with_a_nynorsk_placeholder() -> None:
    number = valid_number("150374")
    text = f"Far min har kreft. Ring 934 56 789 eller skriv til ola@example.no. Fnr {number}"
    masked = mask_personal_data(text)
    assert "[helseopplysning]" in masked
    assert "[telefon]" in masked
    assert "[e-post]" in masked
    assert "[fødselsnummer]" in masked
    for secret in ("kreft", "934 56 789", "ola@example.no", number):
        assert secret not in masked
    assert masked.startswith("Far min har [helseopplysning].")


def test_masking_child_welfare_and_address() -> None:
    masked = mask_personal_data("Barnevernet var hos oss i går. Mor mi bur i Fjordvegen 8.")
    assert "[barnevern]" in masked
    assert "[adresse]" in masked


def test_masking_leaves_text_without_personal_data_alone() -> None:
    text = "Flott at symjehallen opnar 1. september! Pris kr 4500 for årskort."
    assert mask_personal_data(text) == text


def test_matches_are_in_order_and_do_not_overlap() -> None:
    matches = find_personal_data("Ring 934 56 789 eller 41 22 33 44, e-post per@example.no")
    starts = [m.start for m in matches]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))
