"""The ingest path on real databases: store once, classify, open a task, queue its Slack message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.config import PageSettings, Settings
from bot.domain import Comment
from bot.ingest import CRISIS_STATE_KEY, Incoming
from bot.runtime import Services
from storage import repository as repo
from storage.db import Database
from storage.models import AuditEvent, ClassificationRow, CommentRow, OutboxMessage, TaskRow

PAGE = PageSettings(platform="facebook", id="100", name="Kinn kommune", channel="C100", access_token_env="T")
POST = "Symjehallen i Florø opnar igjen 1. september klokka 10 etter rehabiliteringa."


def incoming(
    comment_id: str, text: str, *, author: str = "u1", parent: str | None = None, from_page: bool = False
) -> Incoming:
    return Incoming(
        Comment(
            text=text,
            post_text=POST,
            id=comment_id,
            platform="facebook",
            author_name="Kari Nordmann",
            author_id=author,
            created_time=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
            post_id="100_1",
            parent_id=parent,
            page_id="100",
        ),
        page=PAGE,
        is_from_page=from_page,
    )


@pytest.fixture
def services(db: Database) -> Services:
    return build_services(
        Settings(database={"url": db.url}, pages=[PAGE], slack={"crisis_channel": "CCRISIS"}), db
    )


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_new_comment_gets_classification_task_and_queued_message(
    services: Services, db: Database
) -> None:
    summary = await services.ingestor.ingest(
        incoming("1_1", "Så flott at symjehallen opnar att! Gler meg 😊")
    )
    assert (summary.new, summary.tasks) == (1, 1)
    async with db.session() as session:
        task = (await session.execute(select(TaskRow))).unique().scalar_one()
        classification = (await session.execute(select(ClassificationRow))).scalar_one()
        messages = (await session.execute(select(OutboxMessage))).scalars().all()
    assert task.status == "open" and task.category == classification.category
    assert task.deadline_at > datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert task.suggested_reply
    assert classification.model_version and classification.decided_by == "model"
    assert [(m.kind, m.lane, m.payload["task_id"]) for m in messages] == [
        ("slack.post_task", "slack:C100", task.id)
    ]


async def test_the_same_comment_twice_is_stored_once(services: Services, db: Database) -> None:
    await services.ingestor.ingest(incoming("1_1", "Kva kostar eit årskort?"))
    summary = await services.ingestor.ingest_many([incoming("1_1", "Kva kostar eit årskort?")] * 3)
    assert summary.duplicates == 3 and summary.tasks == 0
    assert await count(db, CommentRow) == 1
    assert await count(db, TaskRow) == 1
    assert await count(db, OutboxMessage) == 1


async def test_page_comments_are_kept_as_context_without_a_task(services: Services, db: Database) -> None:
    summary = await services.ingestor.ingest(
        incoming("1_2", "Takk for spørsmålet!", author="100", from_page=True)
    )
    assert summary.from_page == 1 and summary.tasks == 0
    assert await count(db, CommentRow) == 1 and await count(db, TaskRow) == 0


async def test_an_edit_reclassifies_and_updates_the_task(services: Services, db: Database) -> None:
    await services.ingestor.ingest(incoming("1_1", "Gler meg til opninga!"))
    summary = await services.ingestor.ingest(
        incoming(
            "1_1",
            "Eg vil klage på vedtaket om avslag på søknaden min om byggjeløyve, kven sender eg det til?",
        )
    )
    assert summary.edited == 1
    async with db.session() as session:
        task = (await session.execute(select(TaskRow))).unique().scalar_one()
        kinds = [m.kind for m in (await session.execute(select(OutboxMessage))).scalars()]
        comment = (await session.execute(select(CommentRow))).unique().scalar_one()
    assert comment.is_edited and comment.text.startswith("Eg vil klage")
    assert task.category == "case_inquiry"
    assert kinds.count("slack.update_task") == 1 and kinds.count("slack.thread_note") == 1
    assert await count(db, ClassificationRow) == 2


async def test_removal_closes_the_open_task_once(services: Services, db: Database) -> None:
    await services.ingestor.ingest(incoming("1_1", "Kva tid opnar hallen?"))
    assert await services.ingestor.remove("facebook", "1_1")
    assert not await services.ingestor.remove("facebook", "1_1")
    async with db.session() as session:
        task = (await session.execute(select(TaskRow))).unique().scalar_one()
        removed = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "comment_removed"))
        ).scalars()
        assert len(list(removed)) == 1
    assert task.status == "closed"


async def test_a_reply_in_a_thread_is_noted_on_the_parent_task(services: Services, db: Database) -> None:
    await services.ingestor.ingest(incoming("1_1", "Kva tid opnar hallen?"))
    await services.ingestor.ingest(incoming("1_5", "Klokka 10!", author="100", parent="1_1", from_page=True))
    async with db.session() as session:
        notes = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "slack.thread_note"))
        ).scalars()
        texts = [note.payload["text"] for note in notes]
    assert texts == ["Sida svara i tråden: Klokka 10!"]


async def test_crisis_mode_copies_tasks_to_the_crisis_channel(services: Services, db: Database) -> None:
    async with db.session() as session:
        await repo.set_state(session, CRISIS_STATE_KEY, {"on": True})
    await services.ingestor.ingest(incoming("1_1", "Kva skjer med vatnet i Solheimsvegen?"))
    async with db.session() as session:
        lanes = sorted(m.lane for m in (await session.execute(select(OutboxMessage))).scalars())
    assert lanes == ["slack:C100", "slack:CCRISIS"]


async def test_thread_length_counts_earlier_comments_by_the_same_person(
    services: Services, db: Database
) -> None:
    for number in range(4):
        await services.ingestor.ingest(incoming(f"1_{number}", f"Dette er for dårleg, del {number}!"))
    async with db.session() as session:
        rows = [await repo.comment_by_external_id(session, "facebook", f"1_{n}") for n in range(4)]
        assert await repo.count_thread_comments_many(session, rows) == [0, 1, 2, 3]  # type: ignore[arg-type]


async def test_a_burst_in_one_batch_is_stored_once_each_with_its_thread_lengths(
    services: Services, db: Database
) -> None:
    batch = [incoming(f"2_{number}", f"Kvifor svarar de ikkje? Del {number}") for number in range(3)]
    batch.append(incoming("2_0", "Kvifor svarar de ikkje? Del 0"))  # the same comment again in the batch
    summary = await services.ingestor.ingest_many(batch)
    assert (summary.new, summary.duplicates, summary.tasks) == (3, 1, 3)
    async with db.session() as session:
        messages = (await session.execute(select(OutboxMessage))).scalars().all()
    assert sorted(m.payload["task_id"] for m in messages) == sorted(summary.task_ids)
    again = await services.ingestor.ingest_many(batch)
    assert (again.new, again.duplicates, again.tasks) == (0, 4, 0)
