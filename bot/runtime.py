"""What the running bot is made of: shared services and the components plugged into them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from bot.actions import AdminService, TaskService
from bot.config import Settings
from bot.ingest import Ingestor
from bot.outbox import Handler
from bot.roles import RoleChecker
from bot.triage import Triager
from storage.db import Database


@dataclass
class Services:
    """Built once per process and handed to every component."""

    settings: Settings
    db: Database
    triager: Triager
    ingestor: Ingestor
    roles: RoleChecker
    tasks: TaskService
    admin: AdminService
    wake_outbox: Callable[[], None] = lambda: None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    """A scheduled job: a cron expression (in the deadline time zone) and what to run."""

    name: str
    cron: str
    run: Callable[[], Awaitable[None]]


class Component(Protocol):
    """A part of the bot (Meta connectors, Slack app, follow-up) that plugs into the runtime."""

    name: str

    def routes(self) -> list[web.RouteDef]: ...

    def outbox_handlers(self) -> dict[str, Handler]: ...

    def jobs(self) -> list[Job]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def health(self) -> dict[str, Any]: ...
