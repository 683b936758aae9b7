"""Several `kommentarvakt run` replicas on one PostgreSQL database share the work and duplicate none of it."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.meta.component import poll_cron
from bot.scheduler import cron_trigger, previous_fire_time
from storage import repository as repo
from storage.db import Database
from storage.models import AuditEvent, CommentRow, InboxEvent, JobRun, OutboxMessage
from tests.conftest import DatabaseFactory
from tests.reliability.conftest import REPO_ROOT, Stack, task_posts, wait_until
from tests.reliability.test_crash_recovery import assert_exactly_once

WEBHOOK_COMMENTS = 80


async def test_two_replicas_share_the_work_and_survive_one_dying(pg_stack: Stack) -> None:
    stack = pg_stack
    stack.add_page()
    stack.add_page()
    slow = {"messages_per_second": 4.0}  # slow enough to kill a replica half-way through the burst
    first_line = stack.new_slack_proxy()
    first = stack.start_bot("first", slack=slow, slack_proxy=first_line)
    second = stack.start_bot("second", slack=slow)
    await asyncio.gather(first.wait_serving(), second.wait_serving())
    await wait_until(lambda: _poll_finished(stack), timeout_s=30, what="the first scheduled poll")

    # Both replicas ran their start-up catch-up, but the period was claimed once: one sync per page.
    for page in stack.pages:
        assert len(stack.graph.requests_to(f"/{page.id}/published_posts")) == 1, page.id

    # Meta delivers webhooks to whichever replica the load balancer picks.
    comments = [stack.add_comment(stack.pages[n % len(stack.pages)]) for n in range(WEBHOOK_COMMENTS)]
    answers = await asyncio.gather(
        *(stack.deliver((first, second)[n % 2], comment_id) for n, comment_id in enumerate(comments))
    )
    assert {answer.status_code for answer in answers} == {200}

    await wait_until(lambda: sum(task_posts(stack.slack).values()) >= 20, timeout_s=60, what="the burst")
    await stack.kill_between_calls(first, first_line)  # mid-burst: it holds claims on lane heads
    assert sum(task_posts(stack.slack).values()) < WEBHOOK_COMMENTS, "the burst drained before the kill"
    await stack.expire_leases()  # its 120 s leases run out
    await stack.wait_all_posted(tasks=WEBHOOK_COMMENTS, timeout_s=90)
    await assert_exactly_once(stack)

    assert await stack.count(InboxEvent, InboxEvent.status != "done") == 0
    assert await stack.count(InboxEvent) == WEBHOOK_COMMENTS
    assert await stack.count(AuditEvent, AuditEvent.action == "task_created") == WEBHOOK_COMMENTS
    async with stack.db.session() as session:
        workers = set(
            (
                await session.execute(
                    select(OutboxMessage.claimed_by).where(OutboxMessage.kind == "slack.post_task")
                )
            ).scalars()
        )
    assert len(workers) == 2, f"both replicas should have posted task messages: {workers}"


async def _poll_finished(stack: Stack) -> bool:
    return await stack.count(JobRun, JobRun.job == "meta.poll", JobRun.finished_at.is_not(None)) >= 1


async def test_a_job_period_claimed_by_a_dead_replica_is_run_by_another(stack: Stack) -> None:
    zone = ZoneInfo("Europe/Oslo")
    now = datetime.now(UTC)
    trigger = cron_trigger(poll_cron(3600), zone, "meta.poll")
    period = previous_fire_time(trigger, now, timedelta(hours=6))
    assert period is not None
    if (now - period).total_seconds() > 3500:
        pytest.skip("too close to the next hourly period to tell a take-over from a new period")
    # A replica claimed this hour's poll two hours ago... and died before it finished.
    async with stack.db.session() as session:
        session.add(
            JobRun(
                job="meta.poll",
                period=period.astimezone(UTC).isoformat(timespec="minutes"),
                started_at=now - timedelta(hours=2),
            )
        )
    comment_id = stack.add_comment(stack.pages[0])
    await stack.started_bot()
    await wait_until(
        lambda: stack.count(CommentRow, CommentRow.external_id == comment_id),
        timeout_s=20,
        what="the poll the dead replica never finished",
    )


CLAIMING_PROCESS = """
import asyncio, json, sys
from storage.db import Database
from storage import outbox as queue

async def main(url, name):
    db = Database(url)
    claimed, idle = [], 0
    while idle < 30:
        try:
            async with db.session() as session:
                ids = [message.id for message in await queue.claim_heads(session, name)]
        except Exception:  # a busy database: try again, as the worker does
            continue
        if not ids:
            idle += 1
            await asyncio.sleep(0.01)
            continue
        idle = 0
        claimed += ids
        async with db.session() as session:
            for message_id in ids:
                await queue.complete(session, message_id, {"by": name})
    print(json.dumps(claimed))
    await db.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_processes_draining_one_outbox_never_claim_a_message_twice(
    backend: str, database_factory: DatabaseFactory
) -> None:
    """The claim itself, from three OS processes at once: every message is claimed exactly once.

    On SQLite this needs BEGIN IMMEDIATE (storage/db.py): with the driver's deferred transactions two
    processes (`run` beside a `sync` that posts to Slack) read the same lane head and both claimed it.
    """
    url = database_factory.url(backend)
    db = Database(url)
    async with db.session() as session:
        for number in range(600):
            await repo.enqueue(session, "slack.post_task", {"task_id": number}, lane=f"slack:C{number % 4}")
    await db.close()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLAIMING_PROCESS,
            url,
            f"worker-{name}",
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for name in "abc"
    ]
    claims: list[int] = []
    for process in processes:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        claims += json.loads(output)
    assert sorted(claims) == list(range(1, 601)), "some message was claimed twice (or never)"
