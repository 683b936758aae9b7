"""The real Slack app on our real HTTP server, against the fake Slack Web API and a real database."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import build_services
from bot.config import Settings
from bot.domain import Comment
from bot.http_server import bound_port, build_web_app, serve
from bot.ingest import Incoming
from bot.outbox import LanePace, OutboxWorker
from bot.runtime import Services
from handlers.component import SlackComponent
from storage import repository as repo
from storage.models import AuditEvent, OutboxMessage, TaskRow
from tests.fakes.slack_api import FakeMessage, FakeSlackAPI, interactive_body, signed_request_headers

SIGNING_SECRET = "test-signing-secret-kommentarvakt"
BOT_TOKEN = "xoxb-test-kommentarvakt"
APP_TOKEN = "xapp-test-kommentarvakt"

KINN_CHANNEL = "C0KINN0001"
LIBRARY_CHANNEL = "C0BIBL0001"
ADMIN_CHANNEL = "C0ADMIN001"
CRISIS_CHANNEL = "C0CRISIS01"
MODERATOR = "U0MOD00001"
GROUP_MODERATOR = "U0GRPMOD01"
LIBRARY_MODERATOR = "U0BIBMOD01"
TEAM_LEAD = "U0LEAD0001"
ADMIN = "U0ADMIN001"
DIRECTOR = "U0DIRECT01"
OUTSIDER = "U0OUTSIDE1"
MODERATOR_GROUP = "S0MODS0001"

KINN = {
    "platform": "facebook",
    "id": "1001",
    "name": "Kinn kommune",
    "channel": KINN_CHANNEL,
    "access_token_env": "KINN_PAGE_TOKEN",
}
LIBRARY = {
    "platform": "facebook",
    "id": "1002",
    "name": "Florø bibliotek",
    "channel": LIBRARY_CHANNEL,
    "access_token_env": "LIBRARY_PAGE_TOKEN",
    "moderators": [LIBRARY_MODERATOR],
}
POST_TEXT = "Symjehallen i Florø opnar igjen 1. september klokka 10 etter rehabiliteringa. Velkomne!"

# One comment per category (and the abusive flag), as the real classifier sees them.
COMMENTS = {
    "praise": "Så flott at symjehallen endeleg opnar att! Gler meg til å ta med ungane 😊",
    "neutral": "Kva kostar det for eit årskort for vaksne?",
    "factual_error": "Opnar den ikkje 15. august? Det stod i avisa i alle fall",
    "negative": "Typisk kommunen, alt tek dobbelt så lang tid og kostar tre gonger så mykje. "
    "Elendig styring.",
    "case_inquiry": "Eg søkte om plass på symjeopplæring for sonen min i mai og har ikkje fått svar. "
    "Kan de sjekke søknaden min?",
    "abusive": "Dei som jobbar i kommunen er nokre udugelege idiotar og burde skamme seg, jævla parasittar",
}


def make_settings(database_url: str, slack_api_url: str, *, mode: str = "http", **slack: Any) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "slack": {
                "mode": mode,
                "api_url": slack_api_url,
                "admin_channel": ADMIN_CHANNEL,
                "crisis_channel": CRISIS_CHANNEL,
                **slack,
            },
            "http": {"host": "127.0.0.1", "port": 0},
            "roles": {
                "moderators": [MODERATOR, MODERATOR_GROUP],
                "team_leads": [TEAM_LEAD],
                "admins": [ADMIN],
                "crisis_approvers": [DIRECTOR],
            },
            "pages": [KINN, LIBRARY],
            "replies": {
                "signature": "Helsing Kinn kommune",
                "inquiry_form_url": "https://kinn.kommune.no/kontakt",
            },
        }
    )


@pytest.fixture(autouse=True)
def slack_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackAPI]:
    fake = FakeSlackAPI(usergroups={MODERATOR_GROUP: [GROUP_MODERATOR]})
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.internal_errors == []


async def wait_until(
    check: Callable[[], Awaitable[Any]], *, timeout_s: float = 8.0, what: str = "the condition"
) -> Any:
    """Poll `check` until it returns something truthy (listeners run on after the ack)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


_comment_numbers = itertools.count(1)


