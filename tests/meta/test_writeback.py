"""Publishing replies and hiding comments through the outbox, against the fake Graph API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from bot.app import build_services
from bot.config import Settings
from bot.meta.component import MetaComponent
from bot.outbox import OutboxWorker
from bot.runtime import Services
from storage.db import Database
from storage.models import AuditEvent, CommentRow, OutboxMessage, Page, TaskRow
from tests.fakes.graph_api import FakeGraphAPI
from tests.meta.conftest import (
    FB_PAGE_ID,
    FB_TOKEN,
    IG_USER_ID,
    MODERATOR,
    RecordedSleeps,
    all_rows,
    count,
    make_settings,
)


def ago(seconds: float) -> int:
    return int(time.time() - seconds)


async def task_for_comment(db: Database, comment_id: str) -> TaskRow:
    rows = await all_rows(db, TaskRow)
    return next(task for task in rows if task.comment.external_id == comment_id)


async def new_facebook_task(meta: MetaComponent, fake: FakeGraphAPI, db: Database) -> tuple[str, TaskRow]:
    post_id = fake.add_post(FB_PAGE_ID, "Symjehallen opnar 1. september klokka 10.", created_time=ago(7200))
    comment_id = fake.add_comment(
        post_id, "Kva tid opnar symjehallen?", from_id="501", created_time=ago(3600)
    )
    result = await meta.syncer().sync_page(meta.settings.pages[0])
    assert result.tasks == 1
    return comment_id, await task_for_comment(db, comment_id)


def page_replies(fake: FakeGraphAPI, comment_id: str) -> list[str]:
    return [
        c.message for c in fake.comments.values() if c.parent_id == comment_id and c.from_id == FB_PAGE_ID
    ]


async def outbox_rows(db: Database, kind: str) -> list[OutboxMessage]:
    return await all_rows(db, OutboxMessage, OutboxMessage.kind == kind, order_by=OutboxMessage.id)


def fresh_worker(meta: MetaComponent, db: Database) -> OutboxWorker:
    """A new worker: the old one remembers the lane's Retry-After and would wait it out."""
    return OutboxWorker(db, meta.outbox_handlers())


async def make_due(db: Database) -> None:
    """Skip the outbox's backoff wait (the test does not want to sleep through it)."""
    async with db.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .values(next_attempt_at=datetime.now(UTC))
        )


