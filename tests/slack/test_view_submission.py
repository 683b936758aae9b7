"""The edit modal: opened from the task message, pre-filled, and submitting it publishes the reply."""

from __future__ import annotations

import asyncio
import json

from handlers.views.modals import edit_metadata
from tests.fakes.slack_api import FakeView, interactive_body, view_submission_payload
from tests.slack.conftest import (
    COMMENTS,
    KINN_CHANNEL,
    MODERATOR,
    OUTSIDER,
    SlackHarness,
    message_text,
    wait_until,
)


async def open_edit_modal(slack: SlackHarness, user: str = MODERATOR) -> tuple[int, FakeView]:
    task_id = await slack.ingest(COMMENTS["neutral"])
    assert task_id is not None
    await slack.drain()
    await slack.click("task_edit", task_id, user)
    [call] = await slack.fake.wait_for("views.open")
    assert call.ok, call.response
    view = slack.fake.view(call.response["view"]["id"])
    assert view is not None
    return task_id, view


async def submit(slack: SlackHarness, view: FakeView, text: str, user: str = MODERATOR) -> tuple[int, str]:
    payload = slack.fake.view_submission_payload(None, {"reply": {"reply_text": text}}, user, view_id=view.id)
    return await slack.send(interactive_body(payload))


async def test_the_modal_is_prefilled_with_the_suggested_reply(slack: SlackHarness) -> None:
    task_id, view = await open_edit_modal(slack)
    task = await slack.task(task_id)
    [input_block] = [block for block in view.blocks if block["type"] == "input"]
    assert input_block["element"]["initial_value"] == task.suggested_reply
    assert json.loads(view.private_metadata)["task_id"] == task_id
    assert view.callback_id == "task_edit_submit"


async def test_submitting_publishes_the_edited_reply(slack: SlackHarness) -> None:
    task_id, view = await open_edit_modal(slack)
    edited = "Hei! Eit årskort for vaksne kostar 3 200 kroner. Helsing Kinn kommune"
    status, body = await submit(slack, view, edited)
    assert status == 200 and "errors" not in body
    [event] = await slack.wait_audit(task_id, "publish_requested")
    assert event.detail["edited"] is True
    task = await slack.task(task_id)
    assert task.final_reply == edited and task.pending_action == "publish"
    assert [r.payload["task_id"] for r in await slack.outbox("meta.reply")] == [task_id]

    async def updated() -> str:
        await slack.drain()
        text = message_text(await slack.message_of(task_id))
        return text if "redigert svar" in text else ""

    text = await wait_until(updated, what="the message to show the edited reply")
    assert "3 200 kroner" in text


async def test_an_empty_reply_is_refused_inside_the_modal(slack: SlackHarness) -> None:
    task_id, view = await open_edit_modal(slack)
    status, body = await submit(slack, view, "   ")
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors" and "reply" in answer["errors"]
    too_long = "x" * (slack.settings.replies.max_length + 1)
    answer = json.loads((await submit(slack, view, too_long))[1])
    assert "for langt" in answer["errors"]["reply"]
    await asyncio.sleep(0.2)
    assert await slack.outbox("meta.reply") == []
    assert (await slack.task(task_id)).pending_action is None


async def test_a_person_without_the_role_gets_no_modal(slack: SlackHarness) -> None:
    task_id = await slack.ingest(COMMENTS["neutral"])
    assert task_id is not None
    await slack.drain()
    await slack.click("task_edit", task_id, OUTSIDER)
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert ephemeral.body["user"] == OUTSIDER and "ikkje løyve" in ephemeral.body["text"]
    [denied] = await slack.wait_audit(task_id, "denied")
    assert denied.actor == OUTSIDER and denied.detail["attempted"] == "edit"
    assert slack.fake.calls("views.open") == []


async def test_an_unauthorised_submit_is_explained_in_the_channel(slack: SlackHarness) -> None:
    task_id = await slack.ingest(COMMENTS["neutral"])
    assert task_id is not None
    await slack.drain()
    task = await slack.task(task_id)
    payload = view_submission_payload(
        "task_edit_submit",
        {"reply": {"reply_text": "Eit svar frå nokon utan løyve"}},
        OUTSIDER,
        private_metadata=edit_metadata(task_id, task.slack_channel, task.slack_ts),
    )
    await slack.send(interactive_body(payload))
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert ephemeral.body["user"] == OUTSIDER and ephemeral.body["channel"] == KINN_CHANNEL
    assert "ikkje løyve" in ephemeral.body["text"]
    await slack.wait_audit(task_id, "denied")
    assert await slack.outbox("meta.reply") == []


async def test_submitting_twice_publishes_once(slack: SlackHarness) -> None:
    task_id, view = await open_edit_modal(slack)
    await asyncio.gather(submit(slack, view, "Første svar"), submit(slack, view, "Andre svar"))
    await slack.wait_audit(task_id, "publish_requested")
    await asyncio.sleep(0.3)
    assert len(await slack.outbox("meta.reply")) == 1
    assert (await slack.task(task_id)).final_reply in ("Første svar", "Andre svar")


async def test_edit_on_a_closed_task_explains_instead_of_opening(slack: SlackHarness) -> None:
    task_id = await slack.ingest(COMMENTS["neutral"])
    assert task_id is not None
    await slack.drain()
    assert (await slack.services.tasks.mark_handled(task_id, MODERATOR)).changed
    await slack.click("task_edit", task_id, MODERATOR)
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert "avslutta" in ephemeral.body["text"]
    assert slack.fake.calls("views.open") == []
