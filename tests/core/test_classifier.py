"""The shipped embedded classifier: loads, is deterministic, and gets clear cases right."""

from __future__ import annotations

import pytest

from bot.classifier.embedded import DEFAULT_MODEL_DIR, EmbeddedClassifier, load_runtime
from bot.domain import Category, Comment, Fact, Flag, PoliticalMatter

POST_POOL = "Symjehallen opnar 1. september. Opningstider: måndag til fredag kl. 07-21, laurdag kl. 10-16."
FACTS = (
    Fact("Symjehallen opnar 1. september.", ("symjehall", "symjehallen", "bading"), "https://kommune.no/bad"),
)
MATTERS = (PoliticalMatter("Skulestruktur", "pending", ("skulestruktur", "nedlegging", "leggje ned"), ""),)


@pytest.fixture(scope="module")
def classifier() -> EmbeddedClassifier:
    return EmbeddedClassifier(facts=FACTS, matters=MATTERS)


def _category(classifier: EmbeddedClassifier, text: str, post: str = POST_POOL) -> Category:
    return classifier.classify(Comment(text=text, post_text=post)).category


def test_shipped_model_loads_once() -> None:
    assert (DEFAULT_MODEL_DIR / "model.npz").is_file()
    first = EmbeddedClassifier()
    assert first.version.startswith("embedded-2026.11-")
    assert load_runtime() is load_runtime(DEFAULT_MODEL_DIR)


def test_deterministic_and_batch_equals_one_by_one(classifier: EmbeddedClassifier) -> None:
    comments = [
        Comment(text=text, post_text=POST_POOL, id=str(i))
        for i, text in enumerate(
            ["Takk!", "Kor mykje kostar det?", "Skandale!!", "Opnar den ikkje 1. oktober?"]
        )
    ]
    once = classifier.classify_many(comments)
    again = classifier.classify_many(comments)
    single = [classifier.classify(c) for c in comments]
    assert once == again == single
    for result in once:
        assert 0.0 <= result.confidence <= 1.0
        assert set(result.scores) == {c.value for c in Category}
        assert (
            result.confidence == pytest.approx(result.scores[result.category.value], abs=1e-3)
            or result.confidence >= 0.7
        )
    assert classifier.classify_many([]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Så flott! Tusen takk til alle som har jobba med dette 👏", Category.PRAISE),  # nn
        ("Fantastisk jobbet, dere er helt rå!", Category.PRAISE),  # nb
        ("Dæ va kjempefint, takk te dokker alle sammen", Category.PRAISE),  # dialect
        ("Great job, thank you so much!", Category.PRAISE),  # en
        ("❤️❤️❤️", Category.PRAISE),
        ("DETTE ER HEILT HÅPLAUST!!! KVIFOR GJER DE ALDRI NOKO?", Category.NEGATIVE),  # caps
        ("Takk for ingenting 🙄", Category.NEGATIVE),  # sarcasm
        ("Flott... nok ein gong er det distriktet som tapar 🙄", Category.NEGATIVE),  # sarcasm
        ("This is a complete waste of taxpayers' money.", Category.NEGATIVE),
        ("🤬🤬🤬", Category.NEGATIVE),
        ("Kva kostar eit årskort for pensjonistar?", Category.NEUTRAL),
        ("Hvor parkerer man?", Category.NEUTRAL),
        ("@Kari Nordmann sjå her", Category.NEUTRAL),
        ("👍", Category.NEUTRAL),
        ("Czy basen jest otwarty w niedzielę?", Category.NEUTRAL),  # Polish: is the pool open on Sunday?
        ("Чи можна прийти з дітьми?", Category.NEUTRAL),  # Ukrainian: can we come with children?
    ],
)
def test_clear_categories(classifier: EmbeddedClassifier, text: str, expected: Category) -> None:
    assert _category(classifier, text) is expected


def test_contradiction_with_the_post_is_a_factual_error(classifier: EmbeddedClassifier) -> None:
    result = classifier.classify(
        Comment(text="Symjehallen opnar jo 1. oktober, ikkje september.", post_text=POST_POOL)
    )
    assert result.category is Category.FACTUAL_ERROR
    assert result.matched_fact is not None and "1. september" in result.matched_fact.statement


def test_rumour_as_fact_is_a_factual_error(classifier: EmbeddedClassifier) -> None:
    text = "Har høyrt at symjehallen ikkje opnar før til jul, naboen min jobbar der"
    assert _category(classifier, text) is Category.FACTUAL_ERROR


def test_own_case_question_vs_general_question(classifier: EmbeddedClassifier) -> None:
    own = "Kvifor har eg ikkje fått svar på søknaden min om SFO-plass? Eg søkte i mars."
    general = "Kva kostar SFO-plass per månad?"
    post = "Søknadsfristen for SFO er 1. mai. Søk på kommune.no/sfo."
    assert _category(classifier, own, post) is Category.CASE_INQUIRY
    assert _category(classifier, general, post) is Category.NEUTRAL
    assert _category(
        classifier, "Jeg klager herved på vedtaket om avslag på byggesøknaden, saksnr 24/1187.", ""
    ) is (Category.CASE_INQUIRY)
    assert (
        _category(classifier, "Kan eg få innsyn i kontrakten med entreprenøren?", "") is Category.CASE_INQUIRY
    )


def test_flags(classifier: EmbeddedClassifier) -> None:
    abusive = classifier.classify(Comment(text="Dei på rådhuset er ein gjeng jævla idiotar og parasittar"))
    assert Flag.ABUSIVE in abusive.flags
    personal = classifier.classify(
        Comment(text="Fødselsnummeret mitt er 01019012345, kan de sjekke saka mi?", post_text="")
    )
    assert Flag.PERSONAL_DATA in personal.flags
    urgent = classifier.classify(Comment(text="Det brenn i nabohuset no og det er folk inne!! Ring 110!!"))
    assert Flag.URGENT in urgent.flags
    political = classifier.classify(
        Comment(text="Å leggje ned skulen vår er heilt feil, stem nei til ny skulestruktur!", post_text="")
    )
    assert Flag.POLITICAL in political.flags
    assert political.matched_matter is not None and political.matched_matter.title == "Skulestruktur"
    plain = classifier.classify(Comment(text="Takk for informasjonen"))
    assert plain.flags == frozenset()


def test_language_is_reported(classifier: EmbeddedClassifier) -> None:
    assert classifier.classify(Comment(text="Eg veit ikkje kva eg skal gjere no")).language == "nn"
    assert classifier.classify(Comment(text="Thank you so much for the help")).language == "en"
