"""The task message: what a moderator sees, within Slack's limits (checked by the fake, as Slack does)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from handlers.views import blocks as kit
from handlers.views.home import PageCount, TaskSummary, home_view
from handlers.views.modals import edit_reply_modal, group_modal
from handlers.views.task_message import GroupCard, HistoryEntry, TaskCard, group_message, task_message
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    BOT_TOKEN,
    COMMENTS,
    CRISIS_CHANNEL,
    KINN_CHANNEL,
    MODERATOR,
    SlackHarness,
    button_ids,
    message_text,
)

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 6, 12, 9, 0, tzinfo=UTC)  # a Friday, 11:00 in Oslo


def card(**changes: object) -> TaskCard:
    base = TaskCard(
        task_id=42,
        status="open",
        category="neutral",
        flags=(),
        deadline_at=NOW + timedelta(hours=2, minutes=30),
        page_name="Kinn kommune",
        post_text="Symjehallen opnar 1. september.",
        post_permalink="https://www.facebook.com/1001_1",
        comment_permalink="https://www.facebook.com/1001_1?comment_id=9",
        author_name="Kari Nordmann",
        comment_text="Kva kostar eit årskort?",
        written_at=NOW - timedelta(minutes=5),
        suggested_reply="Hei Kari! Eit årskort kostar 3000 kr. Helsing Kinn kommune",
        reply_note="Sjå prislista.",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def all_text(payload: dict) -> str:
    return message_text(payload)


async def post_to_fake(fake: FakeSlackAPI, payload: dict) -> None:
    """Slack's own validation: the fake answers invalid_blocks like Slack would."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
    response = await client.chat_postMessage(
        channel=KINN_CHANNEL, text=payload["text"], blocks=payload["blocks"]
    )
    assert response["ok"]


def test_shows_page_post_author_time_category_deadline_reply_and_note() -> None:
    payload = task_message(card(), now=NOW, zone=OSLO)
    text = all_text(payload)
    assert "Nøytral" in text
    assert "Kinn kommune" in text
    assert "<https://www.facebook.com/1001_1|Symjehallen opnar 1. september.>" in text
    assert "Kari Nordmann" in text
    assert "om 2 t 30 min (i dag kl. 13:30)" in text  # relative and Oslo time
    assert "Kva kostar eit årskort?" in text
    assert "Eit årskort kostar 3000 kr" in text
    assert "Sjå prislista." in text
    ids = {e["action_id"] for b in payload["blocks"] for e in b.get("elements", []) if "action_id" in e}
    assert ids == {"task_publish", "task_edit", "task_handled", "task_reclassify", "task_hide", "task_assign"}


def test_buttons_carry_the_task_id_and_the_select_task_and_category() -> None:
    payload = task_message(card(category="case_inquiry"), now=NOW, zone=OSLO)
    elements = [e for b in payload["blocks"] for e in b.get("elements", []) if "action_id" in e]
    for element in elements:
        if element["type"] == "button":
            assert element["value"] == "42"
    select = next(e for e in elements if e["action_id"] == "task_reclassify")
    assert {o["value"] for o in select["options"]} == {
        "42:praise",
        "42:neutral",
        "42:negative",
        "42:factual_error",
        "42:case_inquiry",
    }
    assert select["initial_option"]["value"] == "42:case_inquiry"
    assert "task_forward" in {e["action_id"] for e in elements}  # forward only for case inquiries
    hide = next(e for e in elements if e["action_id"] == "task_hide")
    assert hide["confirm"]["confirm"]["text"] == "Skjul"


def test_personal_data_is_masked_in_the_slack_copy() -> None:
    payload = task_message(
        card(comment_text="Ring meg på 912 34 567 eller skriv til kari@example.no", flags=("personal_data",)),
        now=NOW,
        zone=OSLO,
    )
    text = all_text(payload)
    assert "912 34 567" not in text and "kari@example.no" not in text
    assert "[telefon]" in text and "[e-post]" in text
    assert "912 34 567" not in payload["text"]
    assert "Personopplysningar" in text


