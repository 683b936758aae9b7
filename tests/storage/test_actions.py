"""The task service: role checks, audit, and idempotent actions on real databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.config import PageSettings, Settings
from bot.domain import Category, Comment
from bot.ingest import Incoming
from bot.runtime import Services
from storage.db import Database
from storage.models import AuditEvent, ClassificationRow, OutboxMessage, TaskRow

PAGE = PageSettings(
    platform="facebook",
    id="100",
    name="Kinn kommune",
    channel="C100",
    access_token_env="T",
    moderators=["UPAGEMOD"],
)
MODERATOR, OUTSIDER, ADMIN, DIRECTOR = "UMOD", "UOUTSIDER", "UADMIN", "UDIRECTOR"


@pytest.fixture
async def services(db: Database) -> Services:
    settings = Settings(
        database={"url": db.url},
        pages=[PAGE],
        roles={"moderators": [MODERATOR], "admins": [ADMIN], "crisis_approvers": [DIRECTOR]},
    )
    return build_services(settings, db)


async def new_task(services: Services, text: str = "Kva tid opnar symjehallen?") -> int:
    comment = Comment(
        text=text,
        post_text="Symjehallen opnar 1. september.",
        id="1_1",
        platform="facebook",
        author_id="u1",
        author_name="Kari Nordmann",
        created_time=datetime(2026, 11, 24, 9, tzinfo=UTC),
        post_id="100_1",
        page_id="100",
    )
    summary = await services.ingestor.ingest(Incoming(comment, page=PAGE))
    return summary.task_ids[0]


async def outbox(db: Database, kind: str) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(
            (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == kind))).scalars()
        )


async def audit_actions(db: Database) -> list[str]:
    async with db.session() as session:
        return [
            event.action
            for event in (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        ]


async def test_publish_twice_queues_one_reply(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    first = await services.tasks.publish(task_id, MODERATOR)
    second = await services.tasks.publish(task_id, MODERATOR)
    assert first.ok and first.changed and second.ok and not second.changed
    replies = await outbox(db, "meta.reply")
    assert [m.payload for m in replies] == [{"task_id": task_id, "actor": MODERATOR}]
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
        assert (
            task is not None and task.final_reply == task.suggested_reply and task.pending_action == "publish"
        )


async def test_edited_reply_is_published_as_written(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    outcome = await services.tasks.publish(task_id, MODERATOR, text="  Hei! Ho opnar 1. september.  ")
    assert outcome.ok
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
        assert task is not None and task.final_reply == "Hei! Ho opnar 1. september."


async def test_unauthorised_click_is_refused_and_audited(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    outcome = await services.tasks.publish(task_id, OUTSIDER)
    assert not outcome.ok and "løyve" in outcome.message
    assert await outbox(db, "meta.reply") == []
    assert "denied" in await audit_actions(db)


async def test_page_moderators_may_act_on_their_page(services: Services) -> None:
    task_id = await new_task(services)
    assert (await services.tasks.assign(task_id, "UPAGEMOD")).ok


async def test_crisis_mode_lets_only_crisis_approvers_publish(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    assert not (await services.admin.set_crisis(MODERATOR, True)).ok
    assert (await services.admin.set_crisis(ADMIN, True)).changed
    refused = await services.tasks.publish(task_id, MODERATOR)
    assert not refused.ok and "krisegodkjennar" in refused.message
    assert (await services.tasks.publish(task_id, DIRECTOR)).ok
    actions = await audit_actions(db)
    assert "crisis_on" in actions and actions.count("publish_requested") == 1


async def test_reclassify_stores_feedback_and_suggests_a_new_reply(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    outcome = await services.tasks.reclassify(task_id, MODERATOR, Category.CASE_INQUIRY)
    assert outcome.changed
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
        feedback = (
            await session.execute(select(ClassificationRow).where(ClassificationRow.is_feedback))
        ).scalars()
        feedback_rows = list(feedback)
    assert task is not None and task.category == "case_inquiry" and task.priority == 1
    assert [(row.category, row.decided_by) for row in feedback_rows] == [("case_inquiry", MODERATOR)]
    assert task.suggested_reply and "postmottak" in task.suggested_reply.lower()


async def test_hide_and_forward_are_queued_once_with_their_reasons(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    for _ in range(2):
        await services.tasks.hide(task_id, MODERATOR)
    assert len(await outbox(db, "meta.hide")) == 1
    task_id_2 = task_id
    for _ in range(2):
        await services.tasks.forward(task_id_2, MODERATOR, archive=True)
    assert len(await outbox(db, "forward.email")) == 1 and len(await outbox(db, "forward.archive")) == 1
    async with db.session() as session:
        hide_event = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "hide_requested"))
        ).scalar_one()
    assert "Ytringar" in hide_event.detail["guideline_clause"]


async def test_handled_closes_the_task_and_is_idempotent(services: Services, db: Database) -> None:
    task_id = await new_task(services)
    assert (await services.tasks.mark_handled(task_id, MODERATOR)).changed
    assert not (await services.tasks.mark_handled(task_id, MODERATOR)).changed
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
        updates = (
            await session.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.kind == "slack.update_task")
            )
        ).scalar_one()
    assert task is not None and task.status == "handled" and task.handled_by == MODERATOR
    assert updates == 1


async def test_pause_and_resume_a_page_needs_an_admin(services: Services) -> None:
    await new_task(services)
    assert not (await services.admin.set_paused(MODERATOR, "Kinn kommune", True)).ok
    assert (await services.admin.set_paused(ADMIN, "Kinn kommune", True)).changed
    assert (await services.admin.set_paused(ADMIN, "100", False)).changed
    assert not (await services.admin.set_paused(ADMIN, "Ukjend side", True)).ok