@dataclass
class SlackHarness:
    """Our bot's Slack side, running: services, component, HTTP server, outbox worker."""

    services: Services
    component: SlackComponent
    fake: FakeSlackAPI
    worker: OutboxWorker
    runner: web.AppRunner | None = None
    http: aiohttp.ClientSession | None = None
    base_url: str = ""
    pages: dict[str, Any] = field(default_factory=lambda: {"kinn": KINN, "library": LIBRARY})

    @property
    def settings(self) -> Settings:
        return self.services.settings

    async def ingest(
        self,
        text: str,
        *,
        page: str = "kinn",
        post_id: str = "1001_500",
        author: str | None = "Kari Nordmann",
        comment_id: str | None = None,
        parent_id: str | None = None,
        is_from_page: bool = False,
    ) -> int | None:
        """Ingest one comment the way the Meta connectors do; returns the new task id."""
        page_settings = self.settings.page("facebook", self.pages[page]["id"])
        comment = Comment(
            text=text,
            post_text=POST_TEXT,
            id=comment_id or f"{post_id}_{next(_comment_numbers)}",
            platform="facebook",
            author_name=author,
            author_id=f"author-{author}" if author else None,
            created_time=datetime.now(UTC),
            permalink=f"https://www.facebook.com/{post_id}?comment_id=1",
            parent_id=parent_id,
            post_id=post_id,
            page_id=self.pages[page]["id"],
        )
        summary = await self.services.ingestor.ingest(
            Incoming(
                comment,
                page=page_settings,
                post_permalink=f"https://www.facebook.com/{post_id}",
                is_from_page=is_from_page,
            )
        )
        return summary.task_ids[0] if summary.task_ids else None

    async def drain(self, timeout_s: float = 15.0) -> None:
        await self.worker.drain(timeout_s=timeout_s)

    async def task(self, task_id: int) -> TaskRow:
        async with self.services.db.session() as session:
            task = await repo.get_task(session, task_id)
            assert task is not None
            return task

    async def outbox(self, kind: str | None = None) -> list[OutboxMessage]:
        async with self.services.db.session() as session:
            statement = select(OutboxMessage).order_by(OutboxMessage.id)
            if kind:
                statement = statement.where(OutboxMessage.kind == kind)
            return list((await session.execute(statement)).scalars().all())

    async def audit(self, task_id: int, action: str | None = None) -> list[AuditEvent]:
        async with self.services.db.session() as session:
            statement = select(AuditEvent).where(AuditEvent.task_id == task_id).order_by(AuditEvent.id)
            if action:
                statement = statement.where(AuditEvent.action == action)
            return list((await session.execute(statement)).scalars().all())

    async def message_of(self, task_id: int) -> FakeMessage:
        task = await self.task(task_id)
        assert task.slack_channel and task.slack_ts, f"task {task_id} has no Slack message"
        message = self.fake.message(task.slack_channel, task.slack_ts)
        assert message is not None
        return message

    async def send(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST a body to our /slack/events, signed like Slack signs it (unless headers are given)."""
        assert self.http is not None
        headers = headers if headers is not None else signed_request_headers(SIGNING_SECRET, body)
        async with self.http.post(f"{self.base_url}/slack/events", data=body, headers=headers) as response:
            return response.status, await response.text()

    async def click(
        self, action_id: str, task_id: int, user: str, *, selected_option: str | None = None
    ) -> dict[str, Any]:
        """Click a button (or pick an option) on the task's message as `user`."""
        task = await self.task(task_id)
        assert task.slack_channel and task.slack_ts
        payload = self.fake.block_action_payload(
            action_id,
            None if selected_option else str(task_id),
            user,
            task.slack_channel,
            task.slack_ts,
            selected_option=selected_option,
        )
        status, text = await self.send(interactive_body(payload))
        assert status == 200, text
        return payload

    async def wait_audit(self, task_id: int, action: str, count: int = 1) -> list[AuditEvent]:
        async def check() -> list[AuditEvent]:
            events = await self.audit(task_id, action)
            return events if len(events) >= count else []

        return await wait_until(check, what=f"{count} audit event(s) {action} on task {task_id}")


def button_ids(message: FakeMessage) -> set[str]:
    """The action ids of every interactive element in a message."""
    found = set()
    for block in message.blocks or []:
        for element in block.get("elements") or []:
            if "action_id" in element:
                found.add(element["action_id"])
    return found


def message_text(message: FakeMessage | dict[str, Any]) -> str:
    """All the text of a message's blocks, for asserting on what a person sees."""
    blocks = message.blocks if isinstance(message, FakeMessage) else message.get("blocks")
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks or [])
    return "\n".join(parts)


async def start_harness(
    database_url: str, fake: FakeSlackAPI, *, mode: str = "http", **slack: Any
) -> SlackHarness:
    settings = make_settings(database_url, fake.base_url, mode=mode, **slack)
    services = build_services(settings)
    component = SlackComponent(services, connection_check_s=0.2)
    worker = OutboxWorker(
        services.db,
        component.outbox_handlers(),
        paces=[LanePace("slack:", 0.0)],
        poll_s=0.05,
        on_failure=component.on_outbox_failure,
    )
    services.wake_outbox = worker.wake
    harness = SlackHarness(services, component, fake, worker)
    web_app = build_web_app(
        component.routes(), {"slack": component.health}, max_body_bytes=settings.http.max_body_bytes
    )
    harness.runner = await serve(web_app, "127.0.0.1", 0)
    harness.base_url = f"http://127.0.0.1:{bound_port(harness.runner)}"
    harness.http = aiohttp.ClientSession()
    await component.start()
    return harness


async def stop_harness(harness: SlackHarness) -> None:
    await harness.component.stop()
    if harness.http is not None:
        await harness.http.close()
    if harness.runner is not None:
        await harness.runner.cleanup()
    await harness.services.db.close()


@pytest.fixture
async def slack(sqlite_url: str, fake_slack: FakeSlackAPI) -> AsyncIterator[SlackHarness]:
    """The Slack app in http mode on a SQLite database."""
    harness = await start_harness(sqlite_url, fake_slack)
    yield harness
    await stop_harness(harness)


@pytest.fixture
async def slack_both(database_url: str, fake_slack: FakeSlackAPI) -> AsyncIterator[SlackHarness]:
    """The Slack app in http mode, on SQLite and on PostgreSQL."""
    harness = await start_harness(database_url, fake_slack)
    yield harness
    await stop_harness(harness)
