"""The task service: what a moderator can do to a task. Checked against roles, audited, idempotent.

Platform work (publishing, hiding, forwarding) is queued in the outbox with a dedupe key, so a repeated
click or a crash half-way never does it twice; the outbox handlers at the edges carry it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.deadlines import DeadlinePolicy, task_priority
from bot.domain import Category, Classification, Comment, Flag, TaskStatus
from bot.ingest import CRISIS_STATE_KEY, queue_task_update
from bot.roles import ALLOWED, Action, Role, RoleChecker, describe_roles
from bot.triage import Triager
from storage import repository as repo
from storage.db import Database
from storage.models import ClassificationRow, TaskRow
from storage.types import utcnow

HIDE_CLAUSE = (
    "Retningslinjer for sosiale medium, «Ytringar»: alle ytringar på dei offisielle kontoane skal vere "
    "politisk og religiøst nøytrale og må ikkje verke diskriminerande"
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened, in words for the person who clicked."""

    ok: bool
    message: str
    changed: bool = False


def _denied(action: Action) -> Outcome:
    return Outcome(False, f"Du har ikkje løyve til dette. Det krev rolla {describe_roles(ALLOWED[action])}.")


class TaskService:
    def __init__(self, db: Database, roles: RoleChecker, triager: Triager, policy: DeadlinePolicy) -> None:
        self.db = db
        self.roles = roles
        self.triager = triager
        self.policy = policy

    async def _authorised(
        self, session: AsyncSession, task_id: int, actor: str, action: Action
    ) -> TaskRow | Outcome:
        """The task, locked, if `actor` may do `action` on it; else the Outcome to answer (audited)."""
        task = await repo.get_task(session, task_id, for_update=True)
        if task is None:
            return Outcome(False, f"Fann ikkje oppgåve {task_id}.")
        page = task.comment.page
        page_key = (page.platform, page.external_id) if page else None
        if not await self.roles.allowed(actor, action, page_key):
            repo.audit(session, actor, "denied", task_id=task_id, attempted=action.value)
            return _denied(action)
        return task

    async def crisis_on(self) -> bool:
        async with self.db.session() as session:
            return bool((await repo.get_state(session, CRISIS_STATE_KEY)).get("on"))

    async def assign(self, task_id: int, actor: str) -> Outcome:
        async with self.db.session() as session:
            task = await self._authorised(session, task_id, actor, Action.ASSIGN)
            if isinstance(task, Outcome):
                return task
            if task.assignee == actor:
                return Outcome(True, "Oppgåva er alt di.")
            task.assignee = actor
            repo.audit(session, actor, "assigned", task_id=task_id)
            await queue_task_update(session, task)
            return Outcome(True, "Oppgåva er no di.", changed=True)

    async def mark_handled(self, task_id: int, actor: str) -> Outcome:
        async with self.db.session() as session:
            task = await self._authorised(session, task_id, actor, Action.HANDLED)
            if isinstance(task, Outcome):
                return task
            if task.status != TaskStatus.OPEN.value:
                return Outcome(True, "Oppgåva var alt avslutta.")
            self._close(task, TaskStatus.HANDLED, actor)
            repo.audit(session, actor, "handled", task_id=task_id)
            await queue_task_update(session, task)
            return Outcome(True, "Markert som handsama.", changed=True)

    async def publish(self, task_id: int, actor: str, text: str | None = None) -> Outcome:
        """Queue the reply for publishing once; an edited `text` replaces the suggestion."""
        async with self.db.session() as session:
            action = Action.PUBLISH if text is None else Action.EDIT
            task = await self._authorised(session, task_id, actor, action)
            if isinstance(task, Outcome):
                return task
            crisis = bool((await repo.get_state(session, CRISIS_STATE_KEY)).get("on"))
            if crisis and actor not in await self.roles.members(Role.CRISIS_APPROVER):
                repo.audit(session, actor, "denied", task_id=task_id, attempted="publish_in_crisis")
                return Outcome(False, "Krisemodus er på: alle svar må publiserast av ein krisegodkjennar.")
            if task.reply_external_id or task.pending_action == "publish":
                return Outcome(True, "Svaret er alt publisert eller på veg.")
            reply = (text if text is not None else task.suggested_reply or "").strip()
            if not reply:
                return Outcome(
                    False, "Det finst ikkje noko svar å publisere. Bruk «Rediger» for å skrive eitt."
                )
            if task.comment.is_deleted:
                return Outcome(False, "Kommentaren er sletta på plattforma, så han kan ikkje få svar.")
            task.final_reply, task.pending_action = reply, "publish"
            await repo.enqueue(
                session,
                "meta.reply",
                {"task_id": task_id, "actor": actor},
                lane=f"meta:{task.comment.page_id or 0}",
                priority=task.priority,
                dedupe_key=f"meta.reply:{task_id}",
            )
            repo.audit(session, actor, "publish_requested", task_id=task_id, edited=text is not None)
            await queue_task_update(session, task)
            return Outcome(True, "Svaret vert publisert.", changed=True)

    async def hide(self, task_id: int, actor: str, clause: str = HIDE_CLAUSE) -> Outcome:
        async with self.db.session() as session:
            task = await self._authorised(session, task_id, actor, Action.HIDE)
            if isinstance(task, Outcome):
                return task
            if task.comment.is_hidden or task.pending_action == "hide":
                return Outcome(True, "Kommentaren er alt skjult eller på veg til å bli det.")
            task.pending_action = "hide"
            await repo.enqueue(
                session,
                "meta.hide",
                {"task_id": task_id, "actor": actor, "hidden": True},
                lane=f"meta:{task.comment.page_id or 0}",
                priority=task.priority,
                dedupe_key=f"meta.hide:{task_id}",
            )
            repo.audit(session, actor, "hide_requested", task_id=task_id, guideline_clause=clause)
            await queue_task_update(session, task)
            return Outcome(True, "Kommentaren vert skjult.", changed=True)

    async def forward(
        self, task_id: int, actor: str, *, archive: bool = False, publish_referral: bool = False
    ) -> Outcome:
        """Queue the forward to the records office (and the archive API) once."""
        async with self.db.session() as session:
            task = await self._authorised(session, task_id, actor, Action.FORWARD)
            if isinstance(task, Outcome):
                return task
            if task.forwarded_at or task.pending_action == "forward":
                return Outcome(True, "Førespurnaden er alt send vidare eller på veg.")
            task.pending_action = "forward"
            await repo.enqueue(
                session,
                "forward.email",
                {"task_id": task_id, "actor": actor},
                lane="forward",
                priority=task.priority,
                dedupe_key=f"forward.email:{task_id}",
            )
            if archive:
                await repo.enqueue(
                    session,
                    "forward.archive",
                    {"task_id": task_id, "actor": actor},
                    lane="archive",
                    priority=task.priority,
                    dedupe_key=f"forward.archive:{task_id}",
                )
            repo.audit(session, actor, "forward_requested", task_id=task_id, archive=archive)
            await queue_task_update(session, task)
        if publish_referral:
            await self.publish(task_id, actor)
        return Outcome(True, "Førespurnaden vert send til postmottaket.", changed=True)

    async def reclassify(self, task_id: int, actor: str, category: Category) -> Outcome:
        """Store the moderator's category as feedback and suggest a new reply."""
        async with self.db.session() as session:
            task = await self._authorised(session, task_id, actor, Action.RECLASSIFY)
            if isinstance(task, Outcome):
                return task
            if task.category == category.value:
                return Outcome(True, "Kategorien var alt den.")
            previous = task.category
            flags = frozenset(Flag(flag) for flag in task.flags.split(",") if flag)
            latest = await repo.latest_classification(session, task.comment_id)
            session.add(
                ClassificationRow(
                    comment_id=task.comment_id,
                    category=category.value,
                    flags=task.flags,
                    confidence=1.0,
                    decided_by=actor,
                    is_feedback=True,
                    created_at=utcnow(),
                    language=latest.language if latest else "und",
                )
            )
            comment_row = task.comment
            comment = Comment(
                text=comment_row.text or "",
                post_text=comment_row.post.text if comment_row.post else "",
                id=comment_row.external_id,
                platform=comment_row.platform,
                author_name=comment_row.author_name,
            )
            classification = Classification(category=category, flags=flags, confidence=1.0)
            reply = self.triager.suggest(comment, classification)
            task.category, task.priority = category.value, task_priority(category, flags)
            received = comment_row.created_time or task.created_at
            task.deadline_at = self.policy.deadline(category, flags, received)
            task.suggested_reply, task.reply_note = reply.text, reply.note or None
            repo.audit(
                session, actor, "reclassified", task_id=task_id, previous=previous, category=category.value
            )
            await queue_task_update(session, task)
            return Outcome(True, f"Kategorien er endra frå {previous} til {category.value}.", changed=True)

    @staticmethod
    def _close(task: TaskRow, status: TaskStatus, actor: str) -> None:
        now = datetime.now(UTC)
        task.status, task.handled_by, task.handled_at = status.value, actor, now
        task.first_response_at = task.first_response_at or now


