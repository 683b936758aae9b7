"""Forwarding to an archive system's API, against a local aiohttp server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.app import build_services
from bot.domain import Category
from bot.forwarding.archive import ArchiveForwarder
from bot.outbox import OutboxWorker
from bot.runtime import Services
from storage.db import Database
from tests.followup.conftest import (
    INQUIRY,
    MODERATOR,
    OSLO,
    Clock,
    audit_events,
    drain,
    ingest,
    make_settings,
    mark_slack_posted,
    oslo,
    outbox,
    task,
)

TOKEN = "arkiv-token-123456"
CREATED = oslo(2026, 5, 11, 10, 0)


@dataclass
class Archive:
    """Answers with the scripted (status, json body, delay_s) in turn, then 201; records every request."""

    script: list[tuple[int, dict[str, Any], float]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        status, body, delay_s = self.script.pop(0) if self.script else (201, {"id": "ARK-2026-000123"}, 0.0)
        if delay_s:
            await asyncio.sleep(delay_s)
        return web.json_response(body, status=status)


@pytest.fixture
async def archive() -> AsyncIterator[Archive]:
    server = Archive()
    app = web.Application()
    app.router.add_post("/api/records", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/api/records"
    yield server
    await runner.cleanup()


def archive_services(db: Database, url: str, **forwarding: Any) -> Services:
    return build_services(make_settings(db.url, forwarding={"archive_url": url, **forwarding}), db)


def worker_for(services: Services, *, timeout_s: float = 10.0) -> OutboxWorker:
    handler = ArchiveForwarder(
        services.db,
        services.settings,
        retry_base_s=0.01,
        timeout_s=timeout_s,
        clock=Clock(oslo(2026, 11, 24, 9, 5)),
    )
    return OutboxWorker(services.db, {"forward.archive": handler}, poll_s=0.2)


async def forwarded_task(services: Services) -> int:
    task_id = await ingest(services, "c1", INQUIRY, created=CREATED, category=Category.CASE_INQUIRY)
    assert task_id is not None
    await mark_slack_posted(services.db, task_id)
    outcome = await services.tasks.forward(task_id, MODERATOR, archive=True)
    assert outcome.changed
    return task_id


async def test_the_case_is_posted_once_with_bearer_token_and_idempotency_key(
    db: Database, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVE_TOKEN", TOKEN)
    services = archive_services(db, archive.url)
    task_id = await forwarded_task(services)
    worker = worker_for(services)

    await drain(worker)
    await services.tasks.forward(task_id, MODERATOR, archive=True)  # a repeated click queues nothing new
    await drain(worker)

    [(headers, body)] = archive.requests
    row = await task(db, task_id)
    reference = f"KV-{row.created_at.astimezone(OSLO).year}-{task_id}"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Idempotency-Key"] == reference
    assert body["reference"] == reference and body["task_id"] == task_id
    assert body["comment"]["text"] == INQUIRY
    assert body["comment"]["author_name"] == "Kari Nordmann" and body["comment"]["author_id"] == "fb-kari"
    assert body["comment"]["created_time"] == CREATED.isoformat()
    assert body["post"]["link"] == "https://www.facebook.com/100_1"
    assert body["category"] == "case_inquiry" and body["forwarded_by"] == MODERATOR
    assert body["source"] == {"platform": "facebook", "page_id": "100", "page_name": "Kinn kommune"}
    assert "<html" in body["record_html"] and "garasje" in body["record_html"]
    assert [entry["action"] for entry in body["audit"]][:1] == ["task_created"]

    [event] = [e for e in await audit_events(db, "forwarded") if e.detail["destination"] == "archive"]
    assert event.detail["archive_id"] == "ARK-2026-000123" and event.detail["reference"] == reference
    notes = [m.payload["text"] for m in await outbox(db, ["slack.thread_note"])]
    assert f"Arkivert i arkivsystemet kl. 09:05, referanse {reference}." in notes
    assert TOKEN not in " ".join(str(m.payload) for m in await outbox(db))


async def test_server_errors_and_timeouts_are_retried_with_the_same_key(
    db: Database, archive: Archive
) -> None:
    archive.script = [(503, {"error": "vedlikehald"}, 0.0), (201, {}, 1.0), (201, {"id": "A-9"}, 0.0)]
    services = archive_services(db, archive.url)
    task_id = await forwarded_task(services)

    await drain(worker_for(services, timeout_s=0.3))

    keys = {headers["Idempotency-Key"] for headers, _body in archive.requests}
    assert len(archive.requests) == 3 and len(keys) == 1  # 503, timeout, success
    [event] = [e for e in await audit_events(db, "forwarded") if e.detail["destination"] == "archive"]
    assert event.detail["archive_id"] == "A-9"
    [message] = await outbox(db, ["forward.archive"])
    assert message.status == "done" and message.attempts == 2
    assert (await task(db, task_id)).forward_reference == keys.pop()


async def test_a_client_error_fails_at_once_and_is_reported(db: Database, archive: Archive) -> None:
    archive.script = [(422, {"error": "mangler saksansvarleg"}, 0.0)]
    services = archive_services(db, archive.url)
    task_id = await forwarded_task(services)

    await drain(worker_for(services))

    assert len(archive.requests) == 1
    [message] = await outbox(db, ["forward.archive"])
    assert message.status == "failed" and "422" in (message.last_error or "")
    [event] = await audit_events(db, "forward_failed")
    assert event.task_id == task_id and event.detail["destination"] == "archive"
    notes = [
        m.payload["text"] for m in await outbox(db, ["slack.thread_note"]) if m.payload["task_id"] == task_id
    ]
    assert any("arkivsystemet" in note and "422" in note and "Kva du kan gjere" in note for note in notes)


async def test_server_errors_until_the_last_attempt_are_reported(db: Database, archive: Archive) -> None:
    archive.script = [(500, {}, 0.0)] * 5
    services = archive_services(db, archive.url, max_attempts=3)
    await forwarded_task(services)

    await drain(worker_for(services))

    assert len(archive.requests) == 3
    [message] = await outbox(db, ["forward.archive"])
    assert message.status == "failed"
    assert len(await audit_events(db, "forward_failed")) == 1


async def test_no_archive_url_is_a_clear_permanent_failure(db: Database) -> None:
    services = build_services(make_settings(db.url), db)
    await forwarded_task(services)

    await drain(worker_for(services))

    [message] = await outbox(db, ["forward.archive"])
    assert message.status == "failed" and "archive_url" in (message.last_error or "")
