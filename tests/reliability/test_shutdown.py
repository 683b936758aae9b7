"""SIGTERM while a burst drains: work in flight is finished, exit 0 in time, nothing left half-done."""

from __future__ import annotations

from storage.models import AuditEvent, TaskRow
from tests.reliability.conftest import MODERATOR, Stack, page_replies, task_posts, wait_until
from tests.reliability.test_crash_recovery import assert_exactly_once

COMMENTS_PER_PAGE = 20
GRACE_S = 40.0  # run_bot gives the outbox 30 s to finish its round, then stops the components


async def test_sigterm_while_a_burst_drains_finishes_the_publish_in_flight(stack: Stack) -> None:
    for listed in stack.pages:
        for _ in range(COMMENTS_PER_PAGE):
            stack.add_comment(listed)
    total = COMMENTS_PER_PAGE * len(stack.pages)
    bot = await stack.started_bot("first", slack={"messages_per_second": 4.0})
    await wait_until(lambda: task_posts(stack.slack), timeout_s=30, what="the burst starting")
    [task_id] = (await stack.task_ids())[:1]
    async with stack.db.session() as session:
        task = await session.get(TaskRow, task_id)
        assert task is not None
        comment_id = task.comment.external_id

    stack.graph.set_latency(2.0)  # the reply takes two seconds to reach Meta and come back
    assert (await stack.click(bot, "task_publish", str(task_id), MODERATOR)).status_code == 200
    await wait_until(
        lambda: stack.graph.requests_to(f"{comment_id}/comments", "POST"),
        timeout_s=20,
        what="the reply on its way to Meta",
    )
    exit_code = bot.terminate(timeout_s=GRACE_S)
    assert exit_code == 0, bot.tail()
    posted_before_restart = sum(task_posts(stack.slack).values())
    assert posted_before_restart < total, "the burst had drained before SIGTERM"

    # The publish that was in flight was finished and written down before the process exited.
    async with stack.db.session() as session:
        task = await session.get(TaskRow, task_id)
        assert task is not None and task.reply_external_id and task.status == "answered"
        assert task.pending_action is None
    assert page_replies(stack.graph) == {comment_id: 1}
    assert await stack.count(AuditEvent, AuditEvent.action == "reply_published") == 1

    # What was not sent yet is sent by the next process, once.
    stack.graph.set_latency(0)
    await stack.started_bot("second")
    await stack.wait_all_posted(tasks=total, timeout_s=60)
    await assert_exactly_once(stack)
    assert page_replies(stack.graph) == {comment_id: 1}
