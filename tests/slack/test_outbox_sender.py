"""The Slack outbox handlers against the fake: rate limits, outages, failures, notes, grouping, others."""

from __future__ import annotations

import base64
import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import update

from bot.errors import PlatformError
from bot.outbox import OutboxWorker, PermanentFailure, RetryLater
from handlers.outbox_sender import SlackSender
from storage import repository as repo
from storage.models import OutboxMessage, TaskRow
from tests.fakes.slack_api import FakeView, dm_channel_id, interactive_body
from tests.slack.conftest import (
    ADMIN_CHANNEL,
    BOT_TOKEN,
    COMMENTS,
    KINN_CHANNEL,
    MODERATOR,
    SlackHarness,
    button_ids,
    message_text,
    wait_until,
)

PRAISE = [
    "Tusen takk for flott jobb med symjehallen!",
    "Så fint! Gler oss til opninga 😊",
    "Strålande, takk til alle som har jobba med dette!",
    "Endeleg! Kjempebra arbeid, kommune!",
    "Så flott at symjehallen opnar att, takk!",
    "Fantastisk, ungane gler seg veldig!",
    "Godt jobba alle saman 👏",
    "Kjempeflott, takk for at de held oss oppdaterte!",
    "Supert! Takk for informasjonen",
    "Heilt topp, dette har vi venta på!",
    "Så bra, tusen takk 🙌",
    "Flott arbeid, gler meg til å bade der igjen",
]


async def pending(slack: SlackHarness, kind: str) -> list[OutboxMessage]:
    return [row for row in await slack.outbox(kind) if row.status == "pending"]


async def run_until(slack: SlackHarness, check: Any, what: str) -> Any:
    """Let the worker run rounds (retries included) until `check` holds."""

    async def step() -> Any:
        await slack.worker.run_once()
        return await check()

    return await wait_until(step, timeout_s=15, what=what)


async def test_a_429_becomes_retry_later_and_the_channel_waits(slack: SlackHarness) -> None:
    task_id = await slack.ingest(COMMENTS["neutral"])
    slack.fake.rate_limit_next("chat.postMessage", 1, retry_after=7)
    [row] = await pending(slack, "slack.post_task")
    with pytest.raises(RetryLater) as info:
        await slack.component.sender.post_task(row)
    assert info.value.delay_s == 7
    slack.fake.rate_limit_next("chat.postMessage", 1, retry_after=7)
    await slack.worker.run_once()
    [row] = await pending(slack, "slack.post_task")
    assert row.attempts == 0  # a rate limit is not a failure
    assert row.next_attempt_at > datetime.now(UTC) + timedelta(seconds=5)
    assert (await slack.task(task_id or 0)).slack_ts is None


async def test_nothing_is_lost_while_slack_is_down(slack: SlackHarness) -> None:
    task_ids = [await slack.ingest(text) for text in (COMMENTS["neutral"], COMMENTS["negative"], PRAISE[0])]
    slack.fake.set_down(True)
    await slack.worker.run_once()
    rows = await pending(slack, "slack.post_task")
    assert len(rows) == 3 and all(row.attempts == 0 for row in rows)  # an outage is not a failed try
    assert any("503" in (row.last_error or "") for row in rows)
    head = min(rows, key=lambda row: (row.priority, row.id))
    waits = []
    for _ in range(12):  # a long outage: the waits grow, the message is never given up
        with pytest.raises(RetryLater) as info:
            await slack.component.sender.post_task(head)
        assert info.value.count_attempt is False
        waits.append(info.value.delay_s)
    assert max(waits) <= 60 and max(waits[-3:]) > min(waits[:2])
    slack.fake.set_down(False)

    async def all_posted() -> bool:
        return all([(await slack.task(task_id or 0)).slack_ts for task_id in task_ids])

    async with slack.services.db.session() as session:  # skip the wait the outage left behind
        await session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
    slack.worker = OutboxWorker(slack.services.db, slack.component.outbox_handlers(), poll_s=0.05)
    await run_until(slack, all_posted, "every task to be posted after the outage")
    assert len(slack.fake.messages(KINN_CHANNEL)) == 3
    assert [row.status for row in await slack.outbox("slack.post_task")] == ["done"] * 3


