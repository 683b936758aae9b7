"""The /webhooks/meta endpoint: verification handshake, signature check, durable inbox, 200 at once.

Validation happens here and nowhere else; the body is stored raw and processed after the answer, so
Meta gets its 200 within its 5 s even under load, and nothing is lost if processing fails.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable

from aiohttp import web

from bot.config import Settings
from bot.logs import register_secret
from storage.db import Database
from storage.models import InboxEvent
from storage.types import utcnow

log = logging.getLogger(__name__)

PATH = "/webhooks/meta"
SIGNATURE_HEADER = "X-Hub-Signature-256"
INBOX_SOURCE = "meta"


def expected_signature(app_secret: str, raw_body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def signature_is_valid(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 over the raw bytes as received (never re-serialised JSON), compared in constant time."""
    if not header or not app_secret:
        return False
    return hmac.compare_digest(expected_signature(app_secret, raw_body).encode(), header.strip().encode())


def _env_secret(name: str) -> str:
    value = os.environ.get(name, "")
    register_secret(value)
    return value


class WebhookEndpoint:
    """The aiohttp handlers for GET (handshake) and POST (change notifications)."""

    def __init__(
        self, settings: Settings, db: Database, on_stored: Callable[[], None] = lambda: None
    ) -> None:
        self.settings = settings
        self.db = db
        self.on_stored = on_stored

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.verify), web.post(PATH, self.receive)]

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake: echo hub.challenge if hub.verify_token matches."""
        expected = _env_secret(self.settings.meta.verify_token_env)
        if not expected:
            log.error(
                "webhook handshake refused: meta.verify_token_env names %s, but it is not set",
                self.settings.meta.verify_token_env,
            )
            return web.Response(status=403, text="verify token not configured")
        mode = request.query.get("hub.mode", "")
        given = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        if mode == "subscribe" and hmac.compare_digest(given.encode(), expected.encode()):
            log.info("webhook subscription verified")
            return web.Response(status=200, text=challenge, content_type="text/plain")
        log.warning("webhook handshake refused: wrong hub.mode or hub.verify_token")
        return web.Response(status=403, text="verification failed")

    async def receive(self, request: web.Request) -> web.Response:
        """Check the signature over the raw body; store it; answer 200 before any processing."""
        raw_body = await request.read()
        app_secret = _env_secret(self.settings.meta.app_secret_env)
        if not app_secret:
            log.error(
                "webhook refused: meta.app_secret_env names %s, but it is not set, so signatures cannot "
                "be checked",
                self.settings.meta.app_secret_env,
            )
            return web.Response(status=503, text="app secret not configured")
        if not signature_is_valid(app_secret, raw_body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook refused: missing or wrong %s (%d bytes)", SIGNATURE_HEADER, len(raw_body))
            return web.Response(status=403, text="invalid signature")
        if b"\x00" in raw_body:
            # JSON never holds a raw NUL byte (it is written \u0000), and PostgreSQL text cannot store one.
            log.warning("webhook refused: the signed body contains a NUL byte, so it is not JSON")
            return web.Response(status=400, text="the body is not JSON (NUL byte)")
        try:
            async with self.db.session() as session:
                session.add(
                    InboxEvent(
                        source=INBOX_SOURCE,
                        body=raw_body.decode("utf-8", errors="replace"),
                        status="pending",
                        attempts=0,
                        received_at=utcnow(),
                    )
                )
        except Exception as error:  # the database is down: Meta retries what we do not acknowledge
            log.error(
                "webhook not stored (%s: %s); answering 503 so Meta retries", type(error).__name__, error
            )
            return web.Response(status=503, text="try again later")
        self.on_stored()
        return web.Response(status=200, text="EVENT_RECEIVED")
