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
        ("https://www.nrk.no/vestland/led-lys-1.2345", Category.NEUTRAL),  # a bare link
        ("@Kari", Category.NEUTRAL),  # a tagged friend
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


@pytest.mark.parametrize(
    "text",
    [
        "Typisk kommunen, alt tek dobbelt så lang tid og kostar tre gonger så mykje. Elendig styring.",
        "Elendig styring.",
        "Takk for ingenting, nok ein gong",
        "Heilt latterleg at dette skal ta eit halvt år",
    ],
)
def test_a_harsh_verdict_is_never_praise(classifier: EmbeddedClassifier, text: str) -> None:
    assert _category(classifier, text) is not Category.PRAISE


@pytest.mark.parametrize(
    "text",
    [
        "Flott konsert i går! Lyden bak i salen var elendig, men elles heilt topp 👏",
        "Takk for ein fantastisk kveld! Elendig parkering, men alt anna var perfekt",
    ],
)
def test_praise_with_a_small_harsh_aside_stays_praise(classifier: EmbeddedClassifier, text: str) -> None:
    """The harsh-verdict penalty must not turn praise with a small complaint into a negative; a comment
    whose point is the complaint ("Fint bygg, men kvar er parkeringa?") is negative in data/."""
    assert _category(classifier, text) is Category.PRAISE


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


def test_document_access_and_damage_claims_are_case_inquiries(classifier: EmbeddedClassifier) -> None:
    """labels.md: a request for access to documents and anything with documentation value, also
    when the comment says neither "innsyn" nor "klage"."""
    post = "Brøytinga i bustadfelta startar når det er meir enn 10 cm snø."
    for text in (
        "Kan eg få sjå kontrakten de har med brøyteentreprenøren?",
        "Brøytebilen har øydelagt gjerdet mitt. Kven dekker dette?",
    ):
        assert _category(classifier, text, post) is Category.CASE_INQUIRY, text
    assert _category(classifier, "Kan eg sjå kartet over brøyterodene nokon stad?", post) is Category.NEUTRAL


@pytest.mark.parametrize(
    "text",
    [
        "Basen jest otwarty w sobotę, nie w niedzielę",
        "Басейн відкритий у суботу, а не в неділю",
        "Piscina este deschisă sâmbătă, nu duminică",
        "المسبح مفتوح يوم السبت وليس الأحد",
    ],
)
def test_a_correction_in_another_language_is_a_factual_error(
    classifier: EmbeddedClassifier, text: str
) -> None:
    post = "Symjehallen er open søndag 12. mai kl. 10–16 for alle."
    assert _category(classifier, text, post) is Category.FACTUAL_ERROR
    question = "Czy basen jest otwarty w niedzielę?"
    assert _category(classifier, question, post) is Category.NEUTRAL


def test_rule_evidence_for_personal_data_and_danger_always_counts(classifier: EmbeddedClassifier) -> None:
    from bot.classifier.embedded import DEFAULT_MODEL_DIR
    from bot.classifier.training import load

    modes = load(DEFAULT_MODEL_DIR).flag_modes
    assert modes["personal_data"] == modes["urgent"] == "or"
    praise = classifier.classify(Comment(text="Tusen takk for hjelpa! Ring meg gjerne på 912 34 567 🙏"))
    assert Flag.PERSONAL_DATA in praise.flags


def test_danger_right_now_is_never_praise(classifier: EmbeddedClassifier) -> None:
    post = "Vi gjer merksam på at det er bandtvang i heile kommunen frå 1. april til 20. august."
    result = classifier.classify(
        Comment(text="Ein laus hund jagar sauene til naboen akkurat no, to lam er skadde!", post_text=post)
    )
    assert Flag.URGENT in result.flags
    assert result.category is not Category.PRAISE


def test_appeals_and_sarcastic_thanks_in_other_languages(classifier: EmbeddedClassifier) -> None:
    post = "Barnehagane held stengt fredag 14. november på grunn av planleggingsdag."
    appeal = "I would like to appeal the decision to deny my son a kindergarten place."
    assert _category(classifier, appeal, post) is Category.CASE_INQUIRY
    assert _category(classifier, "Thanks for nothing, again.", post) is Category.NEGATIVE


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


# --- fast paths give the same answers as the plain code ------------------------------------------

