"""The reply composer: one suggested reply per comment, by category and flags, as the guidelines say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.classifier.pii import find_personal_data
from bot.config import ReplySettings
from bot.domain import Category, Classification, Comment, Fact, Flag, PoliticalMatter, SuggestedReply
from bot.replies import matching, notes
from bot.replies.guard import PLATFORM_LIMITS, Block, fit_blocks, reply_problems
from bot.replies.templates import LANGUAGES, TemplateSet, load_templates, pick

LONG_THREAD = 3  # earlier comments by the same person before the reply suggests direct contact
_PARAGRAPH = "\n\n"


class ReplyComposer:
    """Composes suggested replies from the templates, the fact sheet and the political matters."""

    def __init__(
        self,
        settings: ReplySettings,
        facts: Sequence[Fact] = (),
        matters: Sequence[PoliticalMatter] = (),
        templates_path: str | None = None,
    ) -> None:
        self.settings = settings
        self.facts = tuple(facts)
        self.matters = tuple(matters)
        self.templates = load_templates(templates_path or settings.templates_path or None)
        self._trusted = {language: self._own_text(language) for language in LANGUAGES}

    def compose(
        self,
        comment: Comment,
        classification: Classification,
        *,
        thread_length: int = 0,
        language: str | None = None,
    ) -> SuggestedReply:
        """The suggested reply; `thread_length` counts this person's earlier comments in the thread."""
        chosen = self.reply_language(classification, language)
        return _Composition(self, comment, classification, chosen, thread_length).build()

    def reply_language(self, classification: Classification, language: str | None = None) -> str:
        """The written standard: `language`, else the commenter's (match_commenter), else the default."""
        if language is not None:
            if language not in LANGUAGES:
                raise ValueError(f"replies are written in nn or nb, not {language!r}")
            return language
        if self.settings.match_commenter and classification.language in LANGUAGES:
            return classification.language
        return self.settings.language

    def length_limit(self, comment: Comment) -> int:
        """The longest reply allowed: settings.max_length within the platform's own limit."""
        platform_limit = PLATFORM_LIMITS.get(comment.platform, PLATFORM_LIMITS["facebook"])
        return min(self.settings.max_length, platform_limit)

    def signature(self, language: str) -> str:
        """settings.signature, with "Helsing"/"Hilsen" matched to the reply's written standard."""
        signature = self.settings.signature.strip()
        first, _, rest = signature.partition(" ")
        words = {lang: self.templates.languages[lang].signature_word for lang in LANGUAGES}
        if any(first.lower() == word.lower() for lang, word in words.items() if lang != language):
            return f"{words[language]} {rest}".strip()
        return signature

    def first_name(self, comment: Comment, classification: Classification) -> str | None:
        """The commenter's first name for the greeting, when it is allowed and looks like a person's."""
        if not self.settings.use_first_name or classification.flags & {Flag.ABUSIVE, Flag.URGENT}:
            return None
        return matching.first_name(comment.author_name, self.templates.cues)

    def trusted_text(self, comment: Comment, language: str) -> str:
        """Text the municipality wrote or the commenter shows publicly, which a reply may contain."""
        name = matching.first_name(comment.author_name, self.templates.cues) or ""
        return "\n".join([self._trusted[language], comment.post_text, name])

    def problems(self, comment: Comment, text: str, language: str) -> list[str]:
        """Why `text` must not be published as a reply to `comment` (empty when it is safe)."""
        return reply_problems(text, comment.text, self.trusted_text(comment, language))

    def safe_text(self, comment: Comment, classification: Classification, language: str) -> str:
        """A reply that repeats nothing from the comment; used when a reply fails the guard."""
        templates = self.templates.languages[language]
        values = _values(self, templates)
        seed = comment.id or comment.text
        blocks = []
        if Flag.URGENT in classification.flags:
            blocks.append(Block(templates.render("urgent.emergency", values, seed) or ""))
        safe = templates.render("common.safe", values, seed)
        safe = safe or templates.render("common.safe_no_contact", values, seed)
        blocks.append(Block(safe or "", joiner=_PARAGRAPH))
        blocks.append(Block(templates.render("common.sign_off", values, seed) or "", joiner=_PARAGRAPH))
        return fit_blocks(blocks, self.length_limit(comment))

    def _own_text(self, language: str) -> str:
        settings = self.settings
        parts = [
            self.templates.languages[language].all_text(),
            *(line for lines in self.templates.english.values() for line in lines),
            settings.records_office_email,
            settings.inquiry_form_url,
            settings.phone,
            settings.signature,
            self.signature(language),
            "110 112 113",
            *(f"{fact.statement} {fact.link}" for fact in self.facts),
            *(f"{matter.title} {matter.link}" for matter in self.matters),
        ]
        return "\n".join(part for part in parts if part)


