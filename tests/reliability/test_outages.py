"""Outages of the services around the bot: Slack, the Graph API and the database."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from sqlalchemy import select

from storage.models import CommentRow, OutboxMessage, Page, TaskRow
from tests.reliability.conftest import (
    ADMIN,
    ADMIN_CHANNEL,
    MODERATOR,
    Stack,
    page_replies,
    task_id_of,
    task_posts,
    wait_until,
)
from tests.reliability.test_crash_recovery import assert_exactly_once


def posted_order(stack: Stack) -> dict[str, list[int]]:
    """Task ids in the order their messages reached each channel."""
    order: dict[str, list[int]] = defaultdict(list)
    for call in stack.slack.calls("chat.postMessage", ok=True):
        task_id = task_id_of(call)
        if task_id is not None:
            order[str(call.body["channel"])].append(task_id)
    return order


async def queued_order(stack: Stack) -> dict[str, list[int]]:
    """Task ids per channel in the order the outbox promises: (priority, id) within a lane."""
    async with stack.db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.lane, OutboxMessage.payload)
            .where(OutboxMessage.kind == "slack.post_task")
            .order_by(OutboxMessage.priority, OutboxMessage.id)
        )
        order: dict[str, list[int]] = defaultdict(list)
        for lane, payload in rows.all():
            order[lane.removeprefix("slack:")].append(int(payload["task_id"]))
        return order


async def test_slack_down_then_unreachable_catches_up_in_order(stack: Stack) -> None:
    bot = await stack.started_bot()
    await wait_until(lambda: stack.graph.requests_to("published_posts"), timeout_s=20, what="the first poll")

    stack.slack.set_down(True)  # 503 on every call
    comments = [stack.add_comment(stack.pages[n % 2]) for n in range(12)]
    answers = await asyncio.gather(*(stack.deliver(bot, comment_id) for comment_id in comments))
    assert {answer.status_code for answer in answers} == {200}
    await wait_until(
        lambda: stack.count_is(12, TaskRow), timeout_s=30, what="12 tasks stored while Slack is down"
    )
    await wait_until(
        lambda: stack.slack.calls("chat.postMessage", ok=False), timeout_s=20, what="a refused Slack call"
    )
    stack.slack_proxy.set_unreachable(True)  # then no answer at all: connection refused
    stack.slack.set_down(False)
    await asyncio.sleep(2)
    assert not task_posts(stack.slack), "nothing can have been posted during the outage"

    stack.slack_proxy.set_unreachable(False)
    await stack.make_due()  # the backoff after the failed attempts has passed
    await stack.wait_all_posted(tasks=12, timeout_s=60)
    await assert_exactly_once(stack)
    assert posted_order(stack) == await queued_order(stack)
    status, report = await bot.health()
    assert status == 200, report


async def test_a_long_slack_outage_loses_no_task_message(stack: Stack) -> None:
    bot = await stack.started_bot()
    stack.slack.set_down(True)
    comment_id = stack.add_comment(stack.pages[0])
    assert (await stack.deliver(bot, comment_id)).status_code == 200
    await wait_until(lambda: stack.count_is(1, TaskRow), timeout_s=20, what="the task")
    await wait_until(
        lambda: stack.slack.calls("chat.postMessage"), timeout_s=20, what="a first try at posting the task"
    )
    for _ in range(12):  # the outage outlasts a dozen backoff periods (time passes at once)
        await stack.make_due()
        await asyncio.sleep(0.6)
    assert (await stack.outbox_status("slack.post_task"))["failed"] == 0, "the task message was given up on"
    stack.slack.set_down(False)
    await stack.make_due()
    await stack.wait_all_posted(tasks=1, timeout_s=45)


async def test_rate_limit_and_expired_token_pause_only_their_own_page(stack: Stack) -> None:
    """Token 190 → that page paused, one admin alert, /healthz 503; a rate limit only delays its page."""
    fine, limited, expired = stack.pages[0], stack.pages[1], stack.add_page()
    comments = {page.id: stack.add_comment(page) for page in (fine, limited, expired)}
    stack.graph.fail_next(1, code=32, path_contains=f"/{limited.id}/", estimated_time_to_regain_access=1)
    stack.graph.expire_token(expired.token)

    bot = await stack.started_bot()
    await wait_until(
        lambda: stack.count(CommentRow, CommentRow.external_id == comments[fine.id]),
        timeout_s=30,
        what="the healthy page's comment",
    )
    await wait_until(
        lambda: _paused(stack, expired.id), timeout_s=30, what="the page with the dead token paused"
    )
    alerts = await wait_until(lambda: _admin_alerts(stack), timeout_s=20, what="the admin alert")
    assert len(alerts) == 1 and expired.name in alerts[0]
    assert expired.token not in alerts[0]
    status, report = await bot.health()
    assert status == 503, report
    [problem] = [page for page in report["meta"]["pages"] if page.get("problem")]
    assert problem["id"] == expired.id

    # The next pass (a separate `sync`) fetches the rate-limited page; the paused page stays paused, quietly.
    result = stack.run_cli("sync")
    assert result.returncode == 0, result.stderr
    assert await stack.count(CommentRow, CommentRow.external_id == comments[limited.id]) == 1
    assert await stack.count(CommentRow, CommentRow.external_id == comments[expired.id]) == 0
    await asyncio.sleep(1)
    assert len(_admin_alerts(stack)) == 1

    # A new token and an admin's resume: the page comes back and /healthz is well again.
    stack.graph.restore_token(expired.token)
    assert (await stack.slash(bot, f"resume {expired.id}", ADMIN)).status_code == 200
    await wait_until(lambda: _unpaused(stack, expired.id), timeout_s=20, what="the page resumed")
    result = stack.run_cli("sync")
    assert result.returncode == 0, result.stderr
    assert await stack.count(CommentRow, CommentRow.external_id == comments[expired.id]) == 1
    await wait_until(lambda: _healthy(bot), timeout_s=20, what="/healthz 200 again")
    await stack.wait_all_posted(tasks=3, timeout_s=30)
    await assert_exactly_once(stack)


async def _paused(stack: Stack, page_id: str) -> bool:
    return await stack.count(Page, Page.external_id == page_id, Page.paused.is_(True)) == 1


async def _unpaused(stack: Stack, page_id: str) -> bool:
    return await stack.count(Page, Page.external_id == page_id, Page.paused.is_(False)) == 1


def _admin_alerts(stack: Stack) -> list[str]:
    return [
        str(call.body.get("text") or "")
        for call in stack.slack.calls("chat.postMessage", ok=True)
        if call.body.get("channel") == ADMIN_CHANNEL
    ]


async def _healthy(bot) -> bool:  # type: ignore[no-untyped-def]
    status, _report = await bot.health()
    return status == 200


async def test_database_restart_and_outage(pg_stack: Stack) -> None:
    """Connections killed (a restart): the bot reconnects. Database refusing connections: /healthz 503,
    webhooks refused with a 5xx so Meta sends them again, and everything goes on when it is back."""
    stack = pg_stack
    bot = await stack.started_bot()
    first = stack.add_comment(stack.pages[0])
    assert (await stack.deliver(bot, first)).status_code == 200
    await stack.wait_all_posted(tasks=1)

    assert await stack.terminate_connections() >= 1  # what a database restart does to every client
    second = stack.add_comment(stack.pages[1])
    assert (await stack.deliver(bot, second)).status_code == 200
    await stack.wait_all_posted(tasks=2, timeout_s=30)
    task_id = (await stack.task_ids())[0]
    assert (await stack.click(bot, "task_publish", str(task_id), MODERATOR)).status_code == 200
    await wait_until(lambda: page_replies(stack.graph)[first] == 1, timeout_s=20, what="the reply")

    await stack.set_database_down(True)
    status, report = await bot.health()
    assert status == 503 and report["database"]["ok"] is False, report
    third = stack.add_comment(stack.pages[0])
    refused = await stack.deliver(bot, third)
    assert 500 <= refused.status_code < 600  # not stored: Meta retries a failed delivery
    assert await _serving(stack, bot)

    await stack.set_database_down(False)
    await wait_until(lambda: _healthy(bot), timeout_s=30, what="/healthz 200 after the database is back")
    # A message that was being sent when the database went away could not even be put back: it keeps
    # its claim until the lease (120 s) runs out, and its lane waits. Let that time pass.
    await stack.expire_leases()
    assert (await stack.deliver(bot, third)).status_code == 200  # Meta's retry
    await stack.wait_all_posted(tasks=3, timeout_s=30)
    await assert_exactly_once(stack)
    assert page_replies(stack.graph)[first] == 1


async def _serving(stack: Stack, bot) -> bool:  # type: ignore[no-untyped-def]
    answer = await stack.http.get(bot.base_url + "/healthz")
    return answer.status_code in (200, 503) and bot.alive()
