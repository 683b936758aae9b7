"""/kommentarvakt status | digest | crisis on|off | pause|resume PAGE | help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.ingest import CRISIS_STATE_KEY
from storage import repository as repo
from storage.models import Page, TaskRow
from tests.slack.conftest import (
    ADMIN,
    COMMENTS,
    CRISIS_CHANNEL,
    KINN_CHANNEL,
    MODERATOR,
    OUTSIDER,
    TEAM_LEAD,
    SlackHarness,
)


async def command(slack: SlackHarness, text: str, user: str = MODERATOR) -> str:
    """Run the slash command and return what the asker was told (through the response URL)."""
    before = len(slack.fake.calls("response_url"))
    status, _ = await slack.send(slack.fake.slash_command_body("/kommentarvakt", text, user, KINN_CHANNEL))
    assert status == 200
    calls = await slack.fake.wait_for("response_url", count=before + 1)
    answer = calls[before].body
    assert answer.get("response_type") == "ephemeral"
    return str(answer["text"])


async def test_help_lists_the_commands(slack: SlackHarness) -> None:
    text = await command(slack, "help", user=OUTSIDER)
    for word in ("status", "digest", "crisis on", "pause", "resume"):
        assert word in text
    assert "Kjenner ikkje att" in await command(slack, "tull")


async def test_status_shows_open_and_overdue_per_page(slack: SlackHarness) -> None:
    first = await slack.ingest(COMMENTS["negative"])
    await slack.ingest(COMMENTS["neutral"])
    async with slack.services.db.session() as session:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == first)
            .values(deadline_at=datetime.now(UTC) - timedelta(hours=1))
        )
    text = await command(slack, "status")
    assert "*Kinn kommune*: 2 opne, 1 forfalne" in text
    assert "*Florø bibliotek*: 0 opne, 0 forfalne" in text
    assert "Krisemodus er av" in text
    assert "ikkje løyve" in await command(slack, "status", user=OUTSIDER)


async def test_crisis_on_and_off_by_an_admin_only(slack: SlackHarness) -> None:
    assert "ikkje løyve" in await command(slack, "crisis on", user=MODERATOR)
    assert "Krisemodus er no på" in await command(slack, "crisis on", user=ADMIN)
    async with slack.services.db.session() as session:
        assert (await repo.get_state(session, CRISIS_STATE_KEY))["on"] is True
    assert "Krisemodus er på" in await command(slack, "status")
    await slack.drain()
    [announcement] = slack.fake.messages(CRISIS_CHANNEL)
    assert f"<@{ADMIN}>" in (announcement.text or "")
    assert "Krisemodus er no av" in await command(slack, "crisis off", user=ADMIN)
    assert "crisis on" in await command(slack, "crisis kanskje", user=ADMIN)


async def test_pause_and_resume_a_page(slack: SlackHarness) -> None:
    await slack.ingest(COMMENTS["neutral"])  # the page row exists once something came from it
    assert "ikkje løyve" in await command(slack, "pause Kinn kommune", user=MODERATOR)
    assert "er no pausa" in await command(slack, "pause Kinn kommune", user=ADMIN)
    async with slack.services.db.session() as session:
        page = (await session.execute(Page.__table__.select().where(Page.external_id == "1001"))).one()
        assert page.paused is True
    assert "pausa" in await command(slack, "status")
    assert "i gang att" in await command(slack, "resume 1001", user=ADMIN)
    assert "Fann inga side" in await command(slack, "pause Ingenstad", user=ADMIN)


async def test_digest_lists_overdue_tasks_for_team_leads(slack: SlackHarness) -> None:
    task_id = await slack.ingest(COMMENTS["negative"])
    async with slack.services.db.session() as session:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == task_id)
            .values(deadline_at=datetime.now(UTC) - timedelta(hours=3))
        )
    text = await command(slack, "digest", user=TEAM_LEAD)
    assert "Kinn kommune" in text
    assert str(task_id) in text or "Elendig styring" in text
    assert "ikkje løyve" in await command(slack, "digest", user=MODERATOR)
