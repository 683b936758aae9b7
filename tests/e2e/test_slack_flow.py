"""End to end: a comment on Facebook (the fake Graph API) → sync → Slack message (the fake Slack) →
a moderator's click on our real /slack/events → the reply, hide or forward goes out once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from bot.app import build_services
from bot.config import Settings
from bot.http_server import bound_port, build_web_app, serve
from bot.meta.component import MetaComponent
from bot.outbox import LanePace, OutboxWorker
from bot.runtime import Services
from handlers.component import SlackComponent
from storage import repository as repo
from storage.models import OutboxMessage, TaskRow
from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.slack_api import FakeSlackAPI, interactive_body, signed_request_headers
from tests.slack.conftest import COMMENTS, MODERATOR, SIGNING_SECRET, button_ids, message_text, wait_until

PAGE_ID = "2001"
PAGE_TOKEN = "EAAe2epagetokenfortests0123456789abcdef"
PAGE_TOKEN_ENV = "E2E_KINN_PAGE_TOKEN"
CHANNEL = "C0E2EKINN1"
POST_TEXT = "Symjehallen i Florø opnar igjen 1. september klokka 10 etter rehabiliteringa. Velkomne!"


@dataclass
class Bot:
    services: Services
    meta: MetaComponent
    slack: SlackComponent
    worker: OutboxWorker
    graph: FakeGraphAPI
    fake_slack: FakeSlackAPI
    http: aiohttp.ClientSession
    base_url: str
    post_id: str

    async def comment(self, text: str) -> tuple[str, TaskRow]:
        """A visitor comments on Facebook; one sync later there is a task."""
        comment_id = self.graph.add_comment(self.post_id, text, from_id="5550042", from_name="Kari Nordmann")
        result = await self.meta.syncer().sync_page(self.services.settings.pages[0])
        assert result.tasks == 1, result
        async with self.services.db.session() as session:
            row = await repo.comment_by_external_id(session, "facebook", comment_id)
            assert row is not None
            task = await repo.task_for_comment(session, row.id)
            assert task is not None
            return comment_id, task

    async def task(self, task_id: int) -> TaskRow:
        async with self.services.db.session() as session:
            task = await repo.get_task(session, task_id)
            assert task is not None
            return task

    async def drain(self) -> None:
        await self.worker.drain(timeout_s=15)

    async def send(self, payload: dict) -> None:
        body = interactive_body(payload)
        headers = signed_request_headers(SIGNING_SECRET, body)
        async with self.http.post(f"{self.base_url}/slack/events", data=body, headers=headers) as response:
            assert response.status == 200, await response.text()

    async def click(self, action_id: str, task_id: int, user: str = MODERATOR) -> None:
        task = await self.task(task_id)
        assert task.slack_channel and task.slack_ts
        await self.send(
            self.fake_slack.block_action_payload(
                action_id, str(task_id), user, task.slack_channel, task.slack_ts
            )
        )

    async def settle(self, task_id: int, done: str) -> str:
        """Run the outbox until the task's Slack message shows `done`; returns the message text."""

        async def check() -> str:
            await self.drain()
            task = await self.task(task_id)
            message = self.fake_slack.message(task.slack_channel or "", task.slack_ts or "")
            text = message_text(message) if message else ""
            return text if done in text else ""

        return await wait_until(check, timeout_s=20, what=f"task {task_id} to show {done!r}")

    def page_replies(self, comment_id: str) -> list[str]:
        return [
            c.message
            for c in self.graph.comments.values()
            if c.parent_id == comment_id and c.from_id == PAGE_ID
        ]

    async def outbox(self, kind: str) -> list[OutboxMessage]:
        async with self.services.db.session() as session:
            from sqlalchemy import select

            rows = await session.execute(select(OutboxMessage).where(OutboxMessage.kind == kind))
            return list(rows.scalars().all())


