"""SIGKILL at the worst moments, then a restart: nothing lost, nothing duplicated.

After a kill the dead process's claims keep their lease (120 s); `stack.expire_leases()` lets that time
pass at once instead of waiting it out.
"""

from __future__ import annotations

import pytest

from storage.models import AuditEvent, CommentRow, TaskRow
from tests.reliability.conftest import MODERATOR, Stack, page_replies, task_posts, wait_until

SYNC_PAGES = 6
SYNC_COMMENTS_PER_PAGE = 25


async def assert_exactly_once(stack: Stack) -> None:
    """Every comment in the fake Graph API has one task, and every task one Slack message."""
    tasks_per_comment = await stack.tasks_by_comment()
    page_ids = {page.id for page in stack.pages}
    visitor_comments = {
        comment_id for comment_id, comment in stack.graph.comments.items() if comment.from_id not in page_ids
    }
    assert set(tasks_per_comment) == visitor_comments
    assert set(tasks_per_comment.values()) == {1}
    posts, strays = await stack.posts_per_task()
    assert set(posts) == set(await stack.task_ids())
    assert set(posts.values()) == {1}, {task: n for task, n in posts.items() if n != 1}
    assert not strays, [call.body.get("text") for call in strays]


async def test_sigkill_during_a_sync_loses_and_duplicates_nothing(stack: Stack) -> None:
    for _ in range(SYNC_PAGES - len(stack.pages)):
        stack.add_page()
    for page in stack.pages:
        for _ in range(SYNC_COMMENTS_PER_PAGE):
            stack.add_comment(page)
    total = SYNC_COMMENTS_PER_PAGE * SYNC_PAGES
    stack.graph.set_latency(0.5)  # two pages at a time, half a second each: a kill lands half-way
    sync = stack.start_cli("sync", "sync")
    stored = await wait_until(
        lambda: stack.count(CommentRow),
        timeout_s=60,
        what="the sync's first stored comments",
        interval_s=0.05,
    )
    sync.kill()
    sync.wait(10)
    assert stored < total, "the sync finished before it could be killed: make it slower"

    stack.graph.set_latency(0)
    await stack.started_bot()  # its first scheduled poll syncs every page again
    await stack.wait_all_posted(tasks=total, timeout_s=60)
    await assert_exactly_once(stack)


async def test_sigkill_during_outbox_draining_loses_and_duplicates_nothing(stack: Stack) -> None:
    for page in stack.pages:
        for _ in range(40):
            stack.add_comment(page)
    total = 40 * len(stack.pages)
    line = stack.new_slack_proxy()
    first = await stack.started_bot("first", slack={"messages_per_second": 8.0}, slack_proxy=line)
    await wait_until(
        lambda: sum(task_posts(stack.slack).values()) >= 15, timeout_s=60, what="the outbox draining"
    )
    await stack.kill_between_calls(first, line)
    assert sum(task_posts(stack.slack).values()) < total, "the outbox drained before the kill"

    await stack.expire_leases()
    await stack.started_bot("second")
    await stack.wait_all_posted(tasks=total, timeout_s=60)
    await assert_exactly_once(stack)
    assert (await stack.outbox_status("slack.post_task")).keys() == {"done"}


@pytest.mark.parametrize("cut", ["before Meta got the reply", "after Meta published the reply"])
async def test_sigkill_while_publishing_publishes_exactly_once(stack: Stack, cut: str) -> None:
    page = stack.pages[0]
    comment_id = stack.add_comment(page, "Kor lenge er det ope på laurdagar?")
    first = await stack.started_bot("first")
    await stack.wait_all_posted(tasks=1)
    [task_id] = await stack.task_ids()

    held = stack.graph_proxy.hold(
        "POST", f"{comment_id}/comments", when="before" if "before" in cut else "after"
    )
    assert (await stack.click(first, "task_publish", str(task_id), MODERATOR)).status_code == 200
    await wait_until(held.is_set, timeout_s=20, what="the reply on its way to Meta")
    first.kill()
    stack.graph_proxy.release(drop="before" in cut)
    assert sum(page_replies(stack.graph).values()) == (0 if "before" in cut else 1)

    await stack.expire_leases()
    await stack.started_bot("second")

    async def answered() -> TaskRow | None:
        async with stack.db.session() as session:
            task = await session.get(TaskRow, task_id)
            return task if task is not None and task.reply_external_id else None

    task = await wait_until(answered, timeout_s=30, what="the reply recorded on the task")
    replies = page_replies(stack.graph)
    assert replies == {comment_id: 1}
    [reply] = [c for c in stack.graph.comments.values() if c.parent_id == comment_id and c.from_id == page.id]
    assert task.reply_external_id == reply.id
    assert task.status == "answered"
    assert await stack.count(AuditEvent, AuditEvent.action == "reply_published") == 1


async def test_sigkill_after_slack_accepted_a_task_message_posts_it_once(stack: Stack) -> None:
    stack.add_comment(stack.pages[0])
    held = stack.slack_proxy.hold("POST", "chat.postMessage", when="after")
    first = stack.start_bot("first")
    await wait_until(held.is_set, timeout_s=60, what="the task message on its way to Slack")
    first.kill()
    stack.slack_proxy.release()

    await stack.expire_leases()
    await stack.started_bot("second")
    await wait_until(lambda: _all_done(stack), timeout_s=30, what="the task message done in the outbox")
    await assert_exactly_once(stack)


async def _all_done(stack: Stack) -> bool:
    return (await stack.outbox_status("slack.post_task")).keys() == {"done"}
