"""The Slack message of one task (and of a group of low-priority tasks): pure builders, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.classifier.pii import mask_personal_data
from handlers.views import blocks as kit
from handlers.views import labels

COMMENT_MAX = 2500
REPLY_MAX = 2500
POST_EXCERPT_MAX = 80
HISTORY_LINES = 5
SAMPLE_COUNT = 3
SAMPLE_MAX = 200

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")

# Audit actions worth showing on the message, in words; anything else stays in the audit log only.
HISTORY_WORDS = {
    "assigned": "tok oppgåva",
    "handled": "markerte oppgåva som handsama",
    "publish_requested": "bad om at svaret vert publisert",
    "hide_requested": "bad om at kommentaren vert skjult",
    "forward_requested": "sende førespurnaden til postmottaket",
    "reclassified": "endra kategorien",
    "comment_edited": "Kommentaren vart endra av forfattaren",
    "comment_removed": "Kommentaren vart sletta på plattforma",
    "reply_published": "Svaret vart publisert",
    "comment_hidden": "Kommentaren vart skjult",
    "forwarded": "Førespurnaden kom fram til postmottaket",
    "publish_failed": "Publiseringa feila",
    "hide_failed": "Skjulinga feila",
    "forward_failed": "Vidaresendinga feila",
}
# (the request, then the events that settle it) per kind of platform work.
_IN_FLIGHT_EVENTS = {
    "publish": ("publish_requested", "reply_published", "publish_failed", "meta_action_failed"),
    "hide": ("hide_requested", "comment_hidden", "comment_unhidden", "hide_failed", "meta_action_failed"),
    "forward": ("forward_requested", "forwarded", "forward_failed"),
}
# Actions done by the bot itself read as a sentence of their own, without an actor.
_SYSTEM_ACTORS = {"system", "model", "meta", "kommentarvakt"}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One audited step on a task."""

    actor: str
    action: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskCard:
    """Everything the task message shows, read from the database in one go."""

    task_id: int
    status: str
    category: str
    flags: tuple[str, ...]
    deadline_at: datetime
    page_name: str = ""
    platform: str = "facebook"
    post_text: str = ""
    post_permalink: str | None = None
    comment_permalink: str | None = None
    author_name: str | None = None  # None when unknown or redacted
    comment_text: str | None = None  # None once purged or erased
    written_at: datetime | None = None
    suggested_reply: str | None = None
    reply_note: str | None = None
    final_reply: str | None = None
    assignee: str | None = None
    handled_by: str | None = None
    handled_at: datetime | None = None
    pending_action: str | None = None
    reply_published: bool = False
    comment_hidden: bool = False
    comment_deleted: bool = False
    comment_edited: bool = False
    forwarded_at: datetime | None = None
    forward_reference: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    slack_channel: str | None = None
    slack_ts: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def is_abusive(self) -> bool:
        return "abusive" in self.flags

    def in_flight(self, kind: str) -> bool:
        """Whether a publish / hide / forward was requested and has not finished or failed yet.

        The task keeps one pending_action, so a hide requested before a forward would be forgotten
        there; the audit trail remembers both.
        """
        if self.pending_action == kind:
            return True
        requested, *settled = _IN_FLIGHT_EVENTS[kind]
        last = next(
            (entry.action for entry in reversed(self.history) if entry.action in (requested, *settled)), None
        )
        return last == requested


@dataclass(frozen=True, slots=True)
class GroupCard:
    """Many praise/neutral comments on one post, shown as one message under a burst."""

    post_id: int
    page_name: str
    post_text: str
    post_permalink: str | None
    task_ids: tuple[int, ...]
    open_count: int
    by_category: dict[str, int]
    samples: tuple[tuple[str | None, str], ...] = ()  # (author, comment text)


def who(actor: str | None) -> str:
    """A Slack mention for a user id, else the escaped name."""
    if not actor:
        return "nokon"
    if _SLACK_USER.match(actor):
        return f"<@{actor}>"
    if actor.lower() in _SYSTEM_ACTORS:
        return "Kommentarvakt"
    return kit.escape(actor)


def masked(text: str | None) -> str:
    """The Slack copy of a comment: personal data replaced by placeholders."""
    return mask_personal_data(text) if text else ""


