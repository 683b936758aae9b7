"""Crisis mode on the database: copies to the crisis channel, approvers publish, every switch audited."""

from __future__ import annotations

import pytest

from bot.app import build_services
from bot.ingest import CRISIS_STATE_KEY
from bot.runtime import Services
from storage import repository as repo
from storage.db import Database
from tests.followup.conftest import (
    ADMIN,
    DIRECTOR,
    MODERATOR,
    audit_events,
    ingest,
    make_settings,
    oslo,
    outbox,
)

QUESTION = "Når opnar symjehallen att etter stenginga? Vi lurer på om kurset held fram."
CRISIS_CHANNEL = "C0KRISE"
ANSWER = "Symjehallen opnar att 1. september, og kursa held fram som før."


@pytest.fixture
def crisis_services(db: Database) -> Services:
    return build_services(make_settings(db.url, slack={"crisis_channel": CRISIS_CHANNEL}), db)


async def posted_channels(db: Database, task_id: int) -> list[tuple[str, bool]]:
    return [
        (m.payload["channel"], bool(m.payload.get("copy")))
        for m in await outbox(db, ["slack.post_task"])
        if m.payload["task_id"] == task_id
    ]


async def test_crisis_mode_copies_tasks_and_only_approvers_publish(
    crisis_services: Services, db: Database
) -> None:
    services = crisis_services
    denied = await services.admin.set_crisis(MODERATOR, True)
    assert not denied.ok
    assert not await services.tasks.crisis_on()

    switched = await services.admin.set_crisis(ADMIN, True)
    assert switched.ok and switched.changed and await services.tasks.crisis_on()
    async with db.session() as session:
        state = await repo.get_state(session, CRISIS_STATE_KEY)
    assert state["on"] is True and state["by"] == ADMIN

    during = await ingest(services, "k1", QUESTION, created=oslo(2026, 5, 11, 10))
    assert during is not None
    assert await posted_channels(db, during) == [("C0KINN", False), (CRISIS_CHANNEL, True)]
    [copy] = [m for m in await outbox(db, ["slack.post_task"]) if m.payload.get("copy")]
    assert copy.lane == f"slack:{CRISIS_CHANNEL}"

    refused = await services.tasks.publish(during, MODERATOR, ANSWER)
    assert not refused.ok and "krisegodkjennar" in refused.message
    assert await outbox(db, ["meta.reply"]) == []
    approved = await services.tasks.publish(during, DIRECTOR, ANSWER)
    assert approved.ok and approved.changed
    [reply] = await outbox(db, ["meta.reply"])
    assert reply.payload == {"task_id": during, "actor": DIRECTOR}

    assert (await services.admin.set_crisis(ADMIN, False)).changed
    after = await ingest(services, "k2", QUESTION + " Og kva med badstova?", created=oslo(2026, 5, 11, 11))
    assert after is not None
    assert await posted_channels(db, after) == [("C0KINN", False)]
    assert (await services.tasks.publish(after, MODERATOR, ANSWER)).changed

    switches = [(e.actor, e.action) for e in await audit_events(db) if e.action.startswith("crisis_")]
    assert switches == [(ADMIN, "crisis_on"), (ADMIN, "crisis_off")]
    refusals = [(e.actor, e.detail.get("attempted")) for e in await audit_events(db, "denied")]
    assert refusals == [(MODERATOR, "crisis_on"), (MODERATOR, "publish_in_crisis")]
    [published] = [e for e in await audit_events(db, "publish_requested") if e.task_id == during]
    assert published.actor == DIRECTOR


async def test_switching_to_the_current_state_changes_and_audits_nothing(
    crisis_services: Services, db: Database
) -> None:
    assert (await crisis_services.admin.set_crisis(ADMIN, True)).changed
    again = await crisis_services.admin.set_crisis(ADMIN, True)
    assert again.ok and not again.changed
    assert [e.action for e in await audit_events(db) if e.action.startswith("crisis_")] == ["crisis_on"]