@pytest.fixture
async def bot(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bot]:
    monkeypatch.setenv(PAGE_TOKEN_ENV, PAGE_TOKEN)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-e2e-kommentarvakt")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("META_APP_SECRET", "e2e-meta-app-secret")
    monkeypatch.setenv("META_VERIFY_TOKEN", "e2e-verify-token")
    graph = FakeGraphAPI()
    graph.add_page(PAGE_ID, "Kinn kommune", token=PAGE_TOKEN)
    post_id = graph.add_post(PAGE_ID, POST_TEXT, created_time=int(time.time()) - 3600)
    await graph.start()
    fake_slack = FakeSlackAPI()
    await fake_slack.start()
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "slack": {"mode": "http", "api_url": fake_slack.base_url, "admin_channel": "C0E2EADMIN"},
            "meta": {"graph_api_url": graph.base_url, "max_retries": 1, "timeout_s": 5},
            "roles": {"moderators": [MODERATOR], "admins": ["U0E2EADMIN"]},
            "pages": [
                {
                    "platform": "facebook",
                    "id": PAGE_ID,
                    "name": "Kinn kommune",
                    "channel": CHANNEL,
                    "access_token_env": PAGE_TOKEN_ENV,
                }
            ],
            "replies": {"signature": "Helsing Kinn kommune"},
        }
    )
    services = build_services(settings)
    meta, slack = MetaComponent(services), SlackComponent(services)
    worker = OutboxWorker(
        services.db,
        {**meta.outbox_handlers(), **slack.outbox_handlers()},
        paces=[LanePace("slack:", 0.0)],
        poll_s=0.05,
    )
    services.wake_outbox = worker.wake
    runner = await serve(build_web_app([*meta.routes(), *slack.routes()], {}), "127.0.0.1", 0)
    http = aiohttp.ClientSession()
    await meta.start()
    await slack.start()
    try:
        yield Bot(
            services,
            meta,
            slack,
            worker,
            graph,
            fake_slack,
            http,
            f"http://127.0.0.1:{bound_port(runner)}",
            post_id,
        )
    finally:
        await slack.stop()
        await meta.stop()
        await http.close()
        await runner.cleanup()
        await services.db.close()
        await fake_slack.stop()
        await graph.stop()
        assert fake_slack.internal_errors == []


async def posted(bot: Bot, category: str) -> tuple[str, TaskRow]:
    comment_id, task = await bot.comment(COMMENTS[category])
    if category == "abusive":
        assert "abusive" in task.flags.split(",")
    else:
        assert task.category == category, f"{COMMENTS[category]!r} was classified {task.category}"
    await bot.drain()
    task = await bot.task(task.id)
    assert task.slack_channel == CHANNEL and task.slack_ts
    return comment_id, task


@pytest.mark.parametrize("category", ["praise", "factual_error"])
async def test_publish_reaches_facebook_once_even_on_a_double_click(bot: Bot, category: str) -> None:
    comment_id, task = await posted(bot, category)
    assert task.suggested_reply
    await asyncio.gather(bot.click("task_publish", task.id), bot.click("task_publish", task.id))
    text = await bot.settle(task.id, "Svara")
    assert bot.page_replies(comment_id) == [task.suggested_reply]
    assert f"<@{MODERATOR}>" in text
    await bot.click("task_publish", task.id)  # a late third click changes nothing
    await asyncio.sleep(0.3)
    await bot.drain()
    assert len(bot.page_replies(comment_id)) == 1
    assert (await bot.task(task.id)).status == "answered"
    message = bot.fake_slack.message(CHANNEL, task.slack_ts or "")
    assert message is not None and button_ids(message) == set()


async def test_neutral_edited_reply_is_what_gets_published(bot: Bot) -> None:
    comment_id, task = await posted(bot, "neutral")
    await bot.click("task_edit", task.id)
    [opened] = await bot.fake_slack.wait_for("views.open")
    view_id = opened.response["view"]["id"]
    edited = "Hei Kari! Eit årskort for vaksne kostar 3 200 kroner. Helsing Kinn kommune"
    await bot.send(
        bot.fake_slack.view_submission_payload(
            None, {"reply": {"reply_text": edited}}, MODERATOR, view_id=view_id
        )
    )
    await bot.settle(task.id, "Svara")
    assert bot.page_replies(comment_id) == [edited]


async def test_negative_marked_handled_gets_no_public_reply(bot: Bot) -> None:
    comment_id, task = await posted(bot, "negative")
    await bot.click("task_handled", task.id)
    await bot.settle(task.id, "Handsama")
    assert bot.page_replies(comment_id) == []
    assert (await bot.task(task.id)).status == "handled"


async def test_case_inquiry_is_forwarded_once_and_the_referral_published(bot: Bot) -> None:
    comment_id, task = await posted(bot, "case_inquiry")
    message = bot.fake_slack.message(CHANNEL, task.slack_ts or "")
    assert message is not None and "task_forward" in button_ids(message)
    await bot.click("task_forward", task.id)
    await bot.click("task_forward", task.id)
    await bot.settle(task.id, "til postmottaket")
    assert len(await bot.outbox("forward.email")) == 1
    await bot.click("task_publish", task.id)
    await bot.settle(task.id, "Svara")
    assert bot.page_replies(comment_id) == [task.suggested_reply]


async def test_abusive_is_hidden_on_facebook_not_answered(bot: Bot) -> None:
    comment_id, task = await posted(bot, "abusive")
    message = bot.fake_slack.message(CHANNEL, task.slack_ts or "")
    assert message is not None
    assert "ikkje svar offentleg – vurder å skjule" in message_text(message)
    assert "task_publish" not in button_ids(message)
    await bot.click("task_hide", task.id)
    await bot.settle(task.id, "Skjult")
    assert bot.graph.comments[comment_id].is_hidden is True
    assert bot.page_replies(comment_id) == []