def history_line(entry: HistoryEntry, zone: ZoneInfo, now: datetime) -> str | None:
    words = HISTORY_WORDS.get(entry.action)
    if words is None:
        return None
    if entry.action == "reclassified":
        previous = labels.category_label(str(entry.detail.get("previous", "")))
        new = labels.category_label(str(entry.detail.get("category", "")))
        words = f"endra kategorien frå {previous} til {new}"
    if entry.action == "publish_requested" and entry.detail.get("edited"):
        words = "publiserte eit redigert svar"
    when = labels.oslo_time(entry.at, zone, now)
    if entry.actor.lower() in _SYSTEM_ACTORS or words[0].isupper():
        return f"{words} · {when}"
    return f"{who(entry.actor)} {words} · {when}"


def _last(card: TaskCard, *actions: str) -> HistoryEntry | None:
    return next((entry for entry in reversed(card.history) if entry.action in actions), None)


def _by_when(card: TaskCard, actions: tuple[str, ...], zone: ZoneInfo, now: datetime, *, closed: bool) -> str:
    """Who and when ("av <@U> i dag kl. 14:03"): the task's fields if closed, else the latest audit event."""
    entry = _last(card, *actions)
    actor = (card.handled_by if closed else None) or (entry.actor if entry else None)
    at = (card.handled_at if closed else None) or (entry.at if entry else None)
    parts = []
    if actor and actor.lower() not in _SYSTEM_ACTORS:
        parts.append(f"av {who(actor)}")
    if at:
        parts.append(labels.oslo_time(at, zone, now))
    return (" " + " ".join(parts)) if parts else ""


# Closed statuses: (emoji and words, the audit actions that tell who and when).
_CLOSED_LINES = {
    "answered": (":white_check_mark: *Svara*: svaret er publisert", ("reply_published", "publish_requested")),
    "handled": (":ballot_box_with_check: *Handsama*", ("handled",)),
    "hidden": (":see_no_evil: *Skjult*: kommentaren er skjult", ("comment_hidden", "hide_requested")),
    "forwarded": (":incoming_envelope: *Send til postmottaket*", ("forwarded", "forward_requested")),
}
_PENDING_LINES = {
    "publish": (":hourglass_flowing_sand: Svaret vert publisert", ("publish_requested",)),
    "hide": (":hourglass_flowing_sand: Kommentaren vert skjult", ("hide_requested",)),
    "forward": (":hourglass_flowing_sand: Førespurnaden vert send til postmottaket", ("forward_requested",)),
}


def status_line(card: TaskCard, zone: ZoneInfo, now: datetime) -> str:
    """Who did what and when."""
    if card.status == "closed":
        return ":wastebasket: *Lukka*: kommentaren er sletta på plattforma"
    if card.status in _CLOSED_LINES:
        words, actions = _CLOSED_LINES[card.status]
        line = words + _by_when(card, actions, zone, now, closed=True)
        if card.status == "forwarded" and card.forward_reference:
            line += f" (referanse {kit.escaped(card.forward_reference, 100)})"
        return line
    lines = []
    for kind, (words, actions) in _PENDING_LINES.items():
        if card.in_flight(kind):
            lines.append(words + _by_when(card, actions, zone, now, closed=False))
    if card.forwarded_at and not card.in_flight("forward"):
        lines.append(
            f":incoming_envelope: Send til postmottaket {labels.oslo_time(card.forwarded_at, zone, now)}"
        )
    if card.comment_hidden and not card.in_flight("hide"):
        lines.append(":see_no_evil: Kommentaren er skjult")
    if card.assignee:
        lines.append(f":bust_in_silhouette: Tildelt {who(card.assignee)}")
    return "\n".join(lines) or ":large_blue_circle: *Open*: ingen har teke oppgåva enno"


def _headline(card: TaskCard) -> str:
    flags = [labels.flag_with_emoji(flag) for flag in labels.sorted_flags(card.flags)]
    return "  ·  ".join([labels.category_with_emoji(card.category), *flags])