async def test_a_connection_error_waits_like_an_outage(slack: SlackHarness) -> None:
    await slack.ingest(COMMENTS["neutral"])
    [row] = await pending(slack, "slack.post_task")
    sender = SlackSender(slack.services, AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/"))
    with pytest.raises(RetryLater, match="cannot reach Slack"):
        await sender.post_task(row)


async def test_a_server_error_waits_and_is_not_counted_as_a_failure(slack: SlackHarness) -> None:
    await slack.ingest(COMMENTS["neutral"])
    slack.fake.fail_next("chat.postMessage", 1, status=500)
    [row] = await pending(slack, "slack.post_task")
    with pytest.raises(RetryLater) as info:
        await slack.component.sender.post_task(row)
    assert info.value.count_attempt is False and "HTTP 500" in str(info.value)


async def test_an_unexpected_slack_error_is_retried_with_backoff(slack: SlackHarness) -> None:
    await slack.ingest(COMMENTS["neutral"])
    slack.fake.error_next("chat.postMessage", 1, "fatal_error")
    [row] = await pending(slack, "slack.post_task")
    with pytest.raises(PlatformError, match="fatal_error"):
        await slack.component.sender.post_task(row)


async def test_a_missing_channel_fails_for_good_with_advice_and_alerts_the_admins(
    slack: SlackHarness,
) -> None:
    await slack.ingest(COMMENTS["neutral"])
    slack.fake.error_next("chat.postMessage", 1, "channel_not_found")
    await slack.worker.run_once()
    [row] = await slack.outbox("slack.post_task")
    assert row.status == "failed"
    assert "channel_not_found" in (row.last_error or "") and "channel id in the config" in (
        row.last_error or ""
    )
    await slack.drain()
    [alert] = slack.fake.messages(ADMIN_CHANNEL)
    assert KINN_CHANNEL in (alert.text or "")


async def test_an_invalid_token_says_which_variable_to_fix(slack: SlackHarness) -> None:
    await slack.ingest(COMMENTS["neutral"])
    slack.fake.error_next("chat.postMessage", 1, "invalid_auth")
    [row] = await pending(slack, "slack.post_task")
    with pytest.raises(PermanentFailure, match="bot_token_env"):
        await slack.component.sender.post_task(row)


async def test_an_update_before_the_post_is_skipped_and_the_post_shows_the_latest_state(
    slack: SlackHarness,
) -> None:
    task_id = await slack.ingest(COMMENTS["neutral"])
    assert task_id is not None
    assert (await slack.services.tasks.assign(task_id, MODERATOR)).changed
    [update_row] = await pending(slack, "slack.update_task")
    assert (await slack.component.sender.update_task(update_row))["skipped"]
    await slack.drain()
    message = await slack.message_of(task_id)
    assert f"Tildelt <@{MODERATOR}>" in message_text(message)


async def test_edits_removals_and_replies_show_in_the_thread(slack: SlackHarness) -> None:
    comment_id = "1001_500_77"
    task_id = await slack.ingest(COMMENTS["neutral"], comment_id=comment_id)
    assert task_id is not None
    await slack.drain()
    ts = (await slack.task(task_id)).slack_ts
    await slack.ingest("Kva kostar eit årskort? Ring meg på 912 34 567", comment_id=comment_id)
    await slack.ingest(
        "Det står på nettsida vår.", comment_id="1001_500_78", parent_id=comment_id, is_from_page=True
    )
    await slack.drain()
    notes = [m for m in slack.fake.messages(KINN_CHANNEL) if m.thread_ts == ts]
    assert len(notes) == 2
    assert "Kommentaren er endra" in (notes[0].text or "")
    assert "912 34 567" not in (notes[0].text or "") and "[telefon]" in (notes[0].text or "")
    assert "Sida svara i tråden" in (notes[1].text or "")
    assert "(endra)" in message_text(await slack.message_of(task_id))

    assert await slack.services.ingestor.remove("facebook", comment_id)
    await slack.drain()
    notes = [m for m in slack.fake.messages(KINN_CHANNEL) if m.thread_ts == ts]
    assert "sletta" in (notes[-1].text or "")
    message = await slack.message_of(task_id)
    assert "Lukka" in message_text(message) and button_ids(message) == set()


async def test_a_note_queued_ahead_of_its_post_does_not_block_the_channel(slack: SlackHarness) -> None:
    task_id = await slack.ingest(COMMENTS["negative"])
    assert task_id is not None
    async with slack.services.db.session() as session:
        await repo.enqueue(
            session,
            "slack.thread_note",
            {"task_id": task_id, "text": "Viktig merknad"},
            lane=f"slack:{KINN_CHANNEL}",
            priority=0,
        )
    await slack.drain()
    task = await slack.task(task_id)
    assert task.slack_ts
    [note] = [m for m in slack.fake.messages(KINN_CHANNEL) if m.thread_ts == task.slack_ts]
    assert note.text == "Viktig merknad"
    assert await pending(slack, "slack.post_task") == [] and await pending(slack, "slack.thread_note") == []
    assert len([m for m in slack.fake.messages(KINN_CHANNEL) if not m.thread_ts]) == 1


async def test_a_note_waits_for_a_post_in_another_lane_and_is_dropped_without_one(
    slack: SlackHarness,
) -> None:
    task_id = await slack.ingest(COMMENTS["negative"])
    assert task_id is not None
    async with slack.services.db.session() as session:
        await repo.enqueue(
            session, "slack.thread_note", {"task_id": task_id, "text": "Merknad"}, lane="slack:C0ELSEWHERE"
        )
    [note] = await pending(slack, "slack.thread_note")
    with pytest.raises(RetryLater):
        await slack.component.sender.thread_note(note)
    async with slack.services.db.session() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.kind == "slack.post_task").values(status="failed")
        )
    assert (await slack.component.sender.thread_note(note))["skipped"]


