"""The Bolt app: one workspace, one bot token, the listeners of handlers/ registered on it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackSettings
from bot.logs import scrub
from bot.runtime import Services
from handlers.actions import TaskActions
from handlers.commands import SlashCommands
from handlers.home import HomeTab

log = logging.getLogger(__name__)

WEB_TIMEOUT_S = 15
SEEN_EVENTS_MAX = 2000


def build_web_client(settings: SlackSettings, token: str, *, retry_rate_limits: bool) -> AsyncWebClient:
    """A Web API client for `settings.api_url` that retries dropped connections (and, if asked, 429s).

    Listeners answer a person right now, so their client waits out a short rate limit itself; the
    outbox's client does not, because the outbox worker paces the whole channel on Retry-After.
    """
    retry_handlers: list[Any] = [AsyncConnectionErrorRetryHandler(max_retry_count=2)]
    if retry_rate_limits:
        retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return AsyncWebClient(
        token=token, base_url=settings.api_url, timeout=WEB_TIMEOUT_S, retry_handlers=retry_handlers
    )


def _dedupe_events() -> Callable[..., Awaitable[Any]]:
    """Slack re-sends an event it thinks was not acknowledged in time: handle each event id once."""
    seen: OrderedDict[str, None] = OrderedDict()

    async def middleware(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> Any:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if isinstance(event_id, str) and event_id:
            if event_id in seen:
                return BoltResponse(status=200, body="")  # acknowledged, nothing done twice
            seen[event_id] = None
            while len(seen) > SEEN_EVENTS_MAX:
                seen.popitem(last=False)
        return await next()

    return middleware


async def _log_error(error: Exception, body: dict[str, Any]) -> None:
    kind = body.get("type") if isinstance(body, dict) else None
    log.error(
        "Slack listener failed on %s: %s", kind or "a request", scrub(f"{type(error).__name__}: {error}")
    )


def build_app(
    services: Services,
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    http_mode: bool,
) -> AsyncApp:
    """The AsyncApp with every listener; signatures and timestamps are checked by Bolt in http mode."""
    bolt_logger = logging.getLogger("handlers.bolt")
    level = bolt_logger.level
    # Bolt warns that $SLACK_BOT_TOKEN goes unused when a client is given; that is intended here.
    bolt_logger.setLevel(logging.ERROR)
    try:
        app = AsyncApp(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=http_mode,
            process_before_response=False,  # ack first, then work: a long-running process, not FaaS
            ignoring_self_events_enabled=True,
            logger=bolt_logger,
        )
    finally:
        bolt_logger.setLevel(level)
    app.use(_dedupe_events())
    app.error(_log_error)
    TaskActions(services).register(app)
    SlashCommands(services).register(app)
    HomeTab(services).register(app)
    return app