def test_abusive_gets_the_do_not_answer_note_and_no_publish_button() -> None:
    payload = task_message(
        card(flags=("abusive",), suggested_reply=None, category="negative"), now=NOW, zone=OSLO
    )
    text = all_text(payload)
    assert "ikkje svar offentleg – vurder å skjule" in text
    assert "Krenkjande" in text
    ids = {e["action_id"] for b in payload["blocks"] for e in b.get("elements", []) if "action_id" in e}
    assert "task_publish" not in ids and "task_hide" in ids


def test_redacted_author_is_left_out_and_purged_text_is_explained() -> None:
    text = all_text(task_message(card(author_name=None, comment_text=None), now=NOW, zone=OSLO))
    assert "Forfattar" not in text
    assert "sletta etter personvernreglane" in text


def test_user_text_cannot_mention_the_channel() -> None:
    text = all_text(
        task_message(
            card(comment_text="Hei <!channel> sjå her <https://evil.example|klikk>"), now=NOW, zone=OSLO
        )
    )
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


def test_closed_task_shows_who_and_when_and_has_no_buttons() -> None:
    handled = card(
        status="handled",
        handled_by=MODERATOR,
        handled_at=NOW - timedelta(minutes=3),
        history=(HistoryEntry(MODERATOR, "handled", NOW - timedelta(minutes=3)),),
    )
    payload = task_message(handled, now=NOW, zone=OSLO)
    text = all_text(payload)
    assert f"*Handsama* av <@{MODERATOR}> i dag kl. 10:57" in text
    assert not [b for b in payload["blocks"] if b["type"] == "actions"]


def test_pending_publish_hides_publish_and_edit() -> None:
    pending = card(
        pending_action="publish",
        final_reply="Takk!",
        history=(HistoryEntry(MODERATOR, "publish_requested", NOW),),
    )
    payload = task_message(pending, now=NOW, zone=OSLO)
    ids = {e["action_id"] for b in payload["blocks"] for e in b.get("elements", []) if "action_id" in e}
    assert "task_publish" not in ids and "task_edit" not in ids
    assert f"Svaret vert publisert av <@{MODERATOR}>" in all_text(payload)


def test_overdue_deadline_reads_as_passed() -> None:
    text = all_text(task_message(card(deadline_at=NOW - timedelta(minutes=20)), now=NOW, zone=OSLO))
    assert "gjekk ut for 20 min sidan" in text


def test_crisis_banner_when_crisis_mode_is_on() -> None:
    assert "Krisemodus er på" in all_text(task_message(card(), now=NOW, zone=OSLO, crisis=True))
    assert "Krisemodus er på" not in all_text(task_message(card(), now=NOW, zone=OSLO, crisis=False))


async def test_huge_comment_is_truncated_and_slack_accepts_the_message(fake_slack: FakeSlackAPI) -> None:
    huge = card(
        comment_text="Dette er ein veldig lang kommentar. " * 400,
        suggested_reply="Svar. " * 1000,
        reply_note="Merknad. " * 800,
        post_text="Innlegg " * 500,
        page_name="Side " * 100,
        author_name="Namn " * 100,
        history=tuple(HistoryEntry(MODERATOR, "assigned", NOW) for _ in range(200)),
    )
    payload = task_message(huge, now=NOW, zone=OSLO, crisis=True)
    assert len(payload["blocks"]) <= 50
    assert "Forkorta" in all_text(payload)
    await post_to_fake(fake_slack, payload)


def test_fit_never_returns_more_than_the_limit() -> None:
    blocks = [kit.section(str(n)) for n in range(120)]
    assert len(kit.fit(blocks, 50)) == 50
    assert "71 blokker til" in kit.fit(blocks, 50)[-1]["elements"][0]["text"]