def view_click(payload: dict[str, Any], view: FakeView) -> dict[str, Any]:
    """A block_actions payload from inside a modal (container "view"), as Slack sends it."""
    payload = copy.deepcopy(payload)
    payload["container"] = {"type": "view", "view_id": view.id}
    payload["view"] = view.view
    payload.pop("message", None)
    payload.pop("channel", None)
    return payload


async def test_a_burst_of_praise_is_grouped_and_urgent_work_goes_first(slack_both: SlackHarness) -> None:
    slack = slack_both
    post = "1001_900"
    praise_ids = [
        await slack.ingest(text, post_id=post, author=f"Person {n}") for n, text in enumerate(PRAISE)
    ]
    inquiry_id = await slack.ingest(COMMENTS["case_inquiry"], post_id=post)
    low = [tid for tid in praise_ids if tid and (await slack.task(tid)).category in ("praise", "neutral")]
    assert len(low) > slack.settings.slack.group_after + 1, "the classifier should call these praise"
    await slack.drain()

    posts = slack.fake.calls("chat.postMessage")
    first_task = await slack.task(inquiry_id or 0)
    assert posts[0].response["ts"] == first_task.slack_ts  # the case inquiry went first
    group_messages = [
        m for m in slack.fake.messages(KINN_CHANNEL) if "kommentarar på same innlegg" in message_text(m)
    ]
    assert len(group_messages) == 1
    group = group_messages[0]
    assert f"{len(low)} kommentarar" in message_text(group)
    assert {(await slack.task(tid)).slack_ts for tid in low} == {group.ts}
    assert len(posts) == len(praise_ids) - len(low) + 2
    done = [
        row for row in await slack.outbox("slack.post_task") if row.result and "grouped_into" in row.result
    ]
    assert len(done) == len(low) - 1

    # The button opens the list; handling one there updates the modal and the grouped message.
    payload = slack.fake.block_action_payload("task_group_open", None, MODERATOR, KINN_CHANNEL, group.ts)
    status, _ = await slack.send(interactive_body(payload))
    assert status == 200
    [opened] = await slack.fake.wait_for("views.open")
    assert opened.ok, opened.response
    view = slack.fake.view(opened.response["view"]["id"])
    assert view is not None
    first = low[0]
    assert f"task-{first}" in {block.get("block_id") for block in view.blocks}
    click = view_click(
        slack.fake.block_action_payload("task_handled", str(first), MODERATOR, KINN_CHANNEL, group.ts), view
    )
    status, _ = await slack.send(interactive_body(click))
    assert status == 200
    [updated] = await slack.fake.wait_for("views.update")
    assert updated.ok, updated.response
    assert (await slack.task(first)).status == "handled"
    refreshed = slack.fake.view(view.id)
    assert refreshed is not None and f"task-{first}" not in {b.get("block_id") for b in refreshed.blocks}

    async def group_updated() -> bool:
        await slack.drain()
        message = slack.fake.message(KINN_CHANNEL, group.ts)
        return bool(message and f"{len(low) - 1} av {len(low)} er opne" in message_text(message))

    await wait_until(group_updated, what="the grouped message to count one fewer open")


