"""Fixtures for the Meta connectors: the fake Graph API over real HTTP, real databases, real services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.config import Settings
from bot.http_server import bound_port, build_web_app, serve
from bot.meta.component import MetaComponent
from bot.outbox import OutboxWorker
from bot.runtime import Services
from storage.db import Database
from storage.models import OutboxMessage
from tests.fakes.graph_api import FakeGraphAPI

FB_PAGE_ID = "111"
FB_TOKEN = "EAAfacebookpagetokenfortests0123456789"
FB_TOKEN_ENV = "TEST_KINN_FB_TOKEN"
IG_USER_ID = "17841400000000111"
IG_TOKEN = "IGQinstagramtokenfortests0123456789"
IG_TOKEN_ENV = "TEST_KINN_IG_TOKEN"
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
ADMIN_CHANNEL = "CADMIN"
MODERATOR = "UMOD"


class RecordedSleeps:
    """Stands in for asyncio.sleep in the Graph client: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def page_config(platform: str = "facebook") -> dict[str, Any]:
    if platform == "instagram":
        return {
            "platform": "instagram",
            "id": IG_USER_ID,
            "name": "Kinn kommune på Instagram",
            "channel": "CIG",
            "access_token_env": IG_TOKEN_ENV,
        }
    return {
        "platform": "facebook",
        "id": FB_PAGE_ID,
        "name": "Kinn kommune",
        "channel": "CFB",
        "access_token_env": FB_TOKEN_ENV,
    }


def make_settings(database_url: str, graph_url: str, **meta: Any) -> Settings:
    return Settings(
        database={"url": database_url},
        meta={"graph_api_url": graph_url, "max_retries": 2, "timeout_s": 5, **meta},
        pages=[page_config("facebook"), page_config("instagram")],
        roles={"moderators": [MODERATOR], "admins": ["UADMIN"]},
        slack={"admin_channel": ADMIN_CHANNEL},
    )


@pytest.fixture
def meta_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FB_TOKEN_ENV, FB_TOKEN)
    monkeypatch.setenv(IG_TOKEN_ENV, IG_TOKEN)
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraphAPI]:
    api = FakeGraphAPI()
    api.add_page(FB_PAGE_ID, "Kinn kommune", token=FB_TOKEN)
    api.add_ig_user(IG_USER_ID, "kinnkommune", token=IG_TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def settings(db: Database, fake: FakeGraphAPI, meta_env: None) -> Settings:
    assert fake.base_url is not None
    return make_settings(db.url, fake.base_url)


@pytest.fixture
def services(settings: Settings, db: Database) -> Services:
    return build_services(settings, db)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def meta(services: Services, sleeps: RecordedSleeps) -> AsyncIterator[MetaComponent]:
    component = MetaComponent(services, client_options={"sleep": sleeps})
    yield component
    await component.stop()


@pytest.fixture
def worker(services: Services, meta: MetaComponent) -> OutboxWorker:
    """An outbox worker with only the Meta handlers (Slack messages stay queued for inspection)."""
    return OutboxWorker(services.db, meta.outbox_handlers(), max_attempts=5)


@pytest.fixture
async def webhook_url(meta: MetaComponent) -> AsyncIterator[str]:
    """The real aiohttp server with the component's routes, on a free loopback port."""
    runner = await serve(build_web_app(meta.routes(), {"meta": meta.health}), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{bound_port(runner)}/webhooks/meta"
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def count(db: Database, model: type, *conditions: Any) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(model)
        for condition in conditions:
            query = query.where(condition)
        return (await session.execute(query)).scalar_one()


async def all_rows(db: Database, model: type, *conditions: Any, order_by: Any = None) -> list[Any]:
    async with db.session() as session:
        query = select(model)
        for condition in conditions:
            query = query.where(condition)
        if order_by is not None:
            query = query.order_by(order_by)
        return list((await session.execute(query)).unique().scalars())


async def outbox_kinds(db: Database) -> list[str]:
    return [row.kind for row in await all_rows(db, OutboxMessage, order_by=OutboxMessage.id)]
