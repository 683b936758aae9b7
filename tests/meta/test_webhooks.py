"""Webhooks through the real aiohttp route: handshake, signatures, the durable inbox and its processing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import metrics
from bot.app import build_services
from bot.config import Settings
from bot.meta.component import MetaComponent
from storage.db import Database
from storage.models import (
    AuditEvent,
    ClassificationRow,
    CommentRow,
    InboxEvent,
    OutboxMessage,
    TaskRow,
)
from tests.fakes.graph_api import (
    FakeGraphAPI,
    feed_change_payload,
    instagram_comment_payload,
    sign,
    webhook_body,
)
from tests.meta.conftest import APP_SECRET, FB_PAGE_ID, IG_USER_ID, VERIFY_TOKEN, all_rows, count

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"
POST_TEXT = "Symjehallen i Florø opnar att 1. september klokka 10."


async def deliver(
    http: httpx.AsyncClient, url: str, body: bytes, signature: str | None = "valid"
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "valid":
        headers["X-Hub-Signature-256"] = sign(APP_SECRET, body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await http.post(url, content=body, headers=headers)


async def deliver_payload(http: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> httpx.Response:
    response = await deliver(http, url, webhook_body(payload))
    assert response.status_code == 200, response.text
    return response


def latency_observations() -> float:
    return metrics.REGISTRY.get_sample_value("kommentarvakt_webhook_to_task_seconds_count") or 0.0


def fixture_body(name: str, **replacements: str) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in replacements.items():
        text = text.replace(key, value)
    return text.encode("utf-8")


@pytest.fixture
def post_id(fake: FakeGraphAPI) -> str:
    return fake.add_post(FB_PAGE_ID, POST_TEXT, created_time=int(time.time()) - 3600)


# ---------------------------------------------------------------------- handshake


async def test_the_handshake_echoes_the_challenge_for_the_right_token(
    webhook_url: str, http: httpx.AsyncClient
) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}
    response = await http.get(webhook_url, params=params)
    assert response.status_code == 200 and response.text == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "wrong"},
        {"hub.mode": "unsubscribe", "hub.challenge": "42", "hub.verify_token": VERIFY_TOKEN},
        {"hub.challenge": "42"},
    ],
)
async def test_the_handshake_is_refused_otherwise(
    webhook_url: str, http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await http.get(webhook_url, params=params)
    assert response.status_code == 403 and "42" not in response.text


# ---------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", "garbage", sign("another-secret", b"{}")],
)
async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    webhook_url: str, http: httpx.AsyncClient, db: Database, post_id: str, signature: str | None
) -> None:
    body = webhook_body(feed_change_payload(FB_PAGE_ID, post_id, "1_1"))
    response = await deliver(http, webhook_url, body, signature)
    assert response.status_code in (401, 403)
    assert await count(db, InboxEvent) == 0


async def test_the_signature_is_checked_over_the_raw_bytes(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, post_id: str
) -> None:
    payload = feed_change_payload(
        FB_PAGE_ID, post_id, "9_1", message="Kvifor er det så dyrt å bade? Ærleg talt."
    )
    raw = webhook_body(payload)  # Meta's bytes: non-ASCII escaped as \u00c6
    assert b"\\u00c6rleg" in raw
    reserialised = json.dumps(payload, ensure_ascii=False).encode()
    refused = await deliver(http, webhook_url, reserialised, sign(APP_SECRET, raw))
    assert refused.status_code == 403
    accepted = await deliver(http, webhook_url, raw)
    assert accepted.status_code == 200
    await meta.inbox.process_pending()
    row = (await all_rows(db, CommentRow))[0]
    assert row.text == "Kvifor er det så dyrt å bade? Ærleg talt."


async def test_a_valid_delivery_is_stored_raw_and_answered_at_once(
    webhook_url: str, http: httpx.AsyncClient, db: Database, post_id: str
) -> None:
    raw = webhook_body(feed_change_payload(FB_PAGE_ID, post_id, "1_1"))
    response = await deliver(http, webhook_url, raw)
    assert response.status_code == 200
    events = await all_rows(db, InboxEvent)
    assert [(event.status, event.body.encode()) for event in events] == [("pending", raw)]
    assert await count(db, CommentRow) == 0  # processing happens after the answer


# ---------------------------------------------------------------------- processing


async def test_a_new_comment_becomes_a_task_with_the_fetched_post_text(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    first = fake.add_comment(post_id, "Kor mykje kostar eit årskort?", from_id="501")
    second = fake.add_comment(post_id, "Er det open på søndagar?", from_id="502")
    observed_before = latency_observations()
    for comment_id in (first, second):
        await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    await meta.inbox.process_pending()
    rows = await all_rows(db, CommentRow, order_by=CommentRow.id)
    assert [row.external_id for row in rows] == [first, second]
    assert rows[0].post.text == POST_TEXT and rows[0].author_id == "501"
    assert rows[0].permalink and "comment_id=" in rows[0].permalink
    assert await count(db, TaskRow) == 2
    assert len(fake.requests_to(f"/{post_id}", "GET")) == 1  # fetched once, then known
    assert [event.status for event in await all_rows(db, InboxEvent)] == ["done", "done"]
    assert latency_observations() == observed_before + 2


async def test_duplicate_deliveries_store_one_comment_and_one_task(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Kva tid stengjer dei i kveld?")
    for _ in range(3):
        await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    await meta.inbox.process_pending()
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    await meta.inbox.process_pending()
    assert await count(db, CommentRow) == 1
    assert await count(db, TaskRow) == 1
    assert await count(db, OutboxMessage, OutboxMessage.kind == "slack.post_task") == 1


async def test_webhooks_and_polling_together_store_each_comment_once(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    by_webhook = fake.add_comment(post_id, "Kjem det fleire badetider?")
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(by_webhook))
    await meta.inbox.process_pending()
    by_poll = fake.add_comment(post_id, "Kva med pensjonistrabatt?")
    page = meta.settings.pages[0]
    await meta.syncer().sync_page(page)
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(by_poll))  # arrives after the poll
    await meta.inbox.process_pending()
    await meta.syncer().sync_page(page)
    assert sorted(row.external_id for row in await all_rows(db, CommentRow)) == sorted([by_webhook, by_poll])
    assert await count(db, TaskRow) == 2
    assert await count(db, OutboxMessage, OutboxMessage.kind == "slack.post_task") == 2


async def test_an_edit_updates_the_task_and_is_reclassified(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Gler meg til opninga!")
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    await meta.inbox.process_pending()
    fake.edit_comment(
        comment_id, "Eg vil klage på vedtaket om avslag på søknaden min. Kven sender eg det til?"
    )
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id, "edited"))
    await meta.inbox.process_pending()
    row = (await all_rows(db, CommentRow))[0]
    assert row.is_edited and row.text.startswith("Eg vil klage")
    assert await count(db, ClassificationRow) == 2
    notes = await all_rows(db, OutboxMessage, OutboxMessage.kind == "slack.thread_note")
    assert len(notes) == 1 and "endra" in notes[0].payload["text"]


async def test_an_edit_before_its_add_creates_the_comment_and_the_late_add_changes_nothing(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Første versjon")
    add = fake.webhook_payload_for(comment_id)
    fake.edit_comment(comment_id, "Andre versjon: når opnar symjehallen?")
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id, "edited"))
    await deliver_payload(http, webhook_url, add)
    await meta.inbox.process_pending()
    row = (await all_rows(db, CommentRow))[0]
    assert row.text == "Andre versjon: når opnar symjehallen?"
    assert await count(db, TaskRow) == 1 and await count(db, ClassificationRow) == 1


async def test_a_removal_closes_the_task(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Dette er berre tull")
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    await meta.inbox.process_pending()
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id, "remove"))
    await deliver_payload(
        http, webhook_url, fake.webhook_payload_for(comment_id, "remove")
    )  # again: harmless
    await meta.inbox.process_pending()
    task = (await all_rows(db, TaskRow))[0]
    assert task.status == "closed" and task.comment.is_deleted
    assert await count(db, AuditEvent, AuditEvent.action == "comment_removed") == 1


async def test_a_removal_before_its_add_leaves_a_tombstone_that_the_add_cannot_resurrect(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Skrive og sletta med ein gong")
    add = fake.webhook_payload_for(comment_id)
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id, "remove"))
    await meta.inbox.process_pending()
    await deliver_payload(http, webhook_url, add)
    await meta.inbox.process_pending()
    rows = await all_rows(db, CommentRow)
    assert [(row.external_id, row.is_deleted) for row in rows] == [(comment_id, True)]
    assert await count(db, TaskRow) == 0
    assert await count(db, OutboxMessage) == 0


async def test_an_instagram_comment_gets_the_media_caption(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, fake: FakeGraphAPI
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Ny gangveg langs sjøen er opna")
    comment_id = fake.add_ig_comment(media_id, "Kor lang er han?", from_id="1784999", username="ola.n")
    reply_id = fake.add_ig_reply(comment_id, "Om lag 2 km", from_id=IG_USER_ID, username="kinnkommune")
    for cid in (comment_id, reply_id):
        await deliver_payload(http, webhook_url, fake.webhook_payload_for(cid))
    await meta.inbox.process_pending()
    rows = {row.external_id: row for row in await all_rows(db, CommentRow)}
    assert rows[comment_id].post.text == "Ny gangveg langs sjøen er opna"
    assert rows[comment_id].author_name == "ola.n"
    assert rows[reply_id].parent_external_id == comment_id and rows[reply_id].is_from_page
    assert await count(db, TaskRow) == 1
    assert len(fake.requests_to(f"/{media_id}", "GET")) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b'{"object": "page", "entry": "nope"}', "list"),
        (b'{"object": "page", "entry": []}', "no entries"),
        (b'{"object": "whatsapp_business_account", "entry": [{"id": "1"}]}', "object"),
        (
            b'{"object": "page", "entry": [{"id": "111", "changes": [{"field": "feed", "value":'
            b' {"item": "comment", "verb": "add", "post_id": "111_1"}}]}]}',
            "comment_id",
        ),
    ],
)
async def test_malformed_signed_bodies_are_marked_failed_without_a_crash(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, body: bytes, reason: str
) -> None:
    response = await deliver(http, webhook_url, body)
    assert response.status_code == 200
    processed = await meta.inbox.process_pending()
    assert processed == 1
    event = (await all_rows(db, InboxEvent))[0]
    assert event.status == "failed" and reason in (event.last_error or "")
    assert await count(db, CommentRow) == 0


async def test_good_changes_in_a_partly_malformed_delivery_are_kept(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Kva med parkering?")
    payload = fake.webhook_payload_for(comment_id)
    payload["entry"][0]["changes"].append({"field": "feed", "value": "not an object"})
    await deliver_payload(http, webhook_url, payload)
    await meta.inbox.process_pending()
    assert [row.external_id for row in await all_rows(db, CommentRow)] == [comment_id]
    event = (await all_rows(db, InboxEvent))[0]
    assert event.status == "failed" and "change 2" in (event.last_error or "")


async def test_changes_that_are_not_comments_or_for_unknown_pages_are_ignored(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, post_id: str
) -> None:
    reaction = feed_change_payload(FB_PAGE_ID, post_id, "1_5", item="reaction")
    stranger = feed_change_payload("999999", "999999_1", "1_6")
    for payload in (reaction, stranger):
        await deliver_payload(http, webhook_url, payload)
    await meta.inbox.process_pending()
    events = await all_rows(db, InboxEvent, order_by=InboxEvent.id)
    assert [event.status for event in events] == ["done", "done"]
    assert "no [[pages]] entry for facebook 999999" in (events[1].last_error or "")
    assert await count(db, CommentRow) == 0


async def test_captured_payload_files_are_processed(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, fake: FakeGraphAPI
) -> None:
    fake.add_post(FB_PAGE_ID, POST_TEXT, post_id=f"{FB_PAGE_ID}_1234567890")
    media_id = fake.add_media(IG_USER_ID, "Vinterbilete frå Florø", media_id="17900000000000777")
    for name in ("feed_comment_add.json", "feed_comment_reply_no_from.json", "instagram_comment.json"):
        response = await deliver(http, webhook_url, fixture_body(name))
        assert response.status_code == 200
    await meta.inbox.process_pending()
    rows = {row.external_id: row for row in await all_rows(db, CommentRow)}
    assert set(rows) == {"1234567890_5550001", "1234567890_5550002", "17900000000000888"}
    assert rows["1234567890_5550002"].author_id is None
    assert rows["1234567890_5550002"].parent_external_id == "1234567890_5550001"
    assert rows["17900000000000888"].post.text == "Vinterbilete frå Florø" and media_id
    assert [event.status for event in await all_rows(db, InboxEvent)] == ["done"] * 3


async def test_the_running_component_processes_deliveries_in_the_background(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    await meta.start()
    comment_id = fake.add_comment(post_id, "Kan eg ta med hunden på stranda?")
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    for _ in range(200):
        if await count(db, TaskRow):
            break
        await asyncio.sleep(0.05)
    assert await count(db, TaskRow) == 1
    await meta.stop()
    assert (await all_rows(db, InboxEvent))[0].status == "done"


async def test_deliveries_left_by_a_crash_are_processed_after_their_lease(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    meta: MetaComponent,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    comment_id = fake.add_comment(post_id, "Kvifor er vegen stengd?")
    await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    claimed = await meta.inbox._claim()  # a process claims the row, then dies
    assert len(claimed) == 1
    assert await meta.inbox.process_pending() == 0  # still leased to the dead process
    async with db.session() as session:
        event = await session.get(InboxEvent, claimed[0].id)
        assert event is not None
        event.claimed_until = event.received_at  # the lease runs out
    assert await meta.inbox.process_pending() == 1
    assert await count(db, TaskRow) == 1


async def test_instagram_payload_helper_matches_what_we_parse(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, fake: FakeGraphAPI
) -> None:
    media_id = fake.add_media(IG_USER_ID, "Turstiar")
    payload = instagram_comment_payload(
        IG_USER_ID, "17900000000000999", "Kor startar stien?", media_id, from_id=None
    )
    await deliver_payload(http, webhook_url, payload)
    await meta.inbox.process_pending()
    row = (await all_rows(db, CommentRow))[0]
    assert (row.external_id, row.author_id, row.text) == ("17900000000000999", None, "Kor startar stien?")


async def test_without_the_app_secret_deliveries_are_refused_and_nothing_is_stored(
    webhook_url: str, http: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("META_APP_SECRET")
    body = webhook_body(feed_change_payload(FB_PAGE_ID, f"{FB_PAGE_ID}_1", "1_1"))
    response = await deliver(http, webhook_url, body)
    assert response.status_code == 503
    assert await count(db, InboxEvent) == 0


async def test_a_raw_nul_byte_is_refused_and_an_escaped_one_is_dropped(
    webhook_url: str, http: httpx.AsyncClient, db: Database, meta: MetaComponent, post_id: str
) -> None:
    raw = webhook_body(feed_change_payload(FB_PAGE_ID, post_id, "1_7", message="Hei"))
    refused = await deliver(http, webhook_url, raw + b"\x00")
    assert refused.status_code == 400 and await count(db, InboxEvent) == 0
    escaped = webhook_body(
        feed_change_payload(FB_PAGE_ID, post_id, "1_8", message="Hei\x00 der", from_name="K\x00ari")
    )
    assert b"\\u0000" in escaped
    assert (await deliver(http, webhook_url, escaped)).status_code == 200
    await meta.inbox.process_pending()
    row = (await all_rows(db, CommentRow))[0]
    assert (row.text, row.author_name) == ("Hei der", "Kari")


async def test_two_processes_never_claim_the_same_delivery(
    webhook_url: str,
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    fake: FakeGraphAPI,
    post_id: str,
) -> None:
    for number in range(30):
        comment_id = fake.add_comment(post_id, f"Spørsmål {number}")
        await deliver_payload(http, webhook_url, fake.webhook_payload_for(comment_id))
    others = [Database(db.url) for _ in range(3)]
    try:
        processors = [MetaComponent(build_services(settings, other)).inbox for other in others]
        claims = await asyncio.gather(*(processor._claim() for processor in processors for _ in range(2)))
    finally:
        for other in others:
            await other.close()
    claimed = [event.id for claim in claims for event in claim]
    assert len(claimed) == len(set(claimed)) == 30
