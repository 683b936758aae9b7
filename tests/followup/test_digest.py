"""The daily digest: working days only, per page and per person, to channels and team leads."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import build_services
from bot.commands.followup import run_digest
from bot.domain import Category
from bot.followup.component import FollowUpComponent
from bot.followup.digest import SECTION_TEXT_MAX, build_digest_text, digest_blocks, run_daily_digest
from bot.runtime import Services
from bot.scheduler import Scheduler
from storage.db import Database
from tests.fakes.slack_api import FakeSlackAPI, dm_channel_id
from tests.followup.conftest import (
    BYGG,
    INQUIRY,
    MODERATOR,
    PAGE_LEAD,
    TEAM_LEAD,
    Clock,
    ingest,
    make_settings,
    mark_slack_posted,
    oslo,
    outbox,
    task,
)

COMPLAINT = "Det er heilt uforståeleg at gangvegen til skulen framleis ikkje er brøyta. Dårleg gjort!"
PRAISE = "Tusen takk til dei flinke folka på biblioteket for ein kjekk forfattarkveld!"
ASCENSION_DAY = oslo(2026, 5, 14, 8, 0)  # Thursday, a public holiday
DAY_AFTER = oslo(2026, 5, 15, 8, 0)


async def scenario(services: Services) -> dict[str, int]:
    """Two overdue tasks on one page (one assigned), one due later today on another, two not in it."""
    ids: dict[str, int | None] = {
        "assigned": await ingest(
            services, "c1", COMPLAINT, created=oslo(2026, 5, 11, 10, 0), category=Category.NEGATIVE
        ),
        "unassigned": await ingest(
            services,
            "c2",
            INQUIRY,
            created=oslo(2026, 5, 11, 12, 0),
            author_id="fb-per",
            author_name="Per Hansen",
            category=Category.CASE_INQUIRY,
        ),
        "soon": await ingest(
            services,
            "i1",
            COMPLAINT + " Og parkeringa er kaos.",
            created=oslo(2026, 5, 15, 8, 0),
            page=BYGG,
            post_id="200_1",
            category=Category.NEGATIVE,
        ),
        "handled": await ingest(
            services, "c3", COMPLAINT + " Igjen!", created=oslo(2026, 5, 11, 9, 0), category=Category.NEGATIVE
        ),
        "later": await ingest(
            services,
            "c5",
            PRAISE,
            created=oslo(2026, 5, 15, 7, 0),
            author_id="fb-eva",
            category=Category.PRAISE,
        ),
    }
    assert all(task_id is not None for task_id in ids.values())
    tasks = {name: task_id for name, task_id in ids.items() if task_id is not None}
    await services.tasks.assign(tasks["assigned"], MODERATOR)
    await mark_slack_posted(services.db, tasks["assigned"], "1747000000.000200")
    await services.tasks.mark_handled(tasks["handled"], MODERATOR)
    assert (await task(services.db, tasks["unassigned"])).deadline_at == oslo(2026, 5, 12, 8, 30)
    assert (await task(services.db, tasks["soon"])).deadline_at == oslo(2026, 5, 15, 12, 0)
    return tasks


def blocks_text(payload: dict[str, Any]) -> str:
    """The digest as Slack shows it: the text of its section blocks."""
    return "\n".join(block["text"]["text"] for block in payload["blocks"])


async def digest_messages(db: Database) -> dict[str, str]:
    """Queued digest texts by recipient (channel or user)."""
    messages = await outbox(db, ["slack.message", "slack.dm"], prefix="followup.digest")
    return {m.payload.get("channel") or m.payload["user"]: blocks_text(m.payload) for m in messages}


async def test_nothing_on_a_public_holiday_then_the_digest_on_the_day_after(
    services: Services, db: Database
) -> None:
    tasks = await scenario(services)
    clock = Clock(oslo(2026, 5, 14, 8, 1))
    component = FollowUpComponent(services, clock=clock)
    jobs = [job for job in component.jobs() if job.name == "followup.digest"]

    await Scheduler(services, jobs, clock=clock).catch_up()
    assert await digest_messages(db) == {}
    assert (await component.health())["last_digest"] is None

    clock.set(oslo(2026, 5, 15, 8, 1))
    await Scheduler(services, jobs, clock=clock).catch_up()
    await Scheduler(services, jobs, clock=clock).catch_up()  # a restart or a second replica

    messages = await digest_messages(db)
    assert set(messages) == {"C0KINN", "C0BYGG", TEAM_LEAD, PAGE_LEAD}
    assert len(await outbox(db, prefix="followup.digest")) == 4
    kinn, bygg, lead, page_lead = (messages[key] for key in ("C0KINN", "C0BYGG", TEAM_LEAD, PAGE_LEAD))
    assert f"oppgåve {tasks['assigned']}" in kinn and f"oppgåve {tasks['unassigned']}" in kinn
    assert f"oppgåve {tasks['soon']}" not in kinn and f"oppgåve {tasks['handled']}" not in kinn
    assert f"oppgåve {tasks['soon']}" in bygg and f"oppgåve {tasks['assigned']}" not in bygg
    assert all(f"oppgåve {tasks[name]}" in lead for name in ("assigned", "unassigned", "soon"))
    assert f"oppgåve {tasks['later']}" not in lead
    assert f"oppgåve {tasks['soon']}" in page_lead and f"oppgåve {tasks['assigned']}" not in page_lead
    assert (await component.health())["last_digest"] == oslo(2026, 5, 15, 8, 1).isoformat()
    [kinn_message] = await outbox(db, ["slack.message"], prefix="followup.digest:2026-05-15:channel:C0KINN")
    assert kinn_message.payload["text"] == "Oversikt over forfalne oppgåver fredag 15. mai 2026: 2 forfalne"
    assert kinn_message.lane == "slack:C0KINN"


async def test_the_digest_text_groups_per_page_and_person_with_links(
    services: Services, db: Database
) -> None:
    tasks = await scenario(services)

    text = await build_digest_text(services, DAY_AFTER)

    assert text.startswith("*Oversikt over forfalne oppgåver – fredag 15. mai 2026*")
    assert "2 forfalne og 1 forfell snart" in text
    kinn_at, bygg_at = text.index("*Kinn kommune (Facebook)*"), text.index("*Kinn byggesak (Instagram)*")
    person_at = text.index("*Per person*")
    kinn = text[kinn_at:person_at] if kinn_at > bygg_at else text[kinn_at:bygg_at]
    assert f"_<@{MODERATOR}>_" in kinn and "_Ikkje tildelt_" in kinn
    assert (
        kinn.index(f"<@{MODERATOR}>")
        < kinn.index(f"oppgåve {tasks['assigned']}")
        < kinn.index("Ikkje tildelt")
    )
    assert kinn.index("Ikkje tildelt") < kinn.index(f"oppgåve {tasks['unassigned']}")
    # The Slack message of a posted task, else the comment on the platform.
    assert "<https://slack.com/archives/C0KINN/p1747000000000200|Negativ>" in text
    assert "<https://www.facebook.com/100_1?comment_id=c2|Sakshandsaming>" in text
    assert "frist måndag 11.05. kl. 14:00, forfall for 3 d 18 t sidan" in text
    assert "frist i dag kl. 12:00, forfell om 4 t" in text
    assert f"• <@{MODERATOR}>: 1 forfalne" in text[person_at:]
    assert "• Ikkje tildelt: 1 forfalne og 1 forfell snart" in text[person_at:]


async def test_the_terminal_text_is_plain(services: Services) -> None:
    tasks = await scenario(services)

    text = await build_digest_text(services, DAY_AFTER, slack=False)

    assert "*" not in text.splitlines()[0] and "<@" not in text
    assert f"@{MODERATOR}" in text and "FORFALEN Negativ <https://slack.com/archives/C0KINN/" in text
    assert f"oppgåve {tasks['soon']}" in text


async def test_a_holiday_sends_nothing_even_when_called_directly(services: Services, db: Database) -> None:
    await scenario(services)
    assert await run_daily_digest(services, ASCENSION_DAY) is None
    assert await run_daily_digest(services, oslo(2026, 5, 16, 8, 0)) is None  # Saturday
    assert await digest_messages(db) == {}


async def test_an_empty_digest_says_so_and_sends_nothing(services: Services, db: Database) -> None:
    text = await build_digest_text(services, DAY_AFTER)
    assert "Ingen opne oppgåver er forfalne" in text
    delivery = await run_daily_digest(services, DAY_AFTER)
    assert delivery is not None and delivery.messages == 0
    assert await digest_messages(db) == {}


def test_a_long_digest_is_split_into_sections_within_slacks_limit() -> None:
    lines = ["*Oversikt*"] + [
        f"• <https://slack.com/archives/C0KINN/p{n}|Negativ>: «{'x' * 200}»" for n in range(60)
    ]
    text = "\n".join(lines)

    blocks = digest_blocks(text)

    assert len(blocks) > 1 and all(len(block["text"]["text"]) <= SECTION_TEXT_MAX for block in blocks)
    assert "\n".join(block["text"]["text"] for block in blocks) == text  # split between lines, nothing lost


async def test_digest_send_posts_to_slack_at_once_with_a_bot_token(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSlackAPI(usergroups={"S0LEADS": ["U0LEADA", "U0LEADB"]})
    base_url = await fake.start()
    try:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-digest")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret-digest")
        settings = make_settings(
            db.url, slack={"mode": "http", "api_url": base_url}, roles={"team_leads": ["S0LEADS"]}
        )
        tasks = await scenario(build_services(settings, db))

        line = await run_digest(settings, send=True)

        assert line.startswith("digest sent: 4 overdue, 0 due soon, 5 messages (2 channels, 3 team leads)")
        for channel, present, absent in (("C0KINN", "assigned", "soon"), ("C0BYGG", "soon", "assigned")):
            [digest] = [
                m for m in fake.messages(channel) if (m.text or "").startswith("Oversikt over forfalne")
            ]
            shown = "\n".join(block["text"]["text"] for block in digest.blocks or [])
            assert f"oppgåve {tasks[present]}" in shown and f"oppgåve {tasks[absent]}" not in shown
        for lead in ("U0LEADA", "U0LEADB"):  # the group's members, each in a direct message
            [dm] = fake.messages(dm_channel_id(lead))
            assert all(
                f"oppgåve {tasks[name]}" in str(dm.blocks) for name in ("assigned", "unassigned", "soon")
            )
        [page_lead_dm] = fake.messages(dm_channel_id(PAGE_LEAD))
        assert f"oppgåve {tasks['assigned']}" not in str(page_lead_dm.blocks)
    finally:
        await fake.stop()
