"""The outbox worker: drains queued outgoing calls with retries, lane by lane, at each service's pace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from storage import outbox as queue
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], Awaitable[dict[str, Any] | None]]


class RetryLater(Exception):
    """The service asked us to wait (429 Retry-After, rate limit): try again after `delay_s`."""

    def __init__(self, delay_s: float, reason: str, *, count_attempt: bool = False) -> None:
        super().__init__(reason)
        self.delay_s = delay_s
        self.count_attempt = count_attempt


class PermanentFailure(Exception):
    """Retrying cannot help (permission denied, bad request): mark the message failed."""


def backoff_s(attempt: int, *, base_s: float = 2.0, cap_s: float = 600.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))


@dataclass
class LanePace:
    """Minimum seconds between two messages in a lane whose name starts with `prefix`."""

    prefix: str
    interval_s: float


class OutboxWorker:
    """Claims lane heads from the outbox and runs the handler registered for each kind."""

    def __init__(
        self,
        db: Database,
        handlers: dict[str, Handler],
        *,
        paces: list[LanePace] | None = None,
        max_attempts: int = 8,
        poll_s: float = 0.2,
        worker_id: str | None = None,
        on_failure: Callable[[OutboxMessage, str], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.handlers = handlers
        self.paces = paces or []
        self.max_attempts = max_attempts
        self.poll_s = poll_s
        self.worker_id = worker_id or f"{socket.gethostname()}:{id(self)}"
        self.on_failure = on_failure
        self._lane_ready_at: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    def _interval(self, lane: str) -> float:
        return next((p.interval_s for p in self.paces if lane.startswith(p.prefix)), 0.0)

    async def run_once(self) -> int:
        """Claim and process one round of lane heads. Returns how many messages were processed."""
        now = asyncio.get_running_loop().time()
        # forget lanes that are ready again, so the map stays as small as the lanes being paced
        self._lane_ready_at = {lane: at for lane, at in self._lane_ready_at.items() if at > now}
        paced = list(self._lane_ready_at)
        async with self.db.session() as session:
            claimed = await queue.claim_heads(
                session, self.worker_id, kinds=list(self.handlers), skip_lanes=paced
            )
            session.expunge_all()
        await asyncio.gather(*(self._process(message) for message in claimed))
        return len(claimed)

    async def _process(self, message: OutboxMessage) -> None:
        handler = self.handlers[message.kind]
        loop = asyncio.get_running_loop()
        try:
            result = await handler(message)
        except RetryLater as signal:
            log.warning("outbox %s #%s: waiting %.1fs: %s", message.kind, message.id, signal.delay_s, signal)
            async with self.db.session() as session:
                status = await queue.reschedule(
                    session,
                    message.id,
                    delay_s=signal.delay_s,
                    error=str(signal),
                    max_attempts=self.max_attempts if signal.count_attempt else 10**9,
                    count_attempt=signal.count_attempt,
                )
            if status == "failed" and self.on_failure:
                await self.on_failure(message, str(signal))
            self._lane_ready_at[message.lane] = loop.time() + signal.delay_s
            return
        except PermanentFailure as error:
            await self._give_up(message, str(error))
            return
        except Exception as error:  # a failed call must never stop the worker
            reason = f"{type(error).__name__}: {error}"
            log.warning(
                "outbox %s #%s failed (attempt %d): %s",
                message.kind,
                message.id,
                message.attempts + 1,
                reason,
            )
            async with self.db.session() as session:
                status = await queue.reschedule(
                    session,
                    message.id,
                    delay_s=backoff_s(message.attempts),
                    error=reason,
                    max_attempts=self.max_attempts,
                )
            if status == "failed" and self.on_failure:
                await self.on_failure(message, reason)
            return
        async with self.db.session() as session:
            await queue.complete(session, message.id, result)
        self._lane_ready_at[message.lane] = loop.time() + self._interval(message.lane)

    async def _give_up(self, message: OutboxMessage, reason: str) -> None:
        log.error("outbox %s #%s failed for good: %s", message.kind, message.id, reason)
        async with self.db.session() as session:
            await queue.fail(session, message.id, reason)
        if self.on_failure:
            await self.on_failure(message, reason)

    async def run(self) -> None:
        """Drain until stop() is called; finishes the round in progress first."""
        while not self._stopping:
            try:
                processed = await self.run_once()
            except Exception:
                log.exception("outbox round failed; retrying shortly")
                processed = 0
            if processed == 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s())

    def _idle_s(self) -> float:
        """How long to wait for work: the poll interval, or less when a paced lane is ready sooner."""
        now = asyncio.get_running_loop().time()
        waits = [ready_at - now for ready_at in self._lane_ready_at.values() if ready_at > now]
        return min([self.poll_s, *waits])

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self, *, timeout_s: float = 30.0) -> None:
        """Process until nothing is due (for one-shot commands such as `sync`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if not await self.run_once():
                async with self.db.session() as session:
                    if not await queue.due_count(session, list(self.handlers), within_s=self.poll_s):
                        return
                await asyncio.sleep(self.poll_s)
