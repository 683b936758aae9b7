"""Wiring: build the services once, plug in the components, run until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from bot.actions import AdminService, TaskService
from bot.config import Settings
from bot.deadlines import DeadlinePolicy
from bot.http_server import build_web_app, serve
from bot.ingest import Ingestor
from bot.metrics import refresh_gauges
from bot.outbox import LanePace, OutboxWorker
from bot.roles import RoleChecker
from bot.runtime import Component, Services
from storage.db import Database
from storage.migrations import upgrade_async

log = logging.getLogger(__name__)


def build_services(settings: Settings, db: Database | None = None) -> Services:
    """Everything the components share, built from the settings."""
    from bot.commands.triage import build_triager

    db = db or Database(settings.database.url, pool_size=settings.database.pool_size)
    triager = build_triager(settings)
    roles = RoleChecker(settings)
    return Services(
        settings=settings,
        db=db,
        triager=triager,
        ingestor=Ingestor(db, triager, settings),
        roles=roles,
        tasks=TaskService(db, roles, triager, DeadlinePolicy(settings.deadlines)),
        admin=AdminService(db, roles),
    )


def build_components(services: Services, *, slack: bool = True) -> list[Component]:
    from bot.followup.component import FollowUpComponent
    from bot.meta.component import MetaComponent

    components: list[Component] = [MetaComponent(services), FollowUpComponent(services)]
    if slack:
        from handlers.component import SlackComponent

        components.append(SlackComponent(services))
    return components


def build_outbox_worker(services: Services, components: list[Component]) -> OutboxWorker:
    handlers: dict[str, Any] = {}
    for component in components:
        handlers.update(component.outbox_handlers())
    hooks = [hook for component in components if (hook := getattr(component, "on_outbox_failure", None))]

    async def on_failure(message: Any, reason: str) -> None:
        for hook in hooks:
            try:
                await hook(message, reason)
            except Exception:
                log.exception("failure hook for outbox #%s failed", message.id)

    interval = 1.0 / services.settings.slack.messages_per_second
    worker = OutboxWorker(
        services.db,
        handlers,
        paces=[LanePace("slack:", interval)],
        max_attempts=max(8, services.settings.forwarding.max_attempts),
        on_failure=on_failure,
    )
    services.wake_outbox = worker.wake
    return worker


async def prepare_database(settings: Settings, db: Database) -> None:
    """Check the database and apply migrations (serialised across replicas on PostgreSQL)."""
    await db.check()
    if db.is_postgres:
        from sqlalchemy import text

        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(4242001)"))
            try:
                await upgrade_async(settings.database.url)
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(4242001)"))
                await connection.commit()
    else:
        await upgrade_async(settings.database.url)


async def run_bot(settings: Settings, *, stop_event: asyncio.Event | None = None) -> None:
    """Run the Slack app, the HTTP server, the outbox and the scheduler until SIGTERM/SIGINT."""
    from bot.scheduler import Scheduler

    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop_event.set)

    services = build_services(settings)
    await prepare_database(settings, services.db)
    components = build_components(services)
    worker = build_outbox_worker(services, components)
    scheduler = Scheduler(services, [job for component in components for job in component.jobs()])

    async def database_health() -> dict[str, Any]:
        await services.db.ping()
        return {"ok": True}

    health = {"database": database_health} | {c.name: c.health for c in components}
    web_app = build_web_app(
        [route for component in components for route in component.routes()],
        health,
        lambda: refresh_gauges(services.db),
        max_body_bytes=settings.http.max_body_bytes,
    )
    runner = await serve(web_app, settings.http.host, settings.http.port)
    log.info("listening on %s:%s", settings.http.host, settings.http.port)
    for component in components:
        await component.start()
    scheduler.start()
    worker_task = asyncio.create_task(worker.run(), name="outbox")
    try:
        await stop_event.wait()
    finally:
        log.info("shutting down: finishing work in progress")
        scheduler.shutdown()
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker_task, timeout=30)
        for component in reversed(components):
            with contextlib.suppress(Exception):
                await component.stop()
        await runner.cleanup()
        await services.db.close()
