"""Block Kit building blocks that always fit Slack's limits: text is cut here and nowhere else."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
SECTION_FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
PLACEHOLDER_MAX = 150
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
INPUT_VALUE_MAX = 3000
FALLBACK_TEXT_MAX = 3000
ELLIPSIS = "…"


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Escape user text for mrkdwn so that nobody can inject mentions (<!channel>) or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped(text: str, limit: int) -> str:
    """Escaped `text` that fits `limit` after escaping (never cuts an entity in half)."""
    result = escape(text)
    keep = len(text)
    while len(result) > limit and keep > 0:
        keep -= max(1, len(result) - limit)
        result = escape(truncate(text, keep))
    return result


def quoted(text: str, limit: int) -> str:
    """User text as an escaped mrkdwn quote (every line starts with ">") within `limit`."""
    lines = (text or "").strip().splitlines() or [""]
    result = "\n".join(f"> {escape(line)}" for line in lines)
    keep = len(text)
    while len(result) > limit and keep > 0:
        keep -= max(1, len(result) - limit)
        lines = truncate(text.strip(), keep).splitlines() or [""]
        result = "\n".join(f"> {escape(line)}" for line in lines)
    return result


def link(url: str | None, label: str, *, limit: int = 500) -> str:
    """A mrkdwn link <url|label> (escaped label), or just the label when there is no usable url."""
    safe_label = escaped(label, limit) or "lenkje"
    if not url or len(url) > URL_MAX or not url.startswith(("https://", "http://")):
        return safe_label
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{safe_label}>"


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    """A mrkdwn text object; `text` is already escaped where it holds user text."""
    return {"type": "mrkdwn", "text": truncate(text, limit) or " "}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def section(text: str, *, block_id: str | None = None, accessory: dict[str, Any] | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id
    if accessory:
        block["accessory"] = accessory
    return block


def fields_section(fields: list[str]) -> Block:
    return {
        "type": "section",
        "fields": [mrkdwn(field, FIELD_TEXT_MAX) for field in fields[:SECTION_FIELDS_MAX]],
    }


def context(*texts: str) -> Block:
    elements = [mrkdwn(text) for text in texts if text][:CONTEXT_ELEMENTS_MAX]
    return {"type": "context", "elements": elements or [mrkdwn(" ")]}


def divider() -> Block:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, confirm: str, deny: str) -> dict[str, Any]:
    return {
        "title": plain(title, CONFIRM_TITLE_MAX),
        "text": mrkdwn(text, CONFIRM_TEXT_MAX),
        "confirm": plain(confirm, CONFIRM_BUTTON_MAX),
        "deny": plain(deny, CONFIRM_BUTTON_MAX),
        "style": "danger",
    }


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain(text, BUTTON_TEXT_MAX),
        "value": value[:BUTTON_VALUE_MAX],
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def static_select(
    action_id: str, placeholder: str, options: list[tuple[str, str]], *, initial_value: str | None = None
) -> dict[str, Any]:
    """A static select; `options` are (label, value) pairs."""
    built = [
        {"text": plain(label, OPTION_TEXT_MAX), "value": value[:OPTION_VALUE_MAX]}
        for label, value in options[:100]
    ]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, PLACEHOLDER_MAX),
        "options": built,
    }
    initial = next((option for option in built if option["value"] == initial_value), None)
    if initial is not None:
        element["initial_option"] = initial
    return element


def actions(elements: list[dict[str, Any]], *, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements[:ACTIONS_ELEMENTS_MAX]}
    if block_id:
        block["block_id"] = block_id
    return block


def fit(blocks: list[Block], limit: int = MESSAGE_MAX_BLOCKS) -> list[Block]:
    """At most `limit` blocks; what is cut is replaced by a note saying how much was left out."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return [*kept, context(f"_{len(blocks) - len(kept)} blokker til er utelatne._")]


def fallback_text(text: str) -> str:
    """The notification text of a message (shown where blocks are not)."""
    return truncate(text, FALLBACK_TEXT_MAX)