_SAMPLES = [
    "Takk for ingenting 🙄 typisk kommunen...",
    "Eg har søkt om fritak og har ikkje fått svar, saksnr 24/1187",
    "Kan de sjekke vegen ved Solheimsvegen 12? Sonen min datt der i går",
    "Har høyrt at dei legg ned skulen, visstnok alt bestemt",
    "Det stemmer ikkje, hallen opnar jo 1. oktober, ikkje september.",
    "Gratulerer!! Flott... 😏 som vanleg",
    "Jeg krever innsyn i saken og klager herved på vedtaket",
    "Kan vi søke om plass? Er vi i risikogruppen? Who do we call?",
    "Takk for god hjelp, bra jobba! Thank you so much 👏",
    "Czy mogę złożyć wniosek? Прошу перевірити мою заяву. أرجو المساعدة ابني مريض",
    "HEILT HÅPLAUST!!! KVIFOR GJER DE ALDRI NOKO??? :( :-/ <3 ^_^",
    "Sjå https://www.kinn.kommune.no/nyheiter eller kinn.kommune.no og @Kari Nordmann",
    "Stengt på måndag og tysdag i veke 29, i morgon og i dag. Jul og påske",
    "naasz nasza mein unser haven't heard, hasn't received",
    "",
]


def _dev_texts() -> list[str]:
    from bot.classifier.train_cli import DATA_DIR
    from bot.classifier.training import read_examples

    path = DATA_DIR / "dev.jsonl"
    texts = [example.text for example in read_examples(path)] if path.is_file() else []
    return _SAMPLES + texts + [text.upper() for text in texts[:200]]


def test_cue_gates_never_hide_a_match() -> None:
    """Every gated cue pattern agrees with the plain regex search, and the word-set tests with theirs."""
    from bot.classifier import features

    for text in _dev_texts():
        lower = text.lower()
        normalized = features.normalize(text)
        for name, gate in features.GATES.items():
            source = normalized if name == "sarcasm" else lower
            bits = features._gate_bits(features._WORD.findall(source))
            assert gate.search(bits, source) == (gate.pattern.search(source) is not None), (name, text)
        bits = features._gate_bits(features._WORD.findall(lower))
        first_person = bool(bits & features._FIRST_PERSON_GATE.bit)
        assert first_person == (features._FIRST_PERSON.search(lower) is not None), text
        negations = sum(1 for w in features._WORD.findall(lower) if w in features._NEGATION_WORDS)
        assert negations == len(features._NEGATION.findall(lower)), text


def _normalize_plain(text: str) -> str:
    """features.normalize without its shortcuts."""
    import unicodedata

    from bot.classifier import features as f

    text = unicodedata.normalize("NFC", text).translate(f._QUESTION_MARKS)
    text = f._URL.sub(" \ue001 ", text)
    text = f._MENTION.sub(" \ue002 ", text)
    for pattern, placeholder in f._EMOTICONS:
        text = pattern.sub(placeholder, text)
    text = f._replace_emoji(text.lower()).translate(f._PLACEHOLDERS)
    text = f._REPEATS.sub(r"\1\1", text)
    text = f._PUNCT_REPEATS.sub(r"\1\1\1", text)
    text = f._DIGITS.sub("0", text)
    return " ".join(text.split())


def test_normalize_shortcuts_change_nothing() -> None:
    from bot.classifier.features import normalize

    extra = ["e\u0301 café ¿qué? ؟", "\ue001 private", "www.example.com", "a https://x.no b", "😀\ufe0f 👍🏽"]
    for text in _dev_texts() + extra:
        assert normalize(text) == _normalize_plain(text), text


def test_hashing_is_sklearns_hashing_vectorizer() -> None:
    """The numpy hashing gives exactly the counts the model was trained with (sklearn's)."""
    np = pytest.importorskip("numpy")
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    from scipy import sparse

    from bot.classifier.features import HashingSpec, TextHasher, normalize

    spec = HashingSpec()
    texts = [normalize(text) for text in _dev_texts()] + ["", "a", "?", "ab cd", "x" * 40]
    common = {"alternate_sign": False, "norm": None, "lowercase": False, "dtype": np.float32}
    chars = sklearn_text.HashingVectorizer(
        analyzer="char_wb", ngram_range=spec.char_ngrams, n_features=spec.char_features, **common
    )
    words = sklearn_text.HashingVectorizer(
        analyzer="word",
        ngram_range=spec.word_ngrams,
        n_features=spec.word_features,
        token_pattern=r"(?u)\b\w+\b|[?!]",
        **common,
    )
    expected = sparse.hstack([chars.transform(texts), words.transform(texts)], format="csr")
    hasher = TextHasher(spec)
    for batch in (texts, texts[:1], texts[3:40]):  # a cold and then a warm memo
        got = hasher.counts(batch).to_scipy()
        start = texts.index(batch[0])
        want = expected[start : start + len(batch)]
        assert (got != want).nnz == 0
        assert np.array_equal(got.indices, want.indices) and np.array_equal(got.indptr, want.indptr)


def test_inference_imports_neither_sklearn_nor_scipy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from bot.classifier.embedded import EmbeddedClassifier; from bot.domain import Comment;"
        "c = EmbeddedClassifier(); c.classify(Comment(text='Takk for god hjelp!'));"
        "c.classify_many([Comment(text='Kva kostar det?'), Comment(text='Eg veit ikkje kva eg skal gjere')]);"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'simplemma'}))"
    )
    from bot.classifier.train_cli import REPO_ROOT

    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
