"""Migrations, dedup and concurrency on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select

from storage import repository as repo
from storage.db import Database
from storage.models import CommentRow, OutboxMessage
from storage.outbox import claim_heads, complete


def comment_values(external_id: str = "111_222", text: str = "Når opnar symjehallen?") -> dict:
    return {
        "platform": "facebook",
        "external_id": external_id,
        "text": text,
        "author_id": "u1",
        "author_name": "Kari Nordmann",
        "created_time": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }


async def test_migrations_create_every_table(db: Database) -> None:
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {
        "pages",
        "posts",
        "comments",
        "classifications",
        "tasks",
        "audit_events",
        "outbox",
        "inbox",
        "sync_state",
        "job_runs",
        "app_state",
        "alembic_version",
    } <= tables


async def test_storing_a_comment_twice_is_a_no_op(db: Database) -> None:
    async with db.session() as session:
        first, created_first = await repo.insert_comment(session, **comment_values())
    async with db.session() as session:
        second, created_second = await repo.insert_comment(session, **comment_values(text="changed"))
    assert created_first and not created_second
    assert first.id == second.id
    assert second.text == "Når opnar symjehallen?"  # the duplicate did not overwrite
    async with db.session() as session:
        count = (await session.execute(select(func.count(CommentRow.id)))).scalar_one()
    assert count == 1


async def test_times_come_back_timezone_aware(db: Database) -> None:
    async with db.session() as session:
        await repo.insert_comment(session, **comment_values())
    async with db.session() as session:
        row = await repo.comment_by_external_id(session, "facebook", "111_222")
    assert row is not None and row.created_time == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert row.created_time.tzinfo is not None


async def test_concurrent_inserts_of_the_same_comment_store_one_row(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(4)]

    async def insert(database: Database) -> bool:
        async with database.session() as session:
            _, created = await repo.insert_comment(session, **comment_values("9_9"))
            return created

    try:
        results = await asyncio.gather(*(insert(database) for database in databases * 3))
        assert results.count(True) == 1
        async with databases[0].session() as session:
            count = (await session.execute(select(func.count(CommentRow.id)))).scalar_one()
        assert count == 1
    finally:
        for database in databases:
            await database.close()


async def test_same_external_id_on_another_platform_is_another_comment(db: Database) -> None:
    async with db.session() as session:
        await repo.insert_comment(session, **comment_values())
        _, created = await repo.insert_comment(session, **{**comment_values(), "platform": "instagram"})
    assert created


async def test_enqueue_with_dedupe_key_queues_once(db: Database) -> None:
    async with db.session() as session:
        assert await repo.enqueue(
            session, "slack.post_task", {"task_id": 1}, lane="slack:C1", dedupe_key="k1"
        )
        assert not await repo.enqueue(
            session, "slack.post_task", {"task_id": 1}, lane="slack:C1", dedupe_key="k1"
        )
    async with db.session() as session:
        assert (await session.execute(select(func.count(OutboxMessage.id)))).scalar_one() == 1


async def test_outbox_claims_one_head_per_lane_in_priority_order(db: Database) -> None:
    async with db.session() as session:
        await repo.enqueue(session, "k", {"n": 1}, lane="a", priority=5)
        await repo.enqueue(session, "k", {"n": 2}, lane="a", priority=1)
        await repo.enqueue(session, "k", {"n": 3}, lane="b", priority=5)
    async with db.session() as session:
        claimed = await claim_heads(session, "w1")
    assert sorted(message.payload["n"] for message in claimed) == [2, 3]
    async with db.session() as session:
        assert await claim_heads(session, "w2") == []  # both lanes are busy
        for message in claimed:
            await complete(session, message.id)
    async with db.session() as session:
        assert [message.payload["n"] for message in await claim_heads(session, "w2")] == [1]


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_replicas_never_claim_the_same_lane(backend: str, database_factory) -> None:  # type: ignore[no-untyped-def]
    url = database_factory.url(backend)
    first, second = Database(url), Database(url)
    try:
        async with first.session() as session:
            for n in range(20):
                await repo.enqueue(session, "k", {"n": n}, lane=f"lane{n % 5}")

        async def claim(database: Database, name: str) -> list[str]:
            async with database.session() as session:
                return [m.lane for m in await claim_heads(session, name)]

        lanes_a, lanes_b = await asyncio.gather(claim(first, "a"), claim(second, "b"))
        assert not set(lanes_a) & set(lanes_b)
        assert len(lanes_a) + len(lanes_b) == 5
    finally:
        await first.close()
        await second.close()


async def test_a_failed_message_frees_its_dedupe_key_for_a_new_try(db: Database) -> None:
    from storage.outbox import fail

    async with db.session() as session:
        await repo.enqueue(session, "meta.reply", {"task_id": 1}, dedupe_key="meta.reply:1")
        message_id = (await session.execute(select(OutboxMessage.id))).scalar_one()
        await fail(session, message_id, "permission denied")
    async with db.session() as session:
        assert await repo.enqueue(session, "meta.reply", {"task_id": 1}, dedupe_key="meta.reply:1")
        assert not await repo.enqueue(session, "meta.reply", {"task_id": 1}, dedupe_key="meta.reply:1")


async def test_sqlite_writers_wait_for_each_other_instead_of_failing(sqlite_url: str) -> None:
    databases = [Database(sqlite_url) for _ in range(6)]

    async def read_then_write(database: Database, number: int) -> None:
        async with database.session() as session:
            await repo.get_state(session, "crisis")
            await asyncio.sleep(0.01)
            await repo.insert_comment(session, **comment_values(f"7_{number}"))

    try:
        await asyncio.gather(*(read_then_write(database, n) for n, database in enumerate(databases * 3)))
        async with databases[0].session() as session:
            assert (await session.execute(select(func.count(CommentRow.id)))).scalar_one() == 18
    finally:
        for database in databases:
            await database.close()