def _facts(card: TaskCard, zone: ZoneInfo, now: datetime) -> list[str]:
    platform = labels.PLATFORM_LABELS.get(card.platform, card.platform)
    fields = [f"*Side*\n{kit.escaped(card.page_name or 'ukjend side', 200)} ({platform})"]
    excerpt = kit.truncate(" ".join((card.post_text or "").split()), POST_EXCERPT_MAX) or "innlegget"
    fields.append(f"*Innlegg*\n{kit.link(card.post_permalink, excerpt)}")
    if card.author_name:
        fields.append(f"*Forfattar*\n{kit.escaped(card.author_name, 200)}")
    if card.written_at:
        fields.append(f"*Skriven*\n{labels.oslo_time(card.written_at, zone, now)}")
    if card.is_open:
        fields.append(f"*Frist*\n{labels.deadline_words(card.deadline_at, now, zone)}")
    else:
        fields.append(f"*Frist*\n{labels.oslo_time(card.deadline_at, zone, now)}")
    fields.append(f"*Status*\n{labels.STATUS_LABELS.get(card.status, card.status)}")
    return fields


def _comment_block(card: TaskCard) -> dict[str, Any]:
    title = "*Kommentar*"
    if card.comment_permalink:
        platform = labels.PLATFORM_LABELS.get(card.platform, "plattforma")
        title += f" ({kit.link(card.comment_permalink, 'opne på ' + platform)})"
    if card.comment_edited:
        title += " _(endra)_"
    if card.comment_text is None:
        return kit.section(f"{title}\n_Teksten er sletta etter personvernreglane._", block_id="comment")
    text = masked(card.comment_text)
    shortened = len(text) > COMMENT_MAX
    body = kit.quoted(kit.truncate(text, COMMENT_MAX), kit.SECTION_TEXT_MAX - len(title) - 40)
    note = "\n_Forkorta: sjå heile kommentaren på plattforma._" if shortened else ""
    return kit.section(f"{title}\n{body}{note}", block_id="comment")


def _reply_block(card: TaskCard) -> dict[str, Any]:
    if card.final_reply and (card.in_flight("publish") or card.reply_published):
        title = "*Publisert svar*" if card.reply_published else "*Svar på veg ut*"
        return kit.section(
            f"{title}\n{kit.quoted(card.final_reply, kit.SECTION_TEXT_MAX - 40)}", block_id="reply"
        )
    if card.is_abusive and not card.suggested_reply:
        return kit.section(f":no_entry: *{labels.ABUSIVE_NOTE}*", block_id="reply")
    if not card.suggested_reply:
        return kit.section(
            "*Framlegg til svar*\n_Ingen framlegg. Bruk «Rediger svaret» for å skrive eitt._",
            block_id="reply",
        )
    reply = kit.quoted(kit.truncate(card.suggested_reply, REPLY_MAX), kit.SECTION_TEXT_MAX - 40)
    return kit.section(f"*Framlegg til svar*\n{reply}", block_id="reply")


def reclassify_options(task_id: int) -> list[tuple[str, str]]:
    """(label, "TASK_ID:CATEGORY") for every category."""
    return [
        (labels.category_with_emoji(category), f"{task_id}:{category}") for category in labels.CATEGORY_ORDER
    ]


def hide_confirm() -> dict[str, Any]:
    return kit.confirm_dialog(
        "Skjule kommentaren?",
        "Kommentaren vert skjult for alle andre enn forfattaren og venene hans. "
        "Grunnlaget vert loggført: retningslinjene for sosiale medium, «Ytringar».",
        "Skjul",
        "Avbryt",
    )


def task_buttons(card: TaskCard) -> list[dict[str, Any]]:
    """The buttons that still apply to the task (none once it is closed)."""
    if not card.is_open:
        return []
    value = str(card.task_id)
    elements: list[dict[str, Any]] = []
    reply_open = not card.in_flight("publish") and not card.reply_published and not card.comment_deleted
    if reply_open and card.suggested_reply:
        elements.append(kit.button(labels.BUTTON_PUBLISH, "task_publish", value, style="primary"))
    if reply_open:
        elements.append(kit.button(labels.BUTTON_EDIT, "task_edit", value))
    elements.append(kit.button(labels.BUTTON_HANDLED, "task_handled", value))
    elements.append(
        kit.static_select(
            "task_reclassify",
            labels.RECLASSIFY_PLACEHOLDER,
            reclassify_options(card.task_id),
            initial_value=f"{card.task_id}:{card.category}",
        )
    )
    if not card.comment_hidden and not card.in_flight("hide") and not card.comment_deleted:
        elements.append(
            kit.button(labels.BUTTON_HIDE, "task_hide", value, style="danger", confirm=hide_confirm())
        )
    if card.category == "case_inquiry" and not card.forwarded_at and not card.in_flight("forward"):
        elements.append(kit.button(labels.BUTTON_FORWARD, "task_forward", value))
    elements.append(kit.button(labels.BUTTON_ASSIGN, "task_assign", value))
    return elements


