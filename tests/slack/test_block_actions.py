"""Clicks on task messages, POSTed signed to our real /slack/events, as Slack sends them."""

from __future__ import annotations

import asyncio
import time

from slack_sdk.web.async_client import AsyncWebClient

from handlers.groups import UserGroupResolver
from tests.fakes.slack_api import FakeSlackAPI, interactive_body, signed_request_headers
from tests.slack.conftest import (
    COMMENTS,
    DIRECTOR,
    GROUP_MODERATOR,
    KINN_CHANNEL,
    LIBRARY_MODERATOR,
    MODERATOR,
    MODERATOR_GROUP,
    OUTSIDER,
    SIGNING_SECRET,
    SlackHarness,
    button_ids,
    message_text,
    wait_until,
)


async def posted_task(slack: SlackHarness, text: str = COMMENTS["neutral"], **kwargs: object) -> int:
    task_id = await slack.ingest(text, **kwargs)  # type: ignore[arg-type]
    assert task_id is not None
    await slack.drain()
    return task_id


async def updated_message_text(slack: SlackHarness, task_id: int, needle: str) -> str:
    """Drain the outbox until the task's message shows `needle` (the update went out)."""

    async def check() -> str:
        await slack.drain()
        text = message_text(await slack.message_of(task_id))
        return text if needle in text else ""

    return await wait_until(check, what=f"the message of task {task_id} to show {needle!r}")


async def test_publish_queues_the_reply_once_and_updates_the_message(slack_both: SlackHarness) -> None:
    slack = slack_both
    task_id = await posted_task(slack)
    await slack.click("task_publish", task_id, MODERATOR)
    await slack.wait_audit(task_id, "publish_requested")
    replies = await slack.outbox("meta.reply")
    assert [r.payload for r in replies] == [{"task_id": task_id, "actor": MODERATOR}]
    text = await updated_message_text(slack, task_id, "Svaret vert publisert")
    assert f"<@{MODERATOR}>" in text
    assert not {"task_publish", "task_edit"} & button_ids(await slack.message_of(task_id))
    assert (await slack.message_of(task_id)).update_count >= 1


async def test_a_double_click_publishes_once(slack_both: SlackHarness) -> None:
    slack = slack_both
    task_id = await posted_task(slack)
    await asyncio.gather(
        slack.click("task_publish", task_id, MODERATOR), slack.click("task_publish", task_id, MODERATOR)
    )
    await slack.wait_audit(task_id, "publish_requested")
    await asyncio.sleep(0.3)  # let the second listener finish too
    assert len(await slack.outbox("meta.reply")) == 1
    assert len(await slack.audit(task_id, "publish_requested")) == 1
    assert slack.fake.calls("chat.postEphemeral") == []  # a repeated click is quietly a no-op


async def test_an_unauthorised_click_gets_an_ephemeral_explanation(slack: SlackHarness) -> None:
    task_id = await posted_task(slack)
    before = await slack.message_of(task_id)
    await slack.click("task_handled", task_id, OUTSIDER)
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert ephemeral.body["user"] == OUTSIDER
    assert ephemeral.body["channel"] == KINN_CHANNEL
    assert "ikkje løyve" in ephemeral.body["text"]
    await slack.wait_audit(task_id, "denied")
    await slack.drain()
    assert (await slack.task(task_id)).status == "open"
    assert (await slack.message_of(task_id)).update_count == before.update_count


async def test_user_group_members_are_moderators_and_the_group_is_cached(slack: SlackHarness) -> None:
    first = await posted_task(slack)
    second = await posted_task(slack, COMMENTS["negative"])
    await slack.click("task_assign", first, GROUP_MODERATOR)
    await slack.wait_audit(first, "assigned")
    await slack.click("task_assign", second, GROUP_MODERATOR)
    await slack.wait_audit(second, "assigned")
    assert (await slack.task(first)).assignee == GROUP_MODERATOR
    assert len(slack.fake.calls("usergroups.users.list")) == 1
    text = await updated_message_text(slack, first, "Tildelt")
    assert f"Tildelt <@{GROUP_MODERATOR}>" in text


async def test_page_moderators_act_on_their_own_page_only(slack: SlackHarness) -> None:
    library_task = await posted_task(slack, COMMENTS["neutral"], page="library", post_id="1002_1")
    kinn_task = await posted_task(slack, COMMENTS["neutral"])
    await slack.click("task_assign", library_task, LIBRARY_MODERATOR)
    await slack.wait_audit(library_task, "assigned")
    await slack.click("task_assign", kinn_task, LIBRARY_MODERATOR)
    await slack.wait_audit(kinn_task, "denied")
    assert (await slack.task(kinn_task)).assignee is None


async def test_mark_handled_removes_the_buttons_and_says_who(slack: SlackHarness) -> None:
    task_id = await posted_task(slack)
    await slack.click("task_handled", task_id, MODERATOR)
    await slack.wait_audit(task_id, "handled")
    text = await updated_message_text(slack, task_id, "Handsama")
    assert f"av <@{MODERATOR}>" in text
    assert button_ids(await slack.message_of(task_id)) == set()
    assert (await slack.task(task_id)).status == "handled"


