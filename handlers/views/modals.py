"""Modals: edit a reply before publishing it, and the list behind a grouped message."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.views import blocks as kit
from handlers.views import labels
from handlers.views.task_message import TaskCard, masked

EDIT_CALLBACK = "task_edit_submit"
REPLY_BLOCK = "reply"
REPLY_ACTION = "reply_text"
GROUP_CALLBACK = "task_group"
GROUP_MAX_TASKS = 45  # two blocks each, inside the 100 blocks of a modal
GROUP_TEXT_MAX = 300


def edit_metadata(task_id: int, channel: str | None, ts: str | None) -> str:
    """private_metadata of the edit modal: which task, and where to answer the moderator."""
    return json.dumps({"task_id": task_id, "channel": channel or "", "ts": ts or ""})


def read_edit_metadata(private_metadata: str) -> dict[str, Any]:
    data = json.loads(private_metadata or "{}")
    return data if isinstance(data, dict) else {}


def edit_reply_modal(
    task_id: int, reply: str, comment_text: str | None, *, metadata: str, max_length: int
) -> dict[str, Any]:
    """The edit modal, pre-filled with the suggested reply; submitting publishes the reply."""
    limit = min(max_length, kit.INPUT_VALUE_MAX)
    comment = kit.quoted(kit.truncate(masked(comment_text), 1500), 2900) if comment_text else "_ukjend_"
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": metadata[: kit.PRIVATE_METADATA_MAX],
        "title": kit.plain("Rediger svaret", kit.MODAL_TITLE_MAX),
        "submit": kit.plain("Publiser", kit.MODAL_TITLE_MAX),
        "close": kit.plain("Avbryt", kit.MODAL_TITLE_MAX),
        "blocks": [
            kit.section(f"*Kommentaren* (oppgåve #{task_id})\n{comment}"),
            {
                "type": "input",
                "block_id": REPLY_BLOCK,
                "label": kit.plain("Svaret som vert publisert", 2000),
                "hint": kit.plain("Ikkje gjenta personopplysningar frå kommentaren.", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REPLY_ACTION,
                    "multiline": True,
                    "max_length": limit,
                    "initial_value": kit.truncate(reply or "", limit),
                },
            },
        ],
    }


def _group_item(card: TaskCard, zone: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    author = f" · {kit.escaped(card.author_name, 100)}" if card.author_name else ""
    written = f" · {labels.oslo_time(card.written_at, zone, now)}" if card.written_at else ""
    text = kit.quoted(kit.truncate(masked(card.comment_text), GROUP_TEXT_MAX), GROUP_TEXT_MAX * 2)
    lines = [f"*{labels.category_with_emoji(card.category)}*{author}{written}", text]
    if card.is_open and card.suggested_reply:
        lines.append(
            "*Framlegg:* "
            + kit.escaped(kit.truncate(card.suggested_reply, GROUP_TEXT_MAX), GROUP_TEXT_MAX * 2)
        )
    if not card.is_open:
        lines.append(f"_{labels.STATUS_LABELS.get(card.status, card.status)}_")
    elif card.in_flight("publish"):
        lines.append("_Svaret vert publisert._")
    result = [kit.section("\n".join(lines))]
    elements = []
    if card.is_open and card.suggested_reply and not card.in_flight("publish") and not card.reply_published:
        elements.append(kit.button(labels.BUTTON_PUBLISH, "task_publish", str(card.task_id), style="primary"))
    if card.is_open:
        elements.append(kit.button(labels.BUTTON_HANDLED, "task_handled", str(card.task_id)))
    if elements:
        result.append(kit.actions(elements, block_id=f"task-{card.task_id}"))
    return result


def group_modal(
    post_id: int,
    page_name: str,
    post_text: str,
    cards: list[TaskCard],
    *,
    open_count: int,
    now: datetime,
    zone: ZoneInfo,
    notice: str = "",
) -> dict[str, Any]:
    """The comments behind a grouped message, each with publish and handled."""
    excerpt = kit.escaped(kit.truncate(" ".join((post_text or "").split()), 200), 600) or "innlegget"
    result: list[dict[str, Any]] = []
    if notice:
        result.append(kit.context(kit.escaped(notice, 2000)))
    result.append(
        kit.section(
            f"*{kit.escaped(page_name or 'Ukjend side', 200)}*: {excerpt}\n{open_count} opne kommentarar"
        )
    )
    shown = cards[:GROUP_MAX_TASKS]
    for card in shown:
        result.extend(_group_item(card, zone, now))
    if open_count > len(shown):
        result.append(
            kit.context(f"… og {open_count - len(shown)} til. Dei kjem fram når desse er handsama.")
        )
    if not cards:
        result.append(kit.section("_Alle kommentarane her er handsama._"))
    return {
        "type": "modal",
        "callback_id": GROUP_CALLBACK,
        "private_metadata": str(post_id),
        "title": kit.plain("Samla kommentarar", kit.MODAL_TITLE_MAX),
        "close": kit.plain("Lukk", kit.MODAL_TITLE_MAX),
        "blocks": kit.fit(result, kit.VIEW_MAX_BLOCKS),
    }
