"""The App Home tab: my tasks, overdue tasks, counts per page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from storage.models import TaskRow
from tests.fakes.slack_api import json_body
from tests.slack.conftest import COMMENTS, MODERATOR, SlackHarness, message_text


async def open_home(slack: SlackHarness, user: str, event_id: str | None = None) -> None:
    body = slack.fake.app_home_opened_body(user, event_id=event_id)
    status, _ = await slack.send(json_body(body))
    assert status == 200


async def test_home_shows_my_tasks_overdue_and_pages(slack: SlackHarness) -> None:
    mine = await slack.ingest(COMMENTS["neutral"])
    overdue = await slack.ingest(COMMENTS["negative"])
    assert mine and overdue
    await slack.drain()
    assert (await slack.services.tasks.assign(mine, MODERATOR)).changed
    async with slack.services.db.session() as session:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == overdue)
            .values(deadline_at=datetime.now(UTC) - timedelta(hours=2))
        )
    await open_home(slack, MODERATOR)
    [call] = await slack.fake.wait_for("views.publish")
    assert call.ok, call.response
    home = slack.fake.home_view(MODERATOR)
    assert home is not None and home.type == "home"
    text = message_text({"blocks": home.blocks})
    assert "*Mine oppgåver* (1)" in text
    assert "årskort" in text  # my task's comment
    assert "*Forfalne oppgåver* (1)" in text
    assert "gjekk ut for" in text
    assert "*Kinn kommune*\n2 opne · 1 forfalne" in text
    assert "*Florø bibliotek*\n0 opne · 0 forfalne" in text


async def test_a_retried_event_publishes_once(slack: SlackHarness) -> None:
    await open_home(slack, MODERATOR, event_id="Ev0RETRY001")
    await slack.fake.wait_for("views.publish")
    await open_home(slack, MODERATOR, event_id="Ev0RETRY001")
    await open_home(slack, MODERATOR, event_id="Ev0OTHER002")
    await slack.fake.wait_for("views.publish", count=2)
    await asyncio.sleep(0.3)
    assert len(slack.fake.calls("views.publish")) == 2