def _values(composer: ReplyComposer, templates: TemplateSet) -> dict[str, str]:
    settings = composer.settings
    values = {
        "email": settings.records_office_email,
        "form_url": settings.inquiry_form_url,
        "phone": settings.phone,
        "signature": composer.signature(templates.language),
    }
    contact = (
        templates.render("common.contact_email_phone", values, "")
        or templates.render("common.contact_email", values, "")
        or templates.render("common.contact_phone", values, "")
    )
    values["contact"] = contact or ""
    return values


class _Composition:
    """One reply being put together; the rules of labels.md and the guidelines, one method each."""

    def __init__(
        self,
        composer: ReplyComposer,
        comment: Comment,
        classification: Classification,
        language: str,
        thread_length: int,
    ) -> None:
        self.composer = composer
        self.comment = comment
        self.classification = classification
        self.language = language
        self.thread_length = thread_length
        self.templates = composer.templates.languages[language]
        self.cues = composer.templates.cues
        self.flags = classification.flags
        self.seed = comment.id or comment.text
        self.values = _values(composer, self.templates)
        self.notes: list[str] = []
        self.english_key: str | None = None
        self.english = composer.settings.match_commenter and classification.language == "en"

    def render(self, key: str, **extra: str) -> str:
        """One variant of template `key` ("" when no variant has all its values)."""
        return self.templates.render(key, {**self.values, **extra}, self.seed) or ""

    def build(self) -> SuggestedReply:
        """Apply the combination rules: abusive beats all, urgent comes first, political replaces opinion."""
        urgent = Flag.URGENT in self.flags
        if Flag.ABUSIVE in self.flags:
            note = " ".join([notes.ABUSIVE, notes.URGENT] if urgent else [notes.ABUSIVE])
            return SuggestedReply(None, self.language, note, recommend_hide=True, escalate=urgent)
        blocks: list[Block] = []
        if urgent:
            self.notes.append(notes.URGENT)
            blocks.append(Block(self.render("urgent.emergency")))
            blocks.append(Block(self.render("urgent.followup")))
            if self.english:
                blocks.append(Block(self._english_line("urgent"), joiner=_PARAGRAPH))
        body = self._body()
        name = self.composer.first_name(self.comment, self.classification)
        if body and not urgent:
            greeting = self.render("greeting.named", first_name=name) if name else ""
            greeting = greeting or self.render("greeting.anonymous")
            body[0] = replace(body[0], text=f"{greeting} {body[0].text}".strip())
        if body and blocks:
            body[0] = replace(body[0], joiner=_PARAGRAPH)
        blocks.extend(body)
        if self.english and self.english_key:
            blocks.append(Block(self._english_line(self.english_key), joiner=_PARAGRAPH, optional=True))
        blocks.append(Block(self.render("common.sign_off"), joiner=_PARAGRAPH))
        text = fit_blocks(blocks, self.composer.length_limit(self.comment))
        problems = self.composer.problems(self.comment, text, self.language)
        if problems:
            text = self.composer.safe_text(self.comment, self.classification, self.language)
            self.notes.append(notes.replaced(problems))
        found = sorted({match.kind for match in find_personal_data(self.comment.text)})
        personal = Flag.PERSONAL_DATA in self.flags or bool(found)
        if personal:
            self.notes.append(notes.personal_data(found))
        note = " ".join(self.notes)
        return SuggestedReply(text, self.language, note, recommend_hide=personal, escalate=urgent)

    def _english_line(self, key: str) -> str:
        return pick(self.composer.templates.english.get(key, []), self.values, f"{self.seed}|en.{key}") or ""

    def _body(self) -> list[Block]:
        category = self.classification.category
        political = Flag.POLITICAL in self.flags
        if Flag.URGENT in self.flags and category is Category.PRAISE and not political:
            return []  # thanks under an emergency read as not having seen it
        if political and category is Category.PRAISE:
            return [Block(self.render("political.opener")), *self._political(with_input=True)]
        if political and category is Category.NEGATIVE:
            # facts are neutral, an acknowledgement of the criticism would not be
            opener = Block(self.render("political.opener"))
            facts = self._fact_blocks("negative.fact")
            return [opener, *facts, *self._political(with_input=False), *self._contact()]
        handlers = {
            Category.PRAISE: self._praise,
            Category.NEUTRAL: self._neutral,
            Category.NEGATIVE: self._negative,
            Category.FACTUAL_ERROR: self._factual_error,
            Category.CASE_INQUIRY: self._case_inquiry,
        }
        blocks = handlers[category]()
        return blocks + self._political() if political else blocks

    def _praise(self) -> list[Block]:
        self.english_key = "praise"
        topic = matching.find_topic([self.comment.text, self.comment.post_text], self.cues)
        if topic:
            kind, key = topic
            text = self.render(f"praise.{kind}", topic=self.templates.topics.get(key, ""))
            if text:
                return [Block(text)]
        return [Block(self.render("praise.general"))]

    def _answer(self, *, from_post: bool) -> tuple[str, str]:
        """(fact, link) that answers the comment: the classifier's fact, a keyword match, else the post."""
        fact = self.classification.matched_fact or matching.find_fact(self.comment.text, self.composer.facts)
        if fact:
            return _sentence(fact.statement), fact.link
        if from_post:
            sentence = matching.answer_from_post(self.comment.text, self.comment.post_text, self.cues)
            if sentence:
                self.notes.append(notes.FROM_POST)
                return _sentence(sentence), ""
        return "", ""

    def _fact_blocks(self, key: str) -> list[Block]:
        fact, link = self._answer(from_post=True)
        if not fact:
            return []
        return [Block(self.render(key, fact=fact), shrinkable=True), *self._source(link)]

    def _source(self, link: str) -> list[Block]:
        return [Block(self.render("common.source", link=link))] if link else []

    def _neutral(self) -> list[Block]:
        question = matching.is_question(self.comment.text, self.cues)
        if question or self.classification.matched_fact:
            fact, link = self._answer(from_post=question)
            if fact:
                self.english_key = "neutral_answer"
                return [Block(self.render("neutral.answer", fact=fact), shrinkable=True), *self._source(link)]
        if Flag.URGENT in self.flags:
            return []  # the emergency numbers are the answer; "we will check" would delay
        if question:
            self.english_key = "neutral_unknown"
            self.notes.append(notes.NO_FACT_QUESTION)
            return [Block(self.render("neutral.unknown"))]
        self.english_key = "neutral_acknowledge"
        return [Block(self.render("neutral.acknowledge"))]

    def _negative(self) -> list[Block]:
        self.english_key = "negative"
        acknowledge = Block(self.render("negative.acknowledge"))
        return [acknowledge, *self._fact_blocks("negative.fact"), *self._contact()]

    def _contact(self) -> list[Block]:
        if self.thread_length >= LONG_THREAD:
            self.notes.append(notes.long_thread(self.thread_length))
            return [Block(self.render("negative.long_thread"), joiner=_PARAGRAPH)]
        return [Block(self.render("negative.contact"))]

    def _factual_error(self) -> list[Block]:
        self.english_key = "factual_error"
        blocks = self._fact_blocks("factual_error.correct")
        if blocks:
            return blocks
        self.notes.append(notes.NO_FACT_CORRECTION)
        return [Block(self.render("factual_error.unknown"))]

    def _case_inquiry(self) -> list[Block]:
        self.english_key = "case_inquiry"
        self.notes.append(notes.CASE_INQUIRY)
        blocks = []
        concern = matching.concern_kind(self.comment.text, self.cues)
        if concern:
            self.notes.append(notes.CHILD_CONCERN if concern == "child" else notes.ADULT_CONCERN)
            blocks.append(Block(self.render(f"case_inquiry.{concern}_concern")))
        if Flag.URGENT in self.flags:
            # life first: the formal route is one line, for when the emergency is over
            after = self.render("case_inquiry.after_urgent")
            return [*blocks, Block(after, joiner=_PARAGRAPH if concern else " ")]
        blocks.append(Block(self.render("case_inquiry.intro"), joiner=_PARAGRAPH if concern else " "))
        send = next(
            text
            for key in ("send_form", "send_email", "send_phone", "send_generic")
            if (text := self.render(f"case_inquiry.{key}"))
        )
        blocks.append(Block(send))
        if self.values["phone"] and self.values["phone"] not in send:
            blocks.append(Block(self.render("case_inquiry.call"), optional=True))
        if Flag.PERSONAL_DATA in self.flags or find_personal_data(self.comment.text):
            blocks.append(Block(self.render("case_inquiry.privacy"), optional=True))
        return blocks

    def _political(self, *, with_input: bool = True) -> list[Block]:
        self.english_key = "political"
        matter = self.classification.matched_matter or matching.find_matter(
            [self.comment.text, self.comment.post_text], self.composer.matters
        )
        if matter is None:
            self.notes.append(notes.POLITICAL_UNKNOWN)
            return [Block(self.render("political.unknown"), joiner=_PARAGRAPH)]
        self.notes.append(notes.political(matter.title, matter.is_decided))
        key = "political.decided" if matter.is_decided else "political.pending"
        text = self.render(key, matter=matter.title, link=matter.link) or self.render(
            f"{key}_no_link", matter=matter.title
        )
        blocks = [Block(text, joiner=_PARAGRAPH)]
        if with_input and not matter.is_decided:
            blocks.append(Block(self.render("political.input"), optional=True))
        return blocks


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?…" else text + "."