async def test_publish_posts_one_reply_and_records_it_on_the_task(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    outcome = await services.tasks.publish(
        task.id, MODERATOR, text="Hei! Symjehallen opnar 1. september kl. 10."
    )
    assert outcome.ok and outcome.changed
    await worker.drain(timeout_s=10)
    assert page_replies(fake, comment_id) == ["Hei! Symjehallen opnar 1. september kl. 10."]
    task = await task_for_comment(db, comment_id)
    assert task.status == "answered" and task.reply_external_id in fake.comments
    assert task.first_response_at is not None and task.handled_by == MODERATOR and task.pending_action is None
    audit = await all_rows(db, AuditEvent, AuditEvent.action == "reply_published")
    assert len(audit) == 1 and audit[0].detail["reply_id"] == task.reply_external_id
    assert (await outbox_rows(db, "meta.reply"))[0].status == "done"
    assert len(await outbox_rows(db, "slack.update_task")) == 2  # "on its way", then "answered"
    # The page's reply is stored as context, so the next sync does not report it as new.
    assert (await meta.syncer().sync_page(meta.settings.pages[0])).new_comments == 0

    again = await services.tasks.publish(task.id, MODERATOR)
    assert again.ok and not again.changed
    await worker.drain(timeout_s=5)
    assert len(page_replies(fake, comment_id)) == 1
    assert len(fake.requests_to(f"/{comment_id}/comments", "POST")) == 1


async def test_a_retry_after_a_failed_attempt_reconciles_first_and_posts_once(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR)
    fake.fail_next(3, code=2, method="POST")  # more than the client's own retries
    await worker.run_once()
    message = (await outbox_rows(db, "meta.reply"))[0]
    assert message.status == "pending" and message.attempts == 1
    await make_due(db)
    await worker.drain(timeout_s=10)
    assert len(page_replies(fake, comment_id)) == 1
    assert len(fake.requests_to(f"/{comment_id}/comments", "GET")) == 1  # looked before posting again
    assert (await task_for_comment(db, comment_id)).status == "answered"


@pytest.fixture
async def slow_meta(
    settings: Settings, db: Database, fake: FakeGraphAPI, sleeps: RecordedSleeps
) -> AsyncIterator[MetaComponent]:
    """A component whose Graph calls time out quickly and are not retried by the client itself."""
    assert fake.base_url is not None
    services = build_services(make_settings(db.url, fake.base_url, timeout_s=0.3, max_retries=0), db)
    component = MetaComponent(services, client_options={"sleep": sleeps})
    yield component
    await component.stop()


async def test_a_reply_that_reached_meta_before_a_timeout_is_not_posted_twice(
    slow_meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    services = slow_meta.services
    worker = OutboxWorker(db, slow_meta.outbox_handlers())
    comment_id, task = await new_facebook_task(slow_meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR)
    fake.set_latency(1.0)  # Meta is slow: the client gives up, but the reply is still made
    await worker.run_once()
    for _ in range(100):
        if page_replies(fake, comment_id):
            break
        await asyncio.sleep(0.05)
    fake.set_latency(0)
    assert (await outbox_rows(db, "meta.reply"))[0].attempts == 1
    await make_due(db)
    await worker.drain(timeout_s=10)
    assert len(page_replies(fake, comment_id)) == 1
    task = await task_for_comment(db, comment_id)
    assert task.status == "answered" and task.reply_external_id in fake.comments
    audit = await all_rows(db, AuditEvent, AuditEvent.action == "reply_published")
    assert audit[0].detail["reconciled"] is True


async def test_a_crash_between_the_call_and_the_bookkeeping_is_reconciled(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR, text="Det opnar 1. september.")
    # What a process that died right after Meta accepted the reply leaves behind:
    async with db.session() as session:
        session.add(AuditEvent(actor=MODERATOR, action="reply_attempt", task_id=task.id, detail={}))
    existing = fake.add_comment(
        comment_id, "Det opnar  1. september.", from_id=FB_PAGE_ID, from_name="Kinn kommune"
    )
    await worker.drain(timeout_s=10)
    assert fake.requests_to(f"/{comment_id}/comments", "POST") == []
    task = await task_for_comment(db, comment_id)
    assert task.reply_external_id == existing and task.status == "answered"


async def test_instagram_replies_go_to_the_top_level_comment(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Biblioteket har ope til 20", timestamp=ago(7200))
    top = fake.add_ig_comment(media_id, "Har de ope i morgon?", username="kari.n", timestamp=ago(3600))
    reply = fake.add_ig_reply(top, "Og på laurdag?", username="ola.n", timestamp=ago(1800))
    await meta.syncer().sync_page(meta.settings.pages[1])
    top_task, reply_task = await task_for_comment(db, top), await task_for_comment(db, reply)
    await services.tasks.publish(top_task.id, MODERATOR, text="Ja, frå 10 til 20.")
    await services.tasks.publish(reply_task.id, MODERATOR, text="Laurdag 10-15.")
    await worker.drain(timeout_s=10)
    ours = [c.text for c in fake.ig_comments.values() if c.parent_id == top and c.from_id == IG_USER_ID]
    assert sorted(ours) == ["@ola.n Laurdag 10-15.", "Ja, frå 10 til 20."]
    assert len(fake.requests_to(f"/{top}/replies", "POST")) == 2
    assert {(await task_for_comment(db, cid)).status for cid in (top, reply)} == {"answered"}


async def test_hide_hides_the_comment_and_closes_the_task(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    assert (await services.tasks.hide(task.id, MODERATOR)).ok
    await worker.drain(timeout_s=10)
    assert fake.comments[comment_id].is_hidden
    task = await task_for_comment(db, comment_id)
    assert task.status == "hidden" and task.comment.is_hidden and task.pending_action is None
    assert task.handled_by == MODERATOR
    assert await count(db, AuditEvent, AuditEvent.action == "comment_hidden") == 1
    request = fake.requests_to(f"/{comment_id}", "POST")[0]
    assert request.form["is_hidden"] == "true"


async def test_hide_on_instagram_uses_the_hide_field(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Sommarfest", timestamp=ago(7200))
    comment_id = fake.add_ig_comment(media_id, "Dette er berre tull", timestamp=ago(3600))
    await meta.syncer().sync_page(meta.settings.pages[1])
    task = await task_for_comment(db, comment_id)
    await services.tasks.hide(task.id, MODERATOR)
    await worker.drain(timeout_s=10)
    assert fake.ig_comments[comment_id].hidden
    assert (await task_for_comment(db, comment_id)).status == "hidden"


@pytest.mark.parametrize(("code", "words"), [(200, "løyve"), (100, "avviste")])
async def test_errors_meta_refuses_for_good_fail_with_a_note_on_the_task(
    meta: MetaComponent,
    services: Services,
    worker: OutboxWorker,
    fake: FakeGraphAPI,
    db: Database,
    code: int,
    words: str,
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR)
    fake.fail_next(1, code=code, method="POST")
    await worker.drain(timeout_s=5)
    message = (await outbox_rows(db, "meta.reply"))[0]
    assert message.status == "failed" and words in (message.last_error or "")
    assert page_replies(fake, comment_id) == []
    task = await task_for_comment(db, comment_id)
    assert task.status == "open" and task.pending_action is None and task.reply_external_id is None
    notes = await outbox_rows(db, "slack.thread_note")
    assert (
        len(notes) == 1
        and "kunne ikkje publisere" in notes[0].payload["text"]
        and words in notes[0].payload["text"]
    )
    failures = await all_rows(db, AuditEvent, AuditEvent.action == "publish_failed")
    assert len(failures) == 1 and failures[0].detail["requested_by"] == MODERATOR
    assert len(fake.requests_to(f"/{comment_id}/comments", "POST")) == 1  # never retried


async def test_a_deleted_comment_cannot_be_hidden_and_the_task_says_why(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    fake.delete_comment(comment_id)
    await services.tasks.hide(task.id, MODERATOR)
    await worker.drain(timeout_s=5)
    assert (await outbox_rows(db, "meta.hide"))[0].status == "failed"
    notes = await outbox_rows(db, "slack.thread_note")
    assert "finst ikkje lenger" in notes[0].payload["text"]


async def test_a_rate_limit_makes_the_reply_wait_without_using_up_attempts(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR)
    fake.fail_next(1, code=80001, method="POST", estimated_time_to_regain_access=15)
    await worker.drain(timeout_s=5)
    message = (await outbox_rows(db, "meta.reply"))[0]
    assert message.status == "pending" and message.attempts == 0
    assert (message.next_attempt_at - datetime.now(UTC)).total_seconds() > 10 * 60
    assert page_replies(fake, comment_id) == []


async def test_a_dead_token_pauses_the_page_and_the_reply_goes_out_after_resume(
    meta: MetaComponent, services: Services, worker: OutboxWorker, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR)
    fake.expire_token(FB_TOKEN, subcode=460)
    await worker.drain(timeout_s=5)
    page = (await all_rows(db, Page, Page.external_id == FB_PAGE_ID))[0]
    assert page.paused and "passordet" in (page.paused_reason or "")
    assert len(await outbox_rows(db, "slack.alert")) == 1
    message = (await outbox_rows(db, "meta.reply"))[0]
    assert message.status == "pending" and message.attempts == 0

    await make_due(db)
    await fresh_worker(meta, db).drain(timeout_s=5)  # still paused: no call is made
    assert len(fake.requests_to(f"/{comment_id}/comments", "POST")) == 1
    assert len(await outbox_rows(db, "slack.alert")) == 1

    fake.restore_token(FB_TOKEN)
    await services.admin.set_paused("UADMIN", FB_PAGE_ID, False)
    await make_due(db)
    await fresh_worker(meta, db).drain(timeout_s=10)
    assert len(page_replies(fake, comment_id)) == 1
    assert (await task_for_comment(db, comment_id)).status == "answered"
    assert await count(db, CommentRow, CommentRow.is_from_page.is_(True)) == 1


async def test_when_the_outbox_gives_up_the_task_is_told_once(
    meta: MetaComponent, services: Services, fake: FakeGraphAPI, db: Database
) -> None:
    comment_id, task = await new_facebook_task(meta, fake, db)
    await services.tasks.publish(task.id, MODERATOR)
    fake.fail_next(100, code=2, method="POST")
    worker = OutboxWorker(db, meta.outbox_handlers(), max_attempts=1, on_failure=meta.on_outbox_failure)
    await worker.run_once()
    assert (await outbox_rows(db, "meta.reply"))[0].status == "failed"
    task = await task_for_comment(db, comment_id)
    assert task.pending_action is None and task.status == "open"
    notes = await outbox_rows(db, "slack.thread_note")
    assert len(notes) == 1 and "fleire forsøk" in notes[0].payload["text"]
    # A refusal the handler already reported is not reported again by the hook.
    fake.clear_failures()
    await services.tasks.hide(task.id, MODERATOR)
    fake.fail_next(1, code=200, method="POST")
    await worker.run_once()
    assert len(await outbox_rows(db, "slack.thread_note")) == 2