class AdminService:
    """Switches that change how the whole bot behaves: crisis mode and pausing a page."""

    def __init__(self, db: Database, roles: RoleChecker) -> None:
        self.db = db
        self.roles = roles

    async def set_crisis(self, actor: str, on: bool) -> Outcome:
        async with self.db.session() as session:
            if not await self.roles.allowed(actor, Action.CRISIS):
                repo.audit(session, actor, "denied", attempted=f"crisis_{'on' if on else 'off'}")
                return _denied(Action.CRISIS)
            current = bool((await repo.get_state(session, CRISIS_STATE_KEY)).get("on"))
            if current == on:
                return Outcome(True, f"Krisemodus var alt {'på' if on else 'av'}.")
            await repo.set_state(
                session, CRISIS_STATE_KEY, {"on": on, "by": actor, "at": utcnow().isoformat()}
            )
            repo.audit(session, actor, "crisis_on" if on else "crisis_off")
            return Outcome(True, f"Krisemodus er no {'på' if on else 'av'}.", changed=True)

    async def set_paused(self, actor: str, page_name_or_id: str, paused: bool, reason: str = "") -> Outcome:
        from sqlalchemy import or_, select

        from storage.models import Page

        async with self.db.session() as session:
            if not await self.roles.allowed(actor, Action.PAUSE):
                repo.audit(session, actor, "denied", attempted="pause" if paused else "resume")
                return _denied(Action.PAUSE)
            page = (
                await session.execute(
                    select(Page).where(or_(Page.external_id == page_name_or_id, Page.name == page_name_or_id))
                )
            ).scalar_one_or_none()
            if page is None:
                return Outcome(False, f"Fann inga side som heiter «{page_name_or_id}».")
            if page.paused == paused:
                return Outcome(True, f"{page.name} var alt {'pausa' if paused else 'i gang'}.")
            page.paused, page.paused_reason = paused, (reason or f"pausa av {actor}") if paused else None
            repo.audit(session, actor, "page_paused" if paused else "page_resumed", page=page.external_id)
            return Outcome(True, f"{page.name} er no {'pausa' if paused else 'i gang att'}.", changed=True)
