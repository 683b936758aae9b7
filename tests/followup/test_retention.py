"""Privacy: the retention purge and the right to erasure, on real data in both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.followup.retention import erase_author, purge_expired
from bot.forwarding import mark_forwarded
from bot.runtime import Services
from storage import outbox as queue
from storage import repository as repo
from storage.db import Database
from storage.models import CommentRow, OutboxMessage, Post
from tests.followup.conftest import (
    BYGG,
    INQUIRY,
    MODERATOR,
    OSLO,
    POST_TEXT,
    audit_events,
    ingest,
    make_settings,
    oslo,
    outbox,
    task,
)

COMPLAINT = "Det er heilt uforståeleg at gangvegen til skulen framleis ikkje er brøyta. Dårleg gjort!"
REPLY = "Hei Kari! Takk for at du sa ifrå. Brøytemannskapet er på veg til gangvegen no."
CREATED = oslo(2026, 5, 11, 10)


async def comment(db: Database, external_id: str) -> CommentRow:
    async with db.session() as session:
        return (
            await session.execute(select(CommentRow).where(CommentRow.external_id == external_id))
        ).scalar_one()


async def retention_scenario(services: Services) -> dict[str, int]:
    db = services.db
    closed = await ingest(services, "c1", COMPLAINT, created=CREATED)
    forwarded = await ingest(
        services, "c2", INQUIRY, created=CREATED, author_id="fb-per", author_name="Per Hansen"
    )
    still_open = await ingest(services, "c3", COMPLAINT + " Igjen.", created=CREATED, author_id="fb-eva")
    await ingest(
        services,
        "p1",
        "Takk for meldinga, vi ser på det.",
        created=CREATED,
        author_id="page-100",
        author_name="Kinn kommune",
        parent_id="c1",
        from_page=True,
    )
    assert closed and forwarded and still_open
    assert (await services.tasks.publish(closed, MODERATOR, REPLY)).changed
    assert (await services.tasks.mark_handled(closed, MODERATOR)).changed
    await services.tasks.forward(forwarded, MODERATOR)
    await mark_forwarded(
        db,
        forwarded,
        actor=MODERATOR,
        address="postmottak@kinn.kommune.no",
        reference=f"KV-2026-{forwarded}",
        now=datetime.now(UTC),
        zone=OSLO,
    )
    return {"closed": closed, "forwarded": forwarded, "open": still_open}


async def test_purge_redacts_closed_tasks_after_the_retention_and_keeps_the_rest(
    services: Services, db: Database
) -> None:
    tasks = await retention_scenario(services)
    async with db.session() as session:
        [first] = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id).limit(1))).scalars()
        await queue.complete(session, first.id)

    early = await purge_expired(db, services.settings, datetime.now(UTC) + timedelta(days=89))
    assert early["comments_redacted"] == 0 and (await comment(db, "c1")).text == COMPLAINT

    later = datetime.now(UTC) + timedelta(days=91)
    summary = await purge_expired(db, services.settings, later)

    assert summary["tasks"] == 1 and summary["kept_forwarded"] == 1 and summary["outbox_deleted"] == 1
    purged = await comment(db, "c1")
    assert (purged.text, purged.author_id, purged.author_name, purged.permalink) == (None, None, None, None)
    assert purged.redacted_at == later
    closed = await task(db, tasks["closed"])
    assert closed.suggested_reply is None and closed.reply_note is None
    assert closed.final_reply == REPLY  # the municipality's own words stay
    assert (await comment(db, "c2")).text == INQUIRY  # forwarded: kept for the archive
    assert (await comment(db, "c3")).author_name == "Kari Nordmann"  # open tasks are never purged
    assert (await comment(db, "p1")).text == "Takk for meldinga, vi ser på det."  # the page's own comment
    async with db.session() as session:
        assert (await session.execute(select(Post.text))).scalar_one() == POST_TEXT
    runs = await audit_events(db, "purged")  # every run is recorded, also one that found nothing
    assert [event.detail["comments"] for event in runs] == [0, 1]
    assert runs[-1].detail["retention_days"] == 90
    refresh = [
        m
        for m in await outbox(db, ["slack.update_task"])
        if m.dedupe_key == f"followup.redacted:{tasks['closed']}"
    ]
    assert len(refresh) == 1

    again = await purge_expired(db, services.settings, later)
    assert again["comments_redacted"] == 0


async def test_forwarded_tasks_are_purged_too_when_not_kept(services: Services, db: Database) -> None:
    await retention_scenario(services)
    settings = make_settings(db.url, retention={"days": 30, "keep_forwarded": False})

    summary = await purge_expired(db, settings, datetime.now(UTC) + timedelta(days=31))

    assert summary["tasks"] == 2
    assert (await comment(db, "c2")).text is None and (await comment(db, "c3")).text is not None


async def test_erase_removes_a_persons_comments_and_name_everywhere(services: Services, db: Database) -> None:
    kari_open = await ingest(services, "c1", COMPLAINT, created=CREATED)
    kari_done = await ingest(services, "c2", COMPLAINT + " Framleis.", created=oslo(2026, 5, 11, 11))
    ola = await ingest(
        services,
        "c3",
        "Same her, vegen er ikkje brøyta.",
        created=CREATED,
        author_id="fb-ola",
        author_name="Ola Olsen",
    )
    # Kari answers Ola: the note in Ola's thread quotes her by name.
    await ingest(
        services,
        "c4",
        "Ja, og ingen tek telefonen i kommunen heller.",
        created=oslo(2026, 5, 11, 12),
        parent_id="c3",
    )
    on_instagram = await ingest(services, "i1", COMPLAINT, created=CREATED, page=BYGG, post_id="200_1")
    assert kari_open and kari_done and ola and on_instagram
    await services.tasks.publish(kari_done, MODERATOR, REPLY)
    await services.tasks.mark_handled(kari_done, MODERATOR)
    async with db.session() as session:  # a detail another part wrote with the person's name in it
        repo.audit(
            session, "system", "comment_flagged", task_id=kari_open, note="Kari Nordmann skreiv to gonger"
        )
    assert any(
        "Kari Nordmann svara i tråden" in m.payload["text"] for m in await outbox(db, ["slack.thread_note"])
    )

    summary = await erase_author(db, "fb-kari", "facebook")

    assert summary["comments"] == 3 and summary["tasks_closed"] == 2 and summary["platform"] == "facebook"
    for external_id in ("c1", "c2", "c4"):
        erased = await comment(db, external_id)
        assert (erased.text, erased.author_id, erased.author_name) == (None, None, None)
        assert erased.redacted_at is not None
    assert (await comment(db, "c3")).author_name == "Ola Olsen"
    assert (await comment(db, "i1")).author_id == "fb-kari"  # another platform was not asked for
    assert (await task(db, kari_open)).status == "closed"
    done = await task(db, kari_done)
    assert done.status == "handled" and done.final_reply == REPLY.replace("Kari", "[sletta]")
    texts = " ".join(str(m.payload) for m in await outbox(db))
    assert "Kari" not in texts and "ingen tek telefonen" not in texts
    events = await audit_events(db)
    assert not any("Kari" in str(event.detail) for event in events)
    [erased_event] = [event for event in events if event.action == "erased"]
    assert erased_event.actor == "cli" and "fb-kari" not in str(erased_event.detail)
    assert erased_event.detail["comments"] == 3

    everywhere = await erase_author(db, "fb-kari")
    assert everywhere["comments"] == 1 and (await comment(db, "i1")).text is None
