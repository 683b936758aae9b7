"""The Slack part of the bot as a runtime component: Socket Mode (default) or POST /slack/events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.config import secret
from bot.logs import register_secret
from bot.outbox import Handler
from bot.runtime import Job, Services
from handlers.app import build_app, build_web_client
from handlers.groups import UserGroupResolver
from handlers.outbox_sender import SlackSender, error_code
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

CONNECTION_CHECK_S = 30.0
FIRST_CONNECT_WAIT_S = 10.0
AUTH_RECHECK_S = 300.0
AUTH_RETRY_S = 30.0
GROUP_CACHE_TTL_S = 300.0


def body_problem(text: str, content_type: str) -> str | None:
    """Why a body is not something Slack sends (None if it could be), read the way Bolt reads it."""
    if not text:
        return "the body is empty"
    if content_type == "application/json" or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return "the body is not JSON"
        if not isinstance(data, dict):
            return "the body is not a JSON object"
        if not isinstance(data.get("event_id", ""), str):
            return "the event_id is not a string"
        return None
    if "payload" not in text:
        return None  # a slash command or an SSL check: a plain form
    payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return "the payload is not JSON"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "the payload is not an object with a type"
    if data["type"] == "block_actions":
        actions = data.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without actions"
        if not all(
            isinstance(action, dict) and isinstance(action.get("action_id"), str) for action in actions
        ):
            return "block_actions with an action that has no action_id"
    if data["type"] in ("view_submission", "view_closed") and not isinstance(data.get("view"), dict):
        return f"{data['type']} without a view"
    return None


class SlackComponent:
    """Bolt app, Web API clients, user-group roles, Slack outbox handlers and the Socket Mode link."""

    name = "slack"

    def __init__(
        self,
        services: Services,
        *,
        connection_check_s: float = CONNECTION_CHECK_S,
        group_cache_ttl_s: float = GROUP_CACHE_TTL_S,
    ) -> None:
        self.services = services
        settings = services.settings.slack
        self.mode = settings.mode
        self.connection_check_s = connection_check_s
        token = secret(settings.bot_token_env, "slack.bot_token_env")
        register_secret(token)
        self.app_token: str | None = None
        signing_secret: str | None = None
        if self.mode == "socket":
            self.app_token = secret(settings.app_token_env, "slack.app_token_env")
            register_secret(self.app_token)
        else:
            signing_secret = secret(settings.signing_secret_env, "slack.signing_secret_env")
            register_secret(signing_secret)
        self.client = build_web_client(settings, token, retry_rate_limits=True)
        self.groups = UserGroupResolver(self.client, ttl_s=group_cache_ttl_s)
        services.roles.resolve_group = self.groups
        self.sender = SlackSender(services, build_web_client(settings, token, retry_rate_limits=False))
        self.app = build_app(
            services, self.client, signing_secret=signing_secret, http_mode=self.mode == "http"
        )
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.max_body_bytes = services.settings.http.max_body_bytes
        self.socket_handler: AsyncSocketModeHandler | None = None
        self.reconnects = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._first_connect = asyncio.Event()
        self._auth: dict[str, Any] = {"ok": False, "error": "not checked yet"}
        self._auth_checked_at = 0.0

    # -- Component protocol ----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/slack/events", self.events)] if self.mode == "http" else []

    def outbox_handlers(self) -> dict[str, Handler]:
        return self.sender.handlers()

    def jobs(self) -> list[Job]:
        return []

    async def on_outbox_failure(self, message: OutboxMessage, reason: str) -> None:
        """For OutboxWorker(on_failure=...): a Slack message that failed for good is told to the admins."""
        await self.sender.on_failure(message, reason)

    async def start(self) -> None:
        await self._check_auth()
        if self.mode != "socket":
            return
        assert self.app_token is not None
        self.socket_handler = AsyncSocketModeHandler(self.app, self.app_token, web_client=self.client)
        self._supervisor = asyncio.create_task(self._supervise(), name="slack-socket-mode")
        # Slack may be down at start: the bot runs on (the outbox keeps everything) and connects later.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_connect.wait(), timeout=FIRST_CONNECT_WAIT_S)

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
            self._supervisor = None
        if self.socket_handler is not None:
            with contextlib.suppress(Exception):
                await self.socket_handler.close_async()
            self.socket_handler = None

    async def health(self) -> dict[str, Any]:
        """Auth ok (rechecked now and then) and, in socket mode, the WebSocket connected."""
        age_s = time.monotonic() - self._auth_checked_at
        if age_s > (AUTH_RETRY_S if not self._auth.get("ok") else AUTH_RECHECK_S):
            await self._check_auth()
        report: dict[str, Any] = {"mode": self.mode, "auth": self._auth, "sent": dict(self.sender.stats)}
        ok = bool(self._auth.get("ok"))
        if self.mode == "socket":
            connected = await self.is_connected()
            report |= {"connected": connected, "reconnects": self.reconnects}
            ok = ok and connected
        return {"ok": ok, **report}

    # -- HTTP mode -------------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.Response:
        """POST /slack/events: size, signature, timestamp and shape are checked before Bolt sees it.

        Bolt checks the signature too, but only after parsing the body, and a body Slack never sends
        makes it raise; so a request is refused here first: 413, 401 or 400, never a 500.
        """
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(
                max_size=self.max_body_bytes, actual_size=request.content_length
            )
        raw = await request.read()  # the server's client_max_size stops a chunked body that is too big
        if not self._signed(raw, request):
            return web.json_response({"error": "invalid or stale Slack signature"}, status=401)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        problem = body_problem(text, request.content_type)
        if problem is not None:
            log.warning("refused a signed Slack request: %s", problem)
            return web.json_response({"error": problem}, status=400)
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)
        try:
            bolt_response = await self.app.async_dispatch(bolt_request)
        except Exception as error:  # a shape Bolt cannot handle: refuse it, keep serving
            log.warning("could not dispatch a Slack request: %s", type(error).__name__)
            return web.json_response({"error": "malformed Slack request"}, status=400)
        return await to_aiohttp_response(bolt_response)

    def _signed(self, raw: bytes, request: web.Request) -> bool:
        """Signed with our signing secret (v0, HMAC-SHA256) within five minutes of now."""
        if self.verifier is None:
            return False
        try:
            return self.verifier.is_valid_request(raw, {k: v for k, v in request.headers.items()})
        except (ValueError, TypeError):  # a timestamp that is not a number
            return False

    # -- Socket Mode -----------------------------------------------------------------------------

    async def is_connected(self) -> bool:
        handler = self.socket_handler
        if handler is None:
            return False
        try:
            return bool(await handler.client.is_connected())
        except Exception:
            return False

    async def _supervise(self) -> None:
        """Connect, then check the link now and then and reconnect when the client has not."""
        handler = self.socket_handler
        assert handler is not None
        try:
            await handler.connect_async()
        except Exception as error:  # connect retries by itself; anything escaping is logged and retried below
            log.warning("Socket Mode connect failed: %s", type(error).__name__)
        self._first_connect.set()
        down_checks = 0
        while True:
            await asyncio.sleep(self.connection_check_s)
            if await self.is_connected():
                down_checks = 0
                continue
            down_checks += 1
            if down_checks < 2:
                continue  # give the client's own reconnect one interval first
            log.warning("Socket Mode link is down; reconnecting")
            try:
                await handler.client.connect_to_new_endpoint(force=True)
                self.reconnects += 1
                down_checks = 0
            except Exception as error:  # Slack down or the app token revoked: try again next round
                log.warning("Socket Mode reconnect failed: %s", type(error).__name__)

    async def _check_auth(self) -> None:
        self._auth_checked_at = time.monotonic()
        try:
            response = await self.client.auth_test()
        except SlackApiError as error:
            code = error_code(error)
            variable = self.services.settings.slack.bot_token_env
            self._auth = {"ok": False, "error": f"{code}: check the bot token in ${variable}"}
            log.error("Slack auth.test failed: %s", code)
            return
        except Exception as error:  # network: keep running, report it
            self._auth = {"ok": False, "error": f"cannot reach Slack ({type(error).__name__})"}
            log.warning("Slack auth.test failed: %s", type(error).__name__)
            return
        self._auth = {"ok": True, "team": response.get("team_id"), "bot_user": response.get("user_id")}