async def test_a_few_praise_comments_are_posted_one_by_one(slack: SlackHarness) -> None:
    ids = [await slack.ingest(text, post_id="1001_901") for text in PRAISE[:3]]
    await slack.drain()
    assert len({(await slack.task(tid or 0)).slack_ts for tid in ids}) == 3


async def test_alerts_direct_messages_messages_and_files(slack: SlackHarness) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"Linje {n}"}} for n in range(70)]
    async with slack.services.db.session() as session:
        await repo.enqueue(
            session,
            "slack.alert",
            {"text": "Token for Kinn er ugyldig"},
            lane=f"slack:{ADMIN_CHANNEL}",
            dedupe_key="alert:test",
        )
        await repo.enqueue(
            session,
            "slack.alert",
            {"text": "Token for Kinn er ugyldig"},
            lane=f"slack:{ADMIN_CHANNEL}",
            dedupe_key="alert:test",
        )
        await repo.enqueue(
            session, "slack.dm", {"user": MODERATOR, "text": "Påminning: frist om 30 min"}, lane="slack:dm"
        )
        await repo.enqueue(
            session,
            "slack.message",
            {"channel": KINN_CHANNEL, "text": "Dagleg oversikt", "blocks": blocks},
            lane=f"slack:{KINN_CHANNEL}",
        )
        content = base64.b64encode(b"%PNG fake image").decode()
        await repo.enqueue(
            session,
            "slack.file",
            {
                "channel": KINN_CHANNEL,
                "filename": "veke.png",
                "title": "Svartider",
                "content_b64": content,
                "comment": "Vekerapport",
            },
            lane=f"slack:{KINN_CHANNEL}",
        )
    await slack.drain()
    assert [m.text for m in slack.fake.messages(ADMIN_CHANNEL)] == ["Token for Kinn er ugyldig"]
    [dm] = slack.fake.messages(dm_channel_id(MODERATOR))
    assert dm.text == "Påminning: frist om 30 min"
    [digest] = [m for m in slack.fake.messages(KINN_CHANNEL) if m.text == "Dagleg oversikt"]
    assert digest.blocks is not None and len(digest.blocks) == 50
    [uploaded] = slack.fake.uploaded_files(KINN_CHANNEL, completed=True)
    assert uploaded.data == b"%PNG fake image" and uploaded.title == "Svartider"
    assert all(row.status == "done" for row in await slack.outbox())