async def test_reclassify_to_case_inquiry_brings_the_forward_button(slack: SlackHarness) -> None:
    task_id = await posted_task(slack, COMMENTS["neutral"])
    assert "task_forward" not in button_ids(await slack.message_of(task_id))
    await slack.click("task_reclassify", task_id, MODERATOR, selected_option=f"{task_id}:case_inquiry")
    await slack.wait_audit(task_id, "reclassified")
    assert (await slack.task(task_id)).category == "case_inquiry"
    text = await updated_message_text(slack, task_id, "Sakshandsaming")
    assert "endra kategorien frå Nøytral til Sakshandsaming" in text
    assert "task_forward" in button_ids(await slack.message_of(task_id))


async def test_hide_and_forward_are_queued_once_and_their_buttons_disappear(slack: SlackHarness) -> None:
    task_id = await posted_task(slack, COMMENTS["case_inquiry"])
    await slack.click("task_reclassify", task_id, MODERATOR, selected_option=f"{task_id}:case_inquiry")

    async def is_case_inquiry() -> bool:
        return (await slack.task(task_id)).category == "case_inquiry"

    await wait_until(is_case_inquiry, what="the task to be a case inquiry")
    await slack.click("task_hide", task_id, MODERATOR)
    await slack.wait_audit(task_id, "hide_requested")
    await slack.click("task_forward", task_id, MODERATOR)
    await slack.wait_audit(task_id, "forward_requested")
    await slack.click("task_hide", task_id, MODERATOR)
    await asyncio.sleep(0.2)
    assert len(await slack.outbox("meta.hide")) == 1
    assert len(await slack.outbox("forward.email")) == 1
    await updated_message_text(slack, task_id, "til postmottaket")
    assert not {"task_hide", "task_forward"} & button_ids(await slack.message_of(task_id))


async def test_in_crisis_mode_only_crisis_approvers_publish(slack: SlackHarness) -> None:
    task_id = await posted_task(slack)
    assert (await slack.services.admin.set_crisis("U0ADMIN001", True)).changed
    await slack.click("task_publish", task_id, MODERATOR)
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert "Krisemodus" in ephemeral.body["text"]
    await slack.click("task_publish", task_id, DIRECTOR)
    await slack.wait_audit(task_id, "publish_requested")
    assert len(await slack.outbox("meta.reply")) == 1


async def test_requests_with_a_bad_signature_or_an_old_timestamp_are_refused(slack: SlackHarness) -> None:
    task_id = await posted_task(slack)
    task = await slack.task(task_id)
    payload = slack.fake.block_action_payload(
        "task_handled", str(task_id), MODERATOR, KINN_CHANNEL, task.slack_ts or ""
    )
    body = interactive_body(payload)
    status, _ = await slack.send(body, signed_request_headers("wrong-secret", body))
    assert status == 401
    old = signed_request_headers(SIGNING_SECRET, body, timestamp=time.time() - 600)
    status, _ = await slack.send(body, old)
    assert status == 401
    status, _ = await slack.send(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401
    await asyncio.sleep(0.2)
    assert (await slack.task(task_id)).status == "open"
    assert await slack.audit(task_id, "handled") == []


async def test_an_oversized_body_is_refused(slack: SlackHarness) -> None:
    body = b"payload=" + b"x" * (slack.settings.http.max_body_bytes + 10)
    status, _ = await slack.send(body, signed_request_headers(SIGNING_SECRET, body))
    assert status == 413


async def test_a_click_on_a_task_that_does_not_exist_is_explained(slack: SlackHarness) -> None:
    payload = slack.fake.block_action_payload(
        "task_handled", "999999", MODERATOR, KINN_CHANNEL, "1700000000.000100"
    )
    status, _ = await slack.send(interactive_body(payload))
    assert status == 200
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert "999999" in ephemeral.body["text"]


async def test_group_members_are_read_again_after_the_ttl_and_kept_when_slack_fails(
    fake_slack: FakeSlackAPI,
) -> None:
    client = AsyncWebClient(token="xoxb-test-kommentarvakt", base_url=fake_slack.base_url)
    resolver = UserGroupResolver(client, ttl_s=0.2)
    assert await resolver(MODERATOR_GROUP) == {GROUP_MODERATOR}
    fake_slack.set_usergroup(MODERATOR_GROUP, [GROUP_MODERATOR, "U0NEWMOD01"])
    assert await resolver(MODERATOR_GROUP) == {GROUP_MODERATOR}  # cached
    await asyncio.sleep(0.25)
    assert await resolver(MODERATOR_GROUP) == {GROUP_MODERATOR, "U0NEWMOD01"}
    await asyncio.sleep(0.25)
    fake_slack.fail_next("usergroups.users.list", 1, status=503)
    assert await resolver(MODERATOR_GROUP) == {GROUP_MODERATOR, "U0NEWMOD01"}  # last known members
    fake_slack.error_next("usergroups.users.list", 1, "paid_teams_only")
    assert await resolver("S0UNKNOWN01") == set()
    assert len(fake_slack.calls("usergroups.users.list")) == 4
