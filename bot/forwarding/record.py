"""How a forwarded case reads: the e-mail's summary (plain text and HTML) and the attached HTML record."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from bot.followup import excerpt, format_full_moment
from bot.forwarding import ForwardCase

GUIDELINE = (
    "Retningslinjer for sosiale media, «Sakshandsaming»: Sakshandsaming skal ikkje føregå i sosiale media. "
    "Henvendingar som krev sakshandsaming eller har verdi som dokumentasjon skal formidlast vidare til rette "
    "instans og arkiverast."
)
ACTION_LABELS = {
    "task_created": "Oppgåve oppretta",
    "assigned": "Teken av",
    "reclassified": "Kategori endra",
    "publish_requested": "Svar sendt til publisering",
    "reply_published": "Svar publisert",
    "hide_requested": "Skjuling bede om",
    "comment_hidden": "Kommentar skjult",
    "comment_unhidden": "Kommentar vist att",
    "forward_requested": "Vidaresending bede om",
    "forwarded": "Vidaresendt",
    "forward_failed": "Vidaresending feila",
    "handled": "Markert som handsama",
    "reminded": "Påminning sendt",
    "escalated": "Eskalert til teamleiar",
    "comment_edited": "Kommentaren vart endra",
    "comment_removed": "Kommentaren vart sletta på plattforma",
    "denied": "Avvist (manglande løyve)",
}

Field = tuple[str, str]


def _moment(moment: datetime | None, zone: ZoneInfo) -> str:
    return format_full_moment(moment, zone) if moment is not None else "ukjend"


def summary_fields(case: ForwardCase, zone: ZoneInfo) -> list[tuple[str, list[Field]]]:
    """The e-mail's sections: what was written, where, how it was judged, who sent it on."""
    author = case.author_name or "Ukjend"
    if case.author_id:
        author += f" ({case.platform_label}-ID {case.author_id})"
    return [
        (
            "Kommentaren",
            [
                ("Skriven av", author),
                ("Tidspunkt", _moment(case.comment_time, zone)),
                ("Lenkje", case.comment_link or "–"),
                ("Tekst", case.comment_text if case.comment_text is not None else "(teksten er sletta)"),
            ],
        ),
        (
            "Innlegget kommentaren står under",
            [
                ("Side", f"{case.page_name} ({case.platform_label})"),
                ("Lenkje", case.post_link or "–"),
                ("Tekst", case.post_text or "–"),
            ],
        ),
        (
            "Vurdering",
            [
                ("Kategori", case.category_label),
                ("Merknader", ", ".join(case.flags) or "ingen"),
                ("Svarfrist", _moment(case.deadline_at, zone)),
            ],
        ),
        (
            "Vidaresending",
            [
                ("Referanse", case.reference),
                ("Vidaresendt av", f"Slack-brukar {case.forwarded_by}" if case.forwarded_by else "ukjend"),
                ("Tidspunkt", _moment(case.forwarded_at, zone)),
                ("Oppgåva i Slack", case.slack_link or "–"),
            ],
        ),
        (
            "Svar i sosiale medium",
            [
                ("Forslag til svar", case.suggested_reply or "–"),
                ("Publisert svar", case.final_reply or "ikkje publisert"),
            ],
        ),
    ]


def subject(case: ForwardCase) -> str:
    return (
        f"[{case.reference}] Førespurnad frå {case.platform_label} ({case.page_name}): "
        f"{excerpt(case.comment_text, 60)}"
    )


def render_text(case: ForwardCase, zone: ZoneInfo) -> str:
    """The plain-text body."""
    lines = [
        "Ein kommentar på kommunen sine sosiale medium kan krevje sakshandsaming og er send vidare til "
        "registrering.",
        f"Referanse: {case.reference}",
    ]
    for heading, fields in summary_fields(case, zone):
        lines += ["", heading.upper()]
        for label, value in fields:
            if "\n" in value:
                lines.append(f"{label}:")
                lines += [f"    {line}" for line in value.splitlines()]
            else:
                lines.append(f"{label}: {value}")
    lines += [
        "",
        f"Vedlegg: {case.reference}.html – heile samtalen under innlegget og loggen for oppgåva.",
        "",
        GUIDELINE,
        "",
        "Sendt av Kommentarvakt.",
    ]
    return "\n".join(lines) + "\n"