async def test_bad_payloads_and_a_missing_admin_channel_fail_for_good(slack: SlackHarness) -> None:
    async with slack.services.db.session() as session:
        await repo.enqueue(
            session,
            "slack.file",
            {"channel": KINN_CHANNEL, "filename": "x.png", "content_b64": "!!"},
            lane="x",
        )
        await repo.enqueue(session, "slack.alert", {"text": "Noko er gale"}, lane="y")
    file_row, alert_row = (await slack.outbox("slack.file"))[0], (await slack.outbox("slack.alert"))[0]
    with pytest.raises(PermanentFailure, match="base64"):
        await slack.component.sender.file(file_row)
    settings = slack.settings.model_copy(
        update={"slack": slack.settings.slack.model_copy(update={"admin_channel": ""})}
    )
    sender = SlackSender(
        dataclasses.replace(slack.services, settings=settings),
        AsyncWebClient(token=BOT_TOKEN, base_url=slack.fake.base_url),
    )
    with pytest.raises(PermanentFailure, match="admin_channel"):
        await sender.alert(alert_row)


async def crash_after_slack_accepted(slack: SlackHarness) -> tuple[int, OutboxMessage, str]:
    """Post a task, then put the database back the way a process killed mid-post leaves it."""
    task_id = await slack.ingest(COMMENTS["negative"])
    assert task_id is not None
    [row] = await pending(slack, "slack.post_task")
    await slack.component.sender.post_task(row)  # Slack accepted it ...
    [posted] = slack.fake.messages(KINN_CHANNEL)
    assert posted.metadata == {"event_type": "kommentarvakt_task", "event_payload": {"task_id": task_id}}
    async with slack.services.db.session() as session:  # ... but the ts never reached the database
        await session.execute(update(TaskRow).where(TaskRow.id == task_id).values(slack_ts=None))
    [row] = await pending(slack, "slack.post_task")
    assert row.result and row.result["posting_since"]  # the mark the interrupted try left behind
    return task_id, row, posted.ts


async def test_a_post_interrupted_after_slack_accepted_it_is_found_not_posted_twice(
    slack: SlackHarness,
) -> None:
    task_id, row, ts = await crash_after_slack_accepted(slack)

    def history(body: dict[str, Any]) -> dict[str, Any]:  # the channel's messages, newest first
        messages = [m.to_api() for m in slack.fake.messages(body["channel"]) if not m.thread_ts]
        return {"messages": list(reversed(messages)), "has_more": False}

    slack.fake.set_response("conversations.history", history)
    restarted = SlackSender(slack.services, AsyncWebClient(token=BOT_TOKEN, base_url=slack.fake.base_url))
    result = await restarted.post_task(row)
    assert result is not None and result["reconciled"] and result["ts"] == ts
    assert len(slack.fake.calls("chat.postMessage")) == 1
    assert (await slack.task(task_id)).slack_ts == ts
    assert slack.fake.last_call("conversations.history").body["include_all_metadata"] in (True, "true", "1")


async def test_without_history_access_an_interrupted_post_is_posted_again(slack: SlackHarness) -> None:
    task_id, row, ts = await crash_after_slack_accepted(slack)
    slack.fake.set_response("conversations.history", lambda body: {"ok": False, "error": "missing_scope"})
    restarted = SlackSender(slack.services, AsyncWebClient(token=BOT_TOKEN, base_url=slack.fake.base_url))
    result = await restarted.post_task(row)
    assert result is not None and result["ts"] != ts and "reconciled" not in result
    assert (await slack.task(task_id)).slack_ts == result["ts"]


async def test_a_try_slack_refused_is_retried_without_looking_for_the_message(slack: SlackHarness) -> None:
    await slack.ingest(COMMENTS["negative"])
    slack.fake.rate_limit_next("chat.postMessage", 1, retry_after=1)
    [row] = await pending(slack, "slack.post_task")
    with pytest.raises(RetryLater):
        await slack.component.sender.post_task(row)
    [row] = await pending(slack, "slack.post_task")
    await slack.component.sender.post_task(row)
    assert slack.fake.calls("conversations.history") == []
    assert len(slack.fake.messages(KINN_CHANNEL)) == 1
