"""Role checks on every button and every admin command of a running bot: refused, told, audited, unchanged.

A Slack user with no role at all clicks each of the seven task buttons and submits the edit modal, and
runs each admin slash command; each is refused with a message only they see, written to the audit log,
and changes nothing. People who do hold the role get through (so the refusals are about roles).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select

from handlers.views import modals
from storage.models import AuditEvent, OutboxMessage, Page, TaskRow
from storage.repository import get_state
from tests.conftest import DatabaseFactory
from tests.fakes.slack_api import RESPONSE_URL_CALL, interactive_body, view_submission_payload
from tests.reliability.conftest import (
    ADMIN,
    MODERATOR,
    OUTSIDER,
    TASK_BUTTONS,
    BotProcess,
    Stack,
    backend_url,
    make_stack,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
REFUSED = "ikkje løyve"
ATTEMPTED = {
    "task_publish": "publish",
    "task_edit": "edit",
    "task_handled": "handled",
    "task_reclassify": "reclassify",
    "task_hide": "hide",
    "task_forward": "forward",
    "task_assign": "assign",
}
ADMIN_COMMANDS = {"crisis on": "crisis_on", "crisis off": "crisis_off", "pause": "pause", "resume": "resume"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory, database_factory: DatabaseFactory
) -> AsyncIterator[tuple[Stack, BotProcess, int]]:
    """A running bot with one open case inquiry in Slack."""
    tmp_path = tmp_path_factory.mktemp("roles")
    async with make_stack(tmp_path, backend_url(database_factory)) as stack:
        stack.add_comment(
            stack.pages[0], "Eg søkte om byggjeløyve i mars og har ikkje fått svar. Kan de sjekke saka mi?"
        )
        bot = await stack.started_bot()
        await stack.wait_all_posted(tasks=1)
        [task_id] = await stack.task_ids()
        yield stack, bot, task_id


async def denials(stack: Stack, actor: str) -> list[dict[str, object]]:
    async with stack.db.session() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.action == "denied", AuditEvent.actor == actor)
        )
        return [{"task_id": event.task_id, **(event.detail or {})} for event in rows.scalars()]


async def platform_work(stack: Stack) -> int:
    """Outgoing calls that act on the world (replies, hiding, forwarding): none may come from a refusal."""
    return await stack.count(
        OutboxMessage, OutboxMessage.kind.like("meta.%") | OutboxMessage.kind.like("forward.%")
    )


def told(stack: Stack, user: str) -> list[str]:
    return [
        str(call.body.get("text") or "")
        for call in stack.slack.calls("chat.postEphemeral", ok=True)
        if call.body.get("user") == user
    ]


async def task_state(stack: Stack, task_id: int) -> tuple[object, ...]:
    async with stack.db.session() as session:
        task = await session.get(TaskRow, task_id)
        assert task is not None
        return (
            task.status,
            task.assignee,
            task.category,
            task.pending_action,
            task.final_reply,
            task.forwarded_at,
        )


@pytest.mark.parametrize("action_id", TASK_BUTTONS)
async def test_a_user_without_a_role_is_refused_every_button(
    live: tuple[Stack, BotProcess, int], action_id: str
) -> None:
    stack, bot, task_id = live
    before, work_before = await task_state(stack, task_id), await platform_work(stack)
    modals_before = len(stack.slack.calls("views.open"))
    value = f"{task_id}:negative" if action_id == "task_reclassify" else str(task_id)
    assert (await stack.click(bot, action_id, value, OUTSIDER)).status_code == 200

    denied = await wait_until(
        lambda: _denied_for(stack, ATTEMPTED[action_id]),
        timeout_s=10,
        what=f"the denial of {action_id} audited",
    )
    assert denied["task_id"] == task_id
    await wait_until(
        lambda: any(REFUSED in text for text in told(stack, OUTSIDER)),
        timeout_s=10,
        what="the refusal message",
    )
    assert len(stack.slack.calls("views.open")) == modals_before
    assert await task_state(stack, task_id) == before
    assert await platform_work(stack) == work_before


async def _denied_for(stack: Stack, attempted: str) -> dict[str, object] | None:
    return next(
        (event for event in await denials(stack, OUTSIDER) if event.get("attempted") == attempted), None
    )


async def test_a_user_without_a_role_cannot_publish_through_the_edit_modal(
    live: tuple[Stack, BotProcess, int],
) -> None:
    stack, bot, task_id = live
    channel = stack.pages[0].channel
    before, work_before = await task_state(stack, task_id), await platform_work(stack)
    payload = view_submission_payload(
        modals.EDIT_CALLBACK,
        {modals.REPLY_BLOCK: {modals.REPLY_ACTION: "Takk for spørsmålet, vi ser på det."}},
        OUTSIDER,
        private_metadata=modals.edit_metadata(task_id, channel, "1700000000.000100"),
    )
    assert (await stack.slack_request(bot, interactive_body(payload))).status_code == 200
    await wait_until(lambda: _denied_for(stack, "edit"), timeout_s=10, what="the denied edit audited")
    assert await task_state(stack, task_id) == before
    assert await platform_work(stack) == work_before


@pytest.mark.parametrize("command", list(ADMIN_COMMANDS))
async def test_a_user_without_a_role_is_refused_every_admin_command(
    live: tuple[Stack, BotProcess, int], command: str
) -> None:
    stack, bot, _task_id = live
    page = stack.pages[0]
    text = f"{command} {page.id}" if command in ("pause", "resume") else command
    answer = await _command(stack, bot, text, OUTSIDER)
    assert REFUSED in answer
    await wait_until(
        lambda: _denied_for(stack, ADMIN_COMMANDS[command]),
        timeout_s=10,
        what=f"the denied {command} audited",
    )
    async with stack.db.session() as session:
        assert not (await get_state(session, "crisis")).get("on")
        paused = (await session.execute(select(Page.paused).where(Page.external_id == page.id))).scalar_one()
        assert paused is False


@pytest.mark.parametrize("command", ["status", "digest"])
async def test_a_user_without_a_role_sees_no_status_or_digest(
    live: tuple[Stack, BotProcess, int], command: str
) -> None:
    stack, bot, _task_id = live
    answer = await _command(stack, bot, command, OUTSIDER)
    assert REFUSED in answer
    assert stack.pages[0].name not in answer


async def test_people_with_the_role_get_through(live: tuple[Stack, BotProcess, int]) -> None:
    """The control: the same requests from a moderator and an admin do what they ask."""
    stack, bot, task_id = live
    assert (await stack.click(bot, "task_assign", str(task_id), MODERATOR)).status_code == 200
    await wait_until(
        lambda: _assignee_is(stack, task_id, MODERATOR),
        timeout_s=10,
        what="the task assigned to the moderator",
    )
    assert "på" in await _command(stack, bot, "crisis on", ADMIN)
    assert await stack.count(AuditEvent, AuditEvent.action == "crisis_on", AuditEvent.actor == ADMIN) == 1
    assert "av" in await _command(stack, bot, "crisis off", ADMIN)


async def _assignee_is(stack: Stack, task_id: int, user: str) -> bool:
    async with stack.db.session() as session:
        task = await session.get(TaskRow, task_id)
        return task is not None and task.assignee == user


async def _command(stack: Stack, bot: BotProcess, text: str, user: str) -> str:
    """Run `/kommentarvakt TEXT` as `user`; the ephemeral answer that came back on the response URL."""
    before = len(stack.slack.calls(RESPONSE_URL_CALL))
    assert (await stack.slash(bot, text, user)).status_code == 200
    [*_, call] = await wait_until(
        lambda: stack.slack.calls(RESPONSE_URL_CALL)[before:], timeout_s=10, what=f"the answer to {text!r}"
    )
    assert call.body.get("response_type") == "ephemeral"
    return str(call.body.get("text") or "")