def fallback(card: TaskCard) -> str:
    flags = ", ".join(labels.FLAG_LABELS.get(flag, flag) for flag in labels.sorted_flags(card.flags))
    excerpt = kit.truncate(" ".join(masked(card.comment_text).split()), 150)
    where = f" på {card.page_name}" if card.page_name else ""
    return kit.fallback_text(
        f"{labels.category_label(card.category)}{' (' + flags + ')' if flags else ''}{where}: {excerpt}"
    )


def task_message(card: TaskCard, *, now: datetime, zone: ZoneInfo, crisis: bool = False) -> dict[str, Any]:
    """{"text", "blocks"} of the task message, at most 50 blocks."""
    result: list[dict[str, Any]] = []
    if crisis and card.is_open:
        result.append(kit.section(labels.CRISIS_BANNER, block_id="crisis"))
    result.append(kit.header(_headline(card)))
    result.append(kit.fields_section(_facts(card, zone, now)))
    result.append(_comment_block(card))
    result.append(_reply_block(card))
    if card.reply_note:
        result.append(kit.context(f":memo: {kit.escaped(card.reply_note, 2900)}"))
    result.append(kit.section(status_line(card, zone, now), block_id="status"))
    history = [line for entry in card.history if (line := history_line(entry, zone, now))]
    if history:
        result.append(kit.context("\n".join(history[-HISTORY_LINES:])))
    buttons = task_buttons(card)
    if buttons:
        result.append(kit.actions(buttons, block_id=f"task-{card.task_id}"))
    result.append(kit.context(f"Oppgåve #{card.task_id} · Kommentarvakt"))
    return {"text": fallback(card), "blocks": kit.fit(result, kit.MESSAGE_MAX_BLOCKS)}


def group_message(group: GroupCard) -> dict[str, Any]:
    """One message for many praise/neutral comments on the same post, with a button to open them."""
    total = len(group.task_ids)
    kinds = " og ".join(
        f"{count} {labels.category_label(category).lower()}"
        for category, count in sorted(group.by_category.items())
    )
    excerpt = kit.truncate(" ".join((group.post_text or "").split()), POST_EXCERPT_MAX) or "innlegget"
    result = [
        kit.header(f"{labels.CATEGORY_EMOJI['praise']} {total} kommentarar på same innlegg"),
        kit.section(
            f"*Side*: {kit.escaped(group.page_name or 'ukjend side', 200)}\n"
            f"*Innlegg*: {kit.link(group.post_permalink, excerpt)}\n*Kva*: {kinds}"
        ),
    ]
    samples = [
        kit.quoted(kit.truncate(masked(text), SAMPLE_MAX), SAMPLE_MAX * 2)
        + (f"\n_– {kit.escaped(author, 100)}_" if author else "")
        for author, text in group.samples[:SAMPLE_COUNT]
    ]
    if samples:
        result.append(kit.section("\n".join(samples)))
    result.append(
        kit.context(
            f"Det kom mange kommentarar på kort tid, så dei er samla i éi melding. "
            f"{group.open_count} av {total} er opne."
        )
    )
    if group.open_count:
        result.append(
            kit.actions(
                [
                    kit.button(
                        labels.BUTTON_OPEN_GROUP, "task_group_open", str(group.post_id), style="primary"
                    )
                ],
                block_id=f"group-{group.post_id}",
            )
        )
    text = kit.fallback_text(f"{total} kommentarar ({kinds}) på same innlegg på {group.page_name}")
    return {"text": text, "blocks": kit.fit(result, kit.MESSAGE_MAX_BLOCKS)}


def thread_note(text: str) -> str:
    """A note in a task message's thread: personal data masked, length within limits."""
    return kit.escaped(masked(text), kit.FALLBACK_TEXT_MAX)
