"""Claiming work from the outbox: one message at a time per lane, safe across replicas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage
from storage.types import utcnow


async def claim_heads(
    session: AsyncSession,
    worker: str,
    *,
    kinds: list[str] | None = None,
    max_lanes: int = 20,
    lease_s: float = 120,
    skip_lanes: list[str] | None = None,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Claim the first due message of up to `max_lanes` lanes that nobody else is working on.

    Within a lane messages go strictly by (priority, id), so a channel catches up in order after an
    outage. On PostgreSQL a transaction-scoped advisory lock per lane keeps two replicas apart.
    """
    now = now or utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    pending = OutboxMessage.status == "pending"
    kind_filter = OutboxMessage.kind.in_(kinds) if kinds else True
    busy_lanes = select(OutboxMessage.lane).where(
        pending, kind_filter, OutboxMessage.claimed_until.is_not(None), OutboxMessage.claimed_until > now
    )
    lanes = (
        await session.execute(
            select(OutboxMessage.lane, func.min(OutboxMessage.priority).label("best"))
            .where(pending, kind_filter, OutboxMessage.next_attempt_at <= now)
            .where(OutboxMessage.lane.not_in(busy_lanes))
            .where(OutboxMessage.lane.not_in(skip_lanes or []))
            .group_by(OutboxMessage.lane)
            .order_by(text("best"))
            .limit(max_lanes)
        )
    ).all()
    claimed: list[OutboxMessage] = []
    for lane, _best in lanes:
        if postgres:
            got = await session.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:lane))"), {"lane": f"outbox:{lane}"}
            )
            if not got.scalar_one():
                continue
        head_query = (
            select(OutboxMessage)
            .where(pending, kind_filter, OutboxMessage.lane == lane)
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(1)
        )
        if postgres:
            head_query = head_query.with_for_update(skip_locked=True)
        head = (await session.execute(head_query)).scalar_one_or_none()
        if head is None or head.next_attempt_at > now:
            continue  # the lane's head waits (e.g. Retry-After): keep the lane's order
        if head.claimed_until is not None and head.claimed_until > now:
            continue
        head.claimed_by = worker
        head.claimed_until = now + timedelta(seconds=lease_s)
        claimed.append(head)
    await session.flush()
    return claimed


async def complete(session: AsyncSession, message_id: int, result: dict[str, Any] | None = None) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status="done", result=result, done_at=utcnow(), claimed_until=None, last_error=None)
    )


async def reschedule(
    session: AsyncSession,
    message_id: int,
    *,
    delay_s: float,
    error: str,
    max_attempts: int,
    count_attempt: bool = True,
) -> str:
    """Put a message back for a later try, or mark it failed after `max_attempts`. Returns the status."""
    message = await session.get(OutboxMessage, message_id)
    if message is None:
        return "missing"
    if count_attempt:
        message.attempts += 1
    message.last_error = error[:2000]
    message.claimed_until = None
    if message.attempts >= max_attempts:
        _mark_failed(message)
    else:
        message.next_attempt_at = utcnow() + timedelta(seconds=delay_s)
    return message.status


def _mark_failed(message: OutboxMessage) -> None:
    """Failed for good. The dedupe key is freed so that a new click can queue the same work again."""
    message.status = "failed"
    if message.dedupe_key and ":failed:" not in message.dedupe_key:
        message.dedupe_key = f"{message.dedupe_key}:failed:{message.id}"


async def fail(session: AsyncSession, message_id: int, error: str) -> None:
    message = await session.get(OutboxMessage, message_id)
    if message is not None:
        _mark_failed(message)
        message.last_error, message.claimed_until = error[:2000], None


async def due_count(session: AsyncSession, kinds: list[str], *, within_s: float = 0) -> int:
    """Pending messages of these kinds that are due now (or within `within_s`)."""
    horizon = utcnow() + timedelta(seconds=within_s)
    return (
        await session.execute(
            select(func.count()).where(
                OutboxMessage.status == "pending",
                OutboxMessage.kind.in_(kinds),
                OutboxMessage.next_attempt_at <= horizon,
            )
        )
    ).scalar_one()


async def depth(session: AsyncSession) -> dict[str, int]:
    """Pending messages per kind (for /metrics and /healthz)."""
    rows = await session.execute(
        select(OutboxMessage.kind, func.count())
        .where(OutboxMessage.status == "pending")
        .group_by(OutboxMessage.kind)
    )
    return {kind: count for kind, count in rows.all()}
