"""Polling sync against the fake Graph API on both databases: cost, paging, dedup, edits, errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.meta.component import MetaComponent, poll_cron
from bot.meta.sync import OVERLAP, PageSyncResult
from bot.runtime import Services
from bot.scheduler import cron_trigger
from storage.db import Database
from storage.models import (
    AuditEvent,
    ClassificationRow,
    CommentRow,
    OutboxMessage,
    Page,
    Post,
    SyncState,
    TaskRow,
)
from tests.fakes.graph_api import FakeGraphAPI
from tests.meta.conftest import (
    ADMIN_CHANNEL,
    FB_PAGE_ID,
    FB_TOKEN,
    FB_TOKEN_ENV,
    IG_USER_ID,
    all_rows,
    count,
)

HOUR_S = 3600


def ago(seconds: float) -> int:
    return int(time.time() - seconds)


async def sync(
    meta: MetaComponent, platform: str = "facebook", backfill_days: int | None = None
) -> PageSyncResult:
    page = next(p for p in meta.settings.pages if p.platform == platform)
    return await meta.syncer().sync_page(page, backfill_days=backfill_days)


async def comment_ids(db: Database, platform: str = "facebook") -> list[str]:
    rows = await all_rows(db, CommentRow, CommentRow.platform == platform, order_by=CommentRow.external_id)
    return [row.external_id for row in rows]


def seed_thread(fake: FakeGraphAPI, comments: int = 3, *, at: int | None = None) -> tuple[str, list[str]]:
    created = at or ago(2 * HOUR_S)
    post_id = fake.add_post(
        FB_PAGE_ID, "Symjehallen opnar 1. september klokka 10.", created_time=created - 60
    )
    ids = [
        fake.add_comment(
            post_id, f"Kva kostar årskort nummer {n}?", from_id=f"90{n}", created_time=created + n
        )
        for n in range(comments)
    ]
    return post_id, ids


async def test_new_comments_and_replies_become_tasks_with_the_post_text(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    post_id, (first, _second, _third) = seed_thread(fake)
    reply = fake.add_comment(first, "Eg lurer på det same!", from_id="955", created_time=ago(HOUR_S))
    result = await sync(meta)
    assert not result.errors
    assert (result.new_comments, result.tasks, result.calls) == (4, 4, 1)
    rows = await all_rows(db, CommentRow)
    assert {row.external_id for row in rows} == {*_ids(fake, post_id)}
    stored_reply = next(row for row in rows if row.external_id == reply)
    assert stored_reply.parent_external_id == first
    posts = await all_rows(db, Post)
    assert [(p.external_id, p.text) for p in posts] == [
        (post_id, "Symjehallen opnar 1. september klokka 10.")
    ]
    assert all(row.post_id == posts[0].id for row in rows)
    assert await count(db, TaskRow) == 4
    assert await count(db, OutboxMessage, OutboxMessage.kind == "slack.post_task") == 4


def _ids(fake: FakeGraphAPI, post_id: str) -> list[str]:
    return [cid for cid, comment in fake.comments.items() if comment.post_id == post_id]


async def test_repeated_syncs_store_every_comment_exactly_once(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    post_id, _ = seed_thread(fake, comments=5)
    await sync(meta)
    await sync(meta)
    fake.add_comment(post_id, "Ein ny kommentar etter første synk")
    third = await sync(meta)
    fourth = await sync(meta)
    assert (third.new_comments, fourth.new_comments) == (1, 0)
    assert await count(db, CommentRow) == 6
    assert await count(db, TaskRow) == 6
    assert await count(db, OutboxMessage, OutboxMessage.kind == "slack.post_task") == 6


async def test_a_quiet_facebook_page_costs_exactly_one_call(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    for _ in range(3):
        seed_thread(fake, comments=4, at=ago(3 * HOUR_S))
    await sync(meta)
    fake.reset_requests()
    result = await sync(meta)
    assert result.calls == 1 and fake.call_count == 1 and result.new_comments == 0
    request = fake.requests[0]
    assert request.path.endswith(f"/{FB_PAGE_ID}/published_posts")
    state = (await all_rows(db, SyncState))[0]
    assert state.newest_created_time is not None
    assert int(request.query["since"]) == int((state.newest_created_time - OVERLAP).timestamp())
    assert "comments.limit(100).filter(stream).since(" in request.query["fields"]


async def test_an_empty_page_costs_one_call_too(meta: MetaComponent, fake: FakeGraphAPI) -> None:
    result = await sync(meta)
    assert (result.calls, result.new_comments, result.errors) == (1, 0, [])


async def test_a_quiet_instagram_account_costs_exactly_one_call(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Sommaropning på biblioteket", timestamp=ago(5 * HOUR_S))
    for n in range(60):  # more than one page of comments
        fake.add_ig_comment(media_id, f"Kjekt {n}!", from_id=f"178414{n}", timestamp=ago(4 * HOUR_S - n))
    first = await sync(meta, "instagram")
    assert first.new_comments == 60 and first.calls == 2
    fake.reset_requests()
    second = await sync(meta, "instagram")
    assert (second.calls, fake.call_count, second.new_comments) == (1, 1, 0)
    assert await count(db, CommentRow, CommentRow.platform == "instagram") == 60


async def test_paging_is_followed_to_the_end_on_every_level(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    busy_post = fake.add_post(FB_PAGE_ID, "Brøyting i vinter", created_time=ago(10 * HOUR_S))
    for n in range(130):  # more than the 100 comments expanded inside the posts request
        fake.add_comment(
            busy_post, f"Når kjem brøytebilen {n}?", from_id=f"7{n}", created_time=ago(9 * HOUR_S - n)
        )
    for n in range(30):  # more than 25 posts: the posts edge pages too
        post = fake.add_post(FB_PAGE_ID, f"Innlegg {n}", created_time=ago(8 * HOUR_S - n))
        fake.add_comment(post, f"Kommentar til innlegg {n}", created_time=ago(7 * HOUR_S - n))
    result = await sync(meta)
    assert not result.errors
    assert result.new_comments == 160
    assert result.calls == 3  # posts page 1, posts page 2, the busy post's second page of comments
    assert await count(db, CommentRow) == 160
    assert await count(db, Post) == 31


async def test_instagram_comments_and_replies_are_paged_to_the_end(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Ny badeplass i Florø", timestamp=ago(6 * HOUR_S))
    top = [fake.add_ig_comment(media_id, f"Fint {n}", timestamp=ago(5 * HOUR_S - n)) for n in range(70)]
    replies = [fake.add_ig_reply(top[0], f"Svar {n}", timestamp=ago(4 * HOUR_S - n)) for n in range(55)]
    fake.add_ig_comment(media_id, "Eigen kommentar frå kontoen", from_id=IG_USER_ID, username="kinnkommune")
    result = await sync(meta, "instagram")
    assert not result.errors
    assert result.new_comments == 70 + 55 + 1
    stored = await all_rows(db, CommentRow, CommentRow.platform == "instagram")
    by_id = {row.external_id: row for row in stored}
    assert all(by_id[reply].parent_external_id == top[0] for reply in replies)
    assert all(row.post.text == "Ny badeplass i Florø" for row in stored)
    assert sum(row.is_from_page for row in stored) == 1
    assert await count(db, TaskRow) == 70 + 55


async def test_a_new_reply_on_an_old_instagram_comment_is_found(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Kulturhuset", timestamp=ago(20 * HOUR_S))
    old = [fake.add_ig_comment(media_id, f"Gammal {n}", timestamp=ago(19 * HOUR_S - n)) for n in range(60)]
    await sync(meta, "instagram")
    reply = fake.add_ig_reply(old[0], "Nytt svar på ein gammal kommentar")
    result = await sync(meta, "instagram")
    assert result.new_comments == 1
    assert reply in await comment_ids(db, "instagram")


async def test_comments_by_the_page_are_context_without_a_task(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    _post_id, (first, *_rest) = seed_thread(fake, comments=1)
    fake.add_comment(
        first, "Takk for spørsmålet! Det kostar 3000 kr.", from_id=FB_PAGE_ID, from_name="Kinn kommune"
    )
    result = await sync(meta)
    assert (result.new_comments, result.from_page, result.tasks) == (2, 1, 1)
    page_rows = await all_rows(db, CommentRow, CommentRow.is_from_page.is_(True))
    assert len(page_rows) == 1 and page_rows[0].author_id == FB_PAGE_ID


async def test_a_comment_without_from_is_stored_with_an_unknown_author(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    post_id = fake.add_post(FB_PAGE_ID, "Vegarbeid", created_time=ago(HOUR_S))
    comment_id = fake.add_comment(
        post_id, "Kor lenge varer dette?", omit_from=True, created_time=ago(HOUR_S - 5)
    )
    result = await sync(meta)
    assert result.tasks == 1
    row = (await all_rows(db, CommentRow))[0]
    assert (row.external_id, row.author_id, row.author_name, row.is_from_page) == (
        comment_id,
        None,
        None,
        False,
    )


async def test_an_edit_seen_by_polling_updates_the_text_and_reclassifies(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    _post_id, (comment_id,) = seed_thread(fake, comments=1, at=ago(60))
    await sync(meta)
    fake.edit_comment(
        comment_id, "Eg vil klage på vedtaket om avslag på søknaden min. Kven sender eg klaga til?"
    )
    result = await sync(meta)
    assert result.edited == 1 and result.new_comments == 0
    row = (await all_rows(db, CommentRow))[0]
    assert row.is_edited and row.text.startswith("Eg vil klage")
    assert await count(db, ClassificationRow) == 2
    assert await count(db, OutboxMessage, OutboxMessage.kind == "slack.thread_note") == 1


async def test_backfill_days_reaches_further_back_than_a_first_sync(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    old_post = fake.add_post(FB_PAGE_ID, "Gammalt innlegg", created_time=ago(6 * 24 * HOUR_S))
    old_comment = fake.add_comment(old_post, "Gammal kommentar", created_time=ago(5 * 24 * HOUR_S))
    _post, (recent,) = seed_thread(fake, comments=1)
    first = await sync(meta)
    assert await comment_ids(db) == [recent] and first.new_comments == 1
    backfill = await sync(meta, backfill_days=7)
    assert backfill.new_comments == 1
    assert sorted(await comment_ids(db)) == sorted([recent, old_comment])


async def test_the_cursor_limit_on_long_threads_is_worked_around_by_time(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    post_id = fake.add_post(FB_PAGE_ID, "Langt ordskifte", created_time=ago(10 * HOUR_S))
    for n in range(260):
        fake.add_comment(post_id, f"Innlegg i debatten {n}", created_time=ago(9 * HOUR_S - 10 * n))
    fake.max_after_offset = 150
    result = await sync(meta)
    assert not result.errors
    assert await count(db, CommentRow) == 260


async def test_graph_paging_bugs_never_loop_forever(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    for _ in range(30):
        seed_thread(fake, comments=1)
    fake.ignore_after_cursor = True  # every page repeats the first one and `next` never goes away
    result = await sync(meta)
    assert not result.errors and result.calls <= 3
    assert await count(db, CommentRow) == 25  # what could be read, each once


async def test_an_empty_first_page_with_next_is_followed(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    seed_thread(fake, comments=3)
    fake.empty_first_page = True
    result = await sync(meta)
    assert result.new_comments == 3 and await count(db, CommentRow) == 3


async def test_a_rate_limited_page_fails_alone_and_keeps_its_watermark(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    seed_thread(fake, comments=2)
    media_id = fake.add_media(IG_USER_ID, "Bilete", timestamp=ago(HOUR_S))
    fake.add_ig_comment(media_id, "Flott!")
    fake.fail_next(1, code=80001, estimated_time_to_regain_access=10, path_contains=f"/{FB_PAGE_ID}/")
    facebook, instagram = await meta.syncer().sync_all()
    assert facebook.failed and "rate limited" in facebook.errors[0]
    assert not instagram.failed and instagram.new_comments == 1
    states = {state.page_id: state for state in await all_rows(db, SyncState)}
    pages = {page.external_id: page.id for page in await all_rows(db, Page)}
    assert states[pages[FB_PAGE_ID]].consecutive_failures == 1
    assert states[pages[FB_PAGE_ID]].newest_created_time is None
    calls = fake.call_count
    again = await sync(meta)
    assert again.failed and fake.call_count == calls  # still locked out: no call made


async def test_a_dead_token_pauses_only_that_page_and_alerts_the_admins_once(
    meta: MetaComponent, services: Services, fake: FakeGraphAPI, db: Database
) -> None:
    seed_thread(fake, comments=2)
    media_id = fake.add_media(IG_USER_ID, "Bilete", timestamp=ago(HOUR_S))
    fake.add_ig_comment(media_id, "Flott!")
    fake.expire_token(FB_TOKEN, subcode=463)
    facebook, instagram = await meta.syncer().sync_all()
    assert facebook.failed and "paused" in facebook.errors[0]
    assert instagram.new_comments == 1
    page = (await all_rows(db, Page, Page.external_id == FB_PAGE_ID))[0]
    assert page.paused and page.paused_reason.startswith("token:") and "gått ut" in page.paused_reason
    alerts = await all_rows(db, OutboxMessage, OutboxMessage.kind == "slack.alert")
    assert len(alerts) == 1 and alerts[0].lane == f"slack:{ADMIN_CHANNEL}"
    text = alerts[0].payload["text"]
    assert "lag eit nytt sidetilgangstoken" in text and FB_TOKEN_ENV in text
    assert f"/kommentarvakt resume {FB_PAGE_ID}" in text and FB_TOKEN not in text
    health = await meta.health()
    assert not health["ok"] and health["pages"][0]["paused"]

    calls = fake.call_count
    paused = await sync(meta)
    assert paused.paused and paused.calls == 0 and fake.call_count == calls
    assert await count(db, OutboxMessage, OutboxMessage.kind == "slack.alert") == 1

    fake.restore_token(FB_TOKEN)
    outcome = await services.admin.set_paused("UADMIN", FB_PAGE_ID, False)
    assert outcome.ok and outcome.changed
    resumed = await sync(meta)
    assert not resumed.failed and resumed.new_comments == 2
    assert await count(db, AuditEvent, AuditEvent.action == "page_paused") == 1
    assert (await meta.health())["ok"]


async def test_a_missing_token_variable_is_an_error_naming_the_key(
    meta: MetaComponent, fake: FakeGraphAPI, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(FB_TOKEN_ENV)
    facebook, instagram = await meta.syncer().sync_all()
    assert facebook.failed and "pages.0.access_token_env" in facebook.errors[0]
    assert FB_TOKEN_ENV in facebook.errors[0]
    assert not instagram.failed


async def test_health_reports_the_last_successful_sync(meta: MetaComponent, fake: FakeGraphAPI) -> None:
    before = await meta.health()
    assert before["ok"] and before["pages"][0]["last_success_at"] is None
    await meta.syncer().sync_all()
    after = await meta.health()
    stamps = [datetime.fromisoformat(page["last_success_at"]) for page in after["pages"]]
    assert after["ok"] and all(stamp <= datetime.now(UTC) for stamp in stamps)


async def test_tasks_are_queued_for_the_page_channel(
    meta: MetaComponent, fake: FakeGraphAPI, db: Database
) -> None:
    seed_thread(fake, comments=1)
    await sync(meta)
    async with db.session() as session:
        message = (await session.execute(select(OutboxMessage))).scalar_one()
    assert message.kind == "slack.post_task" and message.lane == "slack:CFB"


def test_the_poll_job_fires_about_every_poll_interval() -> None:
    assert poll_cron(300) == "*/5 * * * *"
    assert poll_cron(10) == "*/1 * * * *"
    assert poll_cron(7200) == "0 */2 * * *"
    assert poll_cron(172800) == "0 0 * * *"


async def test_the_poll_job_syncs_every_page(meta: MetaComponent, fake: FakeGraphAPI, db: Database) -> None:
    [job] = meta.jobs()
    assert job.name == "meta.poll" and job.cron == "*/5 * * * *"
    cron_trigger(job.cron, ZoneInfo("Europe/Oslo"), job.name)  # the scheduler accepts it
    seed_thread(fake, comments=2)
    media_id = fake.add_media(IG_USER_ID, "Bilete", timestamp=ago(HOUR_S))
    fake.add_ig_comment(media_id, "Flott!")
    await job.run()
    assert await count(db, CommentRow) == 3