async def test_group_message_modals_and_home_are_accepted_by_slack(fake_slack: FakeSlackAPI) -> None:
    group = GroupCard(
        post_id=7,
        page_name="Kinn kommune",
        post_text="Symjehallen opnar",
        post_permalink="https://www.facebook.com/1001_1",
        task_ids=tuple(range(1, 31)),
        open_count=30,
        by_category={"praise": 20, "neutral": 10},
        samples=(("Kari", COMMENTS["praise"]), (None, "Kjempebra!")),
    )
    payload = group_message(group)
    assert "30 kommentarar" in all_text(payload)
    await post_to_fake(fake_slack, payload)

    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url)
    cards = [card(task_id=n, comment_text="Flott! " * 100) for n in range(1, 61)]
    modal = group_modal(
        7, "Kinn kommune", "Innlegg", cards, open_count=60, now=NOW, zone=OSLO, notice="Gjort."
    )
    assert len(modal["blocks"]) <= 100
    assert (await client.views_open(trigger_id=fake_slack.issue_trigger_id(), view=modal))["ok"]
    edit = edit_reply_modal(42, "Svar " * 1000, "Kommentar", metadata="{}", max_length=2000)
    assert (await client.views_open(trigger_id=fake_slack.issue_trigger_id(), view=edit))["ok"]

    summaries = [
        TaskSummary(n, "negative", ("urgent",), "Kinn kommune", "Tekst " * 50, NOW, KINN_CHANNEL, "1.2")
        for n in range(40)
    ]
    pages = [PageCount(f"Side {n}", n, n // 2, paused=n % 3 == 0, paused_reason="token") for n in range(25)]
    home = home_view(
        MODERATOR,
        my_tasks=summaries,
        my_total=40,
        overdue=summaries,
        overdue_total=40,
        pages=pages,
        crisis=True,
        now=NOW,
        zone=OSLO,
    )
    assert (await client.views_publish(user_id=MODERATOR, view=home))["ok"]


# -- the real thing: ingest, outbox, Slack ----------------------------------------------------------


async def test_a_new_comment_becomes_a_message_in_its_page_channel(slack: SlackHarness) -> None:
    task_id = await slack.ingest(
        "Ring meg på 912 34 567, kvifor har eg ikkje fått svar på byggesøknaden min?"
    )
    assert task_id is not None
    await slack.drain()
    message = await slack.message_of(task_id)
    assert message.channel == KINN_CHANNEL
    assert message.posted["unfurl_links"] is False
    assert message.posted["unfurl_media"] is False
    text = message_text(message)
    assert "912 34 567" not in text and "[telefon]" in text
    assert {"task_edit", "task_handled", "task_assign", "task_reclassify", "task_hide"} <= button_ids(message)
    assert f"Oppgåve #{task_id}" in text


async def test_crisis_mode_copies_new_tasks_to_the_crisis_channel(slack: SlackHarness) -> None:
    outcome = await slack.services.admin.set_crisis("U0ADMIN001", True)
    assert outcome.changed
    task_id = await slack.ingest(COMMENTS["negative"])
    assert task_id is not None
    await slack.drain()
    original = await slack.message_of(task_id)
    copies = slack.fake.messages(CRISIS_CHANNEL)
    assert len(copies) == 1 and copies[0].ts != original.ts
    assert "Krisemodus er på" in message_text(original)
    task = await slack.task(task_id)
    assert task.slack_channel == KINN_CHANNEL  # the copy is not the task's message


@pytest.mark.parametrize("category", ["praise", "case_inquiry"])
async def test_each_category_is_posted_with_a_valid_message(slack: SlackHarness, category: str) -> None:
    task_id = await slack.ingest(COMMENTS[category])
    assert task_id is not None
    await slack.drain()
    message = await slack.message_of(task_id)
    assert slack.fake.calls("chat.postMessage", ok=False) == []
    assert message.blocks
