"""Buttons and menus on task messages, the edit modal and the grouped-message modal.

Each listener acks at once, reads who clicked what, calls one task service method (which checks the
role, audits, and is idempotent) and answers only the person who clicked. The task message itself is
refreshed through the outbox ("slack.update_task", queued by the service).
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.actions import Outcome
from bot.domain import Category
from bot.roles import ALLOWED, Action, describe_roles
from bot.runtime import Services
from handlers.outbox_sender import LOW_PRIORITY_CATEGORIES, error_code, load_history, task_card
from handlers.views import modals
from handlers.views.task_message import TaskCard
from storage import repository as repo
from storage.models import CommentRow, Page, Post, TaskRow

log = logging.getLogger(__name__)

ROLE_CHECK_BUDGET_S = 1.5  # of the trigger id's 3 seconds, before the modal must be opening
MAX_ID = 2**31 - 1  # INTEGER on PostgreSQL
_ID = re.compile(r"[0-9]{1,10}")
SOMETHING_WENT_WRONG = "Noko gjekk gale, og ingenting vart endra. Prøv igjen om litt."
BAD_BUTTON = "Denne knappen er ugyldig. Opne oppgåva på nytt."


@dataclass(frozen=True, slots=True)
class Click:
    """Who clicked what, and where: on a message in a channel or inside a modal."""

    user: str
    value: str
    trigger_id: str | None
    channel: str | None
    message_ts: str | None
    view: dict[str, Any] | None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_click(body: dict[str, Any]) -> Click:
    actions = body.get("actions")
    action = _object(actions[0] if isinstance(actions, list) and actions else None)
    selected = _object(action.get("selected_option"))
    container = _object(body.get("container"))
    channel = container.get("channel_id") or _object(body.get("channel")).get("id")
    return Click(
        user=str(_object(body.get("user")).get("id") or ""),
        value=str(selected.get("value") if selected else action.get("value") or ""),
        trigger_id=body.get("trigger_id") if isinstance(body.get("trigger_id"), str) else None,
        channel=channel if isinstance(channel, str) else None,
        message_ts=container.get("message_ts") if isinstance(container.get("message_ts"), str) else None,
        view=_object(body.get("view")) if container.get("type") == "view" else None,
    )


def parse_id(text: str) -> int | None:
    """A database id written in ASCII digits, within the integer range of both databases."""
    text = text.strip()
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def parse_task_id(value: str) -> int | None:
    return parse_id(value.split(":", 1)[0])


def parse_reclassify(value: str) -> tuple[int, Category] | None:
    """ "TASK_ID:CATEGORY" from the reclassify menu."""
    task_part, _, category_part = value.partition(":")
    task_id = parse_id(task_part)
    if task_id is None:
        return None
    try:
        return task_id, Category(category_part.strip())
    except ValueError:
        return None


def denied_text(action: Action) -> str:
    """The refusal the task service gives, for checks made here."""
    return f"Du har ikkje løyve til dette. Det krev rolla {describe_roles(ALLOWED[action])}."


class TaskActions:
    """Listeners for task_publish, task_edit, task_handled, task_reclassify, task_hide, task_forward,
    task_assign, the edit modal's submit and the grouped message's button."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tasks = services.tasks
        self.zone = ZoneInfo(services.settings.deadlines.timezone)
        self._task_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, task_id: int) -> asyncio.Lock:
        """One click per task at a time in this process: SQLite cannot lock the task row for us."""
        lock = self._task_locks.get(task_id)
        if lock is None:
            lock = asyncio.Lock()
            self._task_locks[task_id] = lock
        return lock

    def register(self, app: AsyncApp) -> None:
        app.action("task_publish")(self.publish)
        app.action("task_edit")(self.edit)
        app.action("task_handled")(self.handled)
        app.action("task_reclassify")(self.reclassify)
        app.action("task_hide")(self.hide)
        app.action("task_forward")(self.forward)
        app.action("task_assign")(self.assign)
        app.action("task_group_open")(self.open_group)
        app.view(modals.EDIT_CALLBACK)(self.submit_edit)

    # -- the buttons -----------------------------------------------------------------------------

    async def publish(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await self._button(ack, body, client, lambda task_id, user: self.tasks.publish(task_id, user))

    async def handled(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await self._button(ack, body, client, self.tasks.mark_handled)

    async def hide(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await self._button(ack, body, client, lambda task_id, user: self.tasks.hide(task_id, user))

    async def assign(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await self._button(ack, body, client, self.tasks.assign)

    async def forward(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        forwarding = self.services.settings.forwarding

        async def run(task_id: int, user: str) -> Outcome:
            return await self.tasks.forward(
                task_id,
                user,
                archive=bool(forwarding.archive_url),
                publish_referral=forwarding.publish_referral_reply,
            )

        await self._button(ack, body, client, run)

    async def reclassify(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        click = read_click(body)
        parsed = parse_reclassify(click.value)
        if parsed is None:
            await self._tell(client, click, BAD_BUTTON)
            return
        task_id, category = parsed
        async with self._lock(task_id):
            outcome = await self._safely(self.tasks.reclassify(task_id, click.user, category))
        await self._finish(client, click, outcome)

    async def _button(
        self,
        ack: Any,
        body: dict[str, Any],
        client: AsyncWebClient,
        operation: Callable[[int, str], Awaitable[Outcome]],
    ) -> None:
        await ack()
        click = read_click(body)
        task_id = parse_task_id(click.value)
        if task_id is None or not click.user:
            await self._tell(client, click, BAD_BUTTON)
            return
        async with self._lock(task_id):
            outcome = await self._safely(operation(task_id, click.user))
        await self._finish(client, click, outcome)

    @staticmethod
    async def _safely(call: Awaitable[Outcome]) -> Outcome:
        try:
            return await call
        except Exception:  # the database or a bug: tell the person, keep the bot running
            log.exception("task action failed")
            return Outcome(False, SOMETHING_WENT_WRONG)

    async def _finish(self, client: AsyncWebClient, click: Click, outcome: Outcome) -> None:
        if outcome.changed:
            self.services.wake_outbox()
        if click.view is not None:
            await self._refresh_group_modal(client, click, outcome.message)
        elif not outcome.ok:
            await self._tell(client, click, outcome.message)

    async def _tell(self, client: AsyncWebClient, click: Click, text: str) -> None:
        """An ephemeral answer to the person who clicked (nobody else sees it)."""
        if click.channel and click.user:
            try:
                await client.chat_postEphemeral(channel=click.channel, user=click.user, text=text)
                return
            except SlackApiError as error:
                log.warning("could not answer %s in %s: %s", click.user, click.channel, error_code(error))
        if click.user:
            try:  # no channel (a modal) or not allowed there: a direct message reaches the person
                await client.chat_postMessage(channel=click.user, text=text)
            except SlackApiError as error:
                log.warning("could not answer %s: %s", click.user, error_code(error))

    # -- the edit modal --------------------------------------------------------------------------

    async def edit(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Open the edit modal pre-filled; a person without the role is refused instead of getting it.

        The trigger id lives 3 s, so the role check gets a budget: when a user-group lookup is slow,
        the modal opens anyway and the submit (which checks again) refuses.
        """
        await ack()
        click = read_click(body)
        task_id = parse_task_id(click.value)
        if task_id is None or not click.trigger_id:
            await self._tell(client, click, BAD_BUTTON)
            return
        async with self.services.db.session() as session:
            task = await repo.get_task(session, task_id)
            reply = (task.final_reply or task.suggested_reply or "") if task else ""
            comment_text = task.comment.text if task and task.comment.redacted_at is None else None
            is_open = task is not None and task.status == "open"
            page = task.comment.page if task else None
            page_key = (page.platform, page.external_id) if page else None
        if task is None or not is_open:
            await self._tell(client, click, f"Oppgåve {task_id} er alt avslutta." if task else BAD_BUTTON)
            return
        if await self._may_edit(click.user, task_id, page_key) is False:
            await self._tell(client, click, denied_text(Action.EDIT))
            return
        view = modals.edit_reply_modal(
            task_id,
            reply,
            comment_text,
            metadata=modals.edit_metadata(task_id, click.channel, click.message_ts),
            max_length=self.services.settings.replies.max_length,
        )
        try:
            await client.views_open(trigger_id=click.trigger_id, view=view)
        except SlackApiError as error:
            log.warning("could not open the edit modal: %s", error_code(error))
            await self._tell(client, click, "Kunne ikkje opne redigeringa. Klikk «Rediger svaret» igjen.")

    async def _may_edit(self, user: str, task_id: int, page_key: tuple[str, str] | None) -> bool | None:
        """True or False, or None when the roles could not be read within the budget; a refusal is audited."""
        check = asyncio.ensure_future(self.services.roles.allowed(user, Action.EDIT, page_key))
        try:
            # shield: a slow group lookup still finishes (and fills the cache) after we stop waiting
            allowed = await asyncio.wait_for(asyncio.shield(check), timeout=ROLE_CHECK_BUDGET_S)
        except TimeoutError:
            return None
        if not allowed:
            async with self.services.db.session() as session:
                repo.audit(session, user, "denied", task_id=task_id, attempted=Action.EDIT.value)
        return allowed

    async def submit_edit(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Publish the edited reply; an empty or too long reply is refused inside the modal."""
        values = (view.get("state") or {}).get("values") or {}
        text = str(((values.get(modals.REPLY_BLOCK) or {}).get(modals.REPLY_ACTION) or {}).get("value") or "")
        limit = self.services.settings.replies.max_length
        if not text.strip():
            await ack(
                response_action="errors", errors={modals.REPLY_BLOCK: "Skriv eit svar før du publiserer."}
            )
            return
        if len(text) > limit:
            await ack(
                response_action="errors",
                errors={modals.REPLY_BLOCK: f"Svaret er for langt: {len(text)} teikn, høgst {limit}."},
            )
            return
        await ack()
        metadata = modals.read_edit_metadata(view.get("private_metadata") or "")
        user = str((body.get("user") or {}).get("id") or "")
        task_id = metadata.get("task_id")
        click = Click(
            user, str(task_id), None, metadata.get("channel") or None, metadata.get("ts") or None, None
        )
        if not isinstance(task_id, int):
            await self._tell(client, click, BAD_BUTTON)
            return
        async with self._lock(task_id):
            outcome = await self._safely(self.tasks.publish(task_id, user, text=text.strip()))
        await self._finish(client, click, outcome)

    # -- the grouped message ---------------------------------------------------------------------

    async def open_group(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        click = read_click(body)
        post_id = parse_id(click.value)
        if post_id is None or not click.trigger_id:
            await self._tell(client, click, BAD_BUTTON)
            return
        view = await self._group_view(post_id, notice="")
        try:
            await client.views_open(trigger_id=click.trigger_id, view=view)
        except SlackApiError as error:
            log.warning("could not open the group modal: %s", error_code(error))

    async def _refresh_group_modal(self, client: AsyncWebClient, click: Click, notice: str) -> None:
        view = click.view or {}
        post_id = parse_id(str(view.get("private_metadata") or ""))
        if post_id is None or view.get("callback_id") != modals.GROUP_CALLBACK:
            await self._tell(client, click, notice)
            return
        try:
            await client.views_update(
                view_id=view.get("id"), hash=view.get("hash"), view=await self._group_view(post_id, notice)
            )
        except SlackApiError as error:
            # hash_conflict: someone else's click refreshed it first; their version is as new as ours.
            log.info("group modal not refreshed: %s", error_code(error))

    async def _group_view(self, post_id: int, notice: str) -> dict[str, Any]:
        cards, open_count, page_name, post_text = await self._group_cards(post_id)
        return modals.group_modal(
            post_id,
            page_name,
            post_text,
            cards,
            open_count=open_count,
            now=datetime.now(UTC),
            zone=self.zone,
            notice=notice,
        )

    async def _group_cards(self, post_id: int) -> tuple[list[TaskCard], int, str, str]:
        """Open praise/neutral tasks of a post, oldest first."""
        async with self.services.db.session() as session:
            post = await session.get(Post, post_id)
            page = await session.get(Page, post.page_id) if post and post.page_id else None
            condition = (
                (CommentRow.post_id == post_id)
                & TaskRow.category.in_(LOW_PRIORITY_CATEGORIES)
                & (TaskRow.status == "open")
            )
            open_count = (
                await session.execute(
                    select(func.count())
                    .select_from(TaskRow)
                    .join(CommentRow, CommentRow.id == TaskRow.comment_id)
                    .where(condition)
                )
            ).scalar_one()
            rows = (
                (
                    await session.execute(
                        select(TaskRow)
                        .join(CommentRow, CommentRow.id == TaskRow.comment_id)
                        .where(condition)
                        .order_by(TaskRow.id)
                        .limit(modals.GROUP_MAX_TASKS)
                    )
                )
                .unique()
                .scalars()
                .all()
            )
            cards = [task_card(task, await load_history(session, task.id)) for task in rows]
        return cards, int(open_count), page.name if page else "", post.text if post else ""