def _html_value(value: str) -> str:
    if value.startswith(("https://", "http://")) and " " not in value:
        return f'<a href="{escape(value)}">{escape(value)}</a>'
    return escape(value).replace("\n", "<br>")


def _fields_table(fields: list[Field]) -> str:
    rows = "".join(
        f'<tr><th style="text-align:left;vertical-align:top;padding:2px 12px 2px 0">{escape(label)}</th>'
        f"<td>{_html_value(value)}</td></tr>"
        for label, value in fields
    )
    return f"<table>{rows}</table>"


def render_html(case: ForwardCase, zone: ZoneInfo) -> str:
    """The HTML body (the same content as the plain text)."""
    sections = "".join(
        f"<h2>{escape(heading)}</h2>{_fields_table(fields)}" for heading, fields in summary_fields(case, zone)
    )
    return (
        '<!DOCTYPE html><html lang="nn"><head><meta charset="utf-8">'
        f"<title>{escape(case.reference)}</title></head><body>"
        "<p>Ein kommentar på kommunen sine sosiale medium kan krevje sakshandsaming og er send vidare til "
        f"registrering.</p><p><strong>Referanse: {escape(case.reference)}</strong></p>{sections}"
        f"<p>Vedlegg: {escape(case.reference)}.html – heile samtalen under innlegget og loggen for "
        "oppgåva.</p>"
        f"<p><small>{escape(GUIDELINE)}</small></p></body></html>"
    )


def _table(headers: list[str], rows: list[list[str]], highlighted: set[int] | None = None) -> str:
    """An HTML table; cells are given already escaped."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join(
        ('<tr style="background:#fff4cc">' if index in (highlighted or set()) else "<tr>")
        + "".join(f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for index, row in enumerate(rows)
    )
    return f'<table border="1" cellspacing="0" cellpadding="4"><tr>{head}</tr>{body}</table>'


def _text_cell(text: str | None) -> str:
    return escape(text if text is not None else "(teksten er sletta)").replace("\n", "<br>")


def render_record(case: ForwardCase, zone: ZoneInfo) -> str:
    """The attached record of the exchange: comment, thread, replies and the task's audit trail."""
    thread = _table(
        ["Tidspunkt", "Frå", "Tekst"],
        [
            [
                escape(_moment(entry.created_time, zone)),
                escape(entry.author_name) + (" (denne kommentaren)" if entry.is_forwarded else ""),
                _text_cell(entry.text),
            ]
            for entry in case.thread
        ],
        {index for index, entry in enumerate(case.thread) if entry.is_forwarded},
    )
    audit = _table(
        ["Tidspunkt", "Kven", "Handling", "Detaljar"],
        [
            [
                escape(_moment(entry.at, zone)),
                escape(entry.actor),
                escape(ACTION_LABELS.get(entry.action, entry.action)),
                "<code>" + escape(json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)) + "</code>",
            ]
            for entry in case.audit
        ],
    )
    summary = "".join(
        f"<h2>{escape(heading)}</h2>{_fields_table(fields)}" for heading, fields in summary_fields(case, zone)
    )
    return (
        '<!DOCTYPE html><html lang="nn"><head><meta charset="utf-8">'
        f"<title>Saksdokument {escape(case.reference)}</title></head><body>"
        f"<h1>Førespurnad frå sosiale medium – {escape(case.reference)}</h1>{summary}"
        f"<h2>Samtalen under innlegget</h2>{thread}"
        f"<h2>Logg for oppgåva</h2>{audit}"
        f"<p><small>{escape(GUIDELINE)}</small></p></body></html>"
    )
