"""/kommentarvakt: status, digest, crisis on|off, pause|resume PAGE, help. Answers only the asker."""

from __future__ import annotations

import importlib
import inspect
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.app.async_app import AsyncApp
from sqlalchemy import select

from bot.ingest import CRISIS_STATE_KEY
from bot.roles import ALLOWED, Action, describe_roles
from bot.runtime import Services
from handlers.home import page_counts
from handlers.views import blocks as kit
from handlers.views import labels
from handlers.views.task_message import masked, who
from storage import outbox as queue
from storage import repository as repo
from storage.models import TaskRow

log = logging.getLogger(__name__)

COMMAND = "/kommentarvakt"
DIGEST_FALLBACK_MAX = 30

HELP = (
    "*/kommentarvakt* – kommandoar:\n"
    "• `status` – opne og forfalne oppgåver per side, krisemodus og pausa sider\n"
    "• `digest` – oversikt over oppgåver som har gått over fristen\n"
    "• `crisis on` / `crisis off` – slå krisemodus på eller av (administrator)\n"
    "• `pause SIDE` / `resume SIDE` – stopp eller start henting frå ei side (administrator)\n"
    "• `help` – denne hjelpa"
)
_ON = {"on", "på", "pa"}
_OFF = {"off", "av"}


class SlashCommands:
    """The /kommentarvakt command."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.zone = ZoneInfo(services.settings.deadlines.timezone)

    def register(self, app: AsyncApp) -> None:
        app.command(COMMAND)(self.handle)

    async def handle(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        try:
            text = await self.answer(str(command.get("user_id") or ""), str(command.get("text") or ""))
        except Exception:  # the database may be down: say so instead of staying silent
            log.exception("/kommentarvakt failed")
            text = "Noko gjekk gale. Prøv igjen om litt."
        await respond(text=kit.fallback_text(text), response_type="ephemeral")

    async def answer(self, user: str, text: str) -> str:
        """The reply to `/kommentarvakt <text>` from `user`."""
        words = text.split()
        name = words[0].lower() if words else "help"
        rest = " ".join(words[1:])
        if name in ("help", "hjelp"):
            return HELP
        if name == "status":
            return await self.status(user)
        if name in ("digest", "oversikt"):
            return await self.digest(user)
        if name in ("crisis", "krise", "krisemodus"):
            switch = rest.strip().lower()
            if switch not in _ON | _OFF:
                return "Skriv `/kommentarvakt crisis on` eller `/kommentarvakt crisis off`."
            return await self.crisis(user, switch in _ON)
        if name in ("pause", "resume", "start"):
            if not rest:
                return f"Skriv kva side: `/kommentarvakt {name} Kinn kommune` (namnet eller id-en)."
            outcome = await self.services.admin.set_paused(user, rest, name == "pause", reason="")
            return outcome.message
        return f"Kjenner ikkje att «{kit.escaped(name, 50)}».\n\n{HELP}"

    async def _allowed(self, user: str, action: Action) -> bool:
        """Allowed globally, or for at least one page (page moderators and team leads)."""
        roles = self.services.roles
        if await roles.allowed(user, action):
            return True
        for page in self.services.settings.pages:
            if await roles.allowed(user, action, (page.platform, page.id)):
                return True
        return False

    @staticmethod
    def _denied(action: Action) -> str:
        return f"Du har ikkje løyve til dette. Det krev rolla {describe_roles(ALLOWED[action])}."

    async def status(self, user: str) -> str:
        if not await self._allowed(user, Action.STATUS):
            return self._denied(Action.STATUS)
        now = datetime.now(UTC)
        async with self.services.db.session() as session:
            pages = await page_counts(self.services, session, now)
            crisis = await repo.get_state(session, CRISIS_STATE_KEY)
            waiting = await queue.depth(session)
        lines = ["*Status for Kommentarvakt*"]
        if crisis.get("on"):
            since = ""
            if crisis.get("at"):
                since = " " + labels.oslo_time(datetime.fromisoformat(crisis["at"]), self.zone, now)
            lines.append(f":rotating_light: *Krisemodus er på* (slått på av {who(crisis.get('by'))}{since})")
        else:
            lines.append("Krisemodus er av.")
        for page in pages:
            paused = ""
            if page.paused:
                paused = " · :double_vertical_bar: *pausa*" + (
                    f" ({kit.escaped(page.paused_reason, 200)})" if page.paused_reason else ""
                )
            lines.append(
                f"• *{kit.escaped(page.name, 150)}*: {page.open} opne, {page.overdue} forfalne{paused}"
            )
        if not pages:
            lines.append("Ingen sider er sette opp.")
        slack_waiting = sum(count for kind, count in waiting.items() if kind.startswith("slack."))
        if slack_waiting:
            lines.append(f"{slack_waiting} Slack-meldingar ventar i køen.")
        return "\n".join(lines)

    async def digest(self, user: str) -> str:
        if not await self._allowed(user, Action.DIGEST):
            return self._denied(Action.DIGEST)
        build = _digest_builder()
        if build is not None:
            text = build(self.services)
            return str(await text) if inspect.isawaitable(text) else str(text)
        return await self._simple_digest()

    async def _simple_digest(self) -> str:
        """Overdue tasks straight from the database (when the follow-up digest is not installed)."""
        now = datetime.now(UTC)
        async with self.services.db.session() as session:
            rows = (
                (
                    await session.execute(
                        select(TaskRow)
                        .where(TaskRow.status == "open", TaskRow.deadline_at < now)
                        .order_by(TaskRow.deadline_at)
                        .limit(DIGEST_FALLBACK_MAX)
                    )
                )
                .unique()
                .scalars()
                .all()
            )
        if not rows:
            return "Ingen oppgåver har gått over fristen. :tada:"
        lines = [f"*Forfalne oppgåver* ({len(rows)}{'+' if len(rows) == DIGEST_FALLBACK_MAX else ''})"]
        for task in rows:
            page = task.comment.page.name if task.comment and task.comment.page else ""
            excerpt = kit.escaped(kit.truncate(" ".join(masked(task.comment.text).split()), 80), 240)
            lines.append(
                f"• {labels.category_with_emoji(task.category)} «{excerpt}» – {kit.escaped(page, 100)} – "
                f"frist {labels.deadline_words(task.deadline_at, now, self.zone)}"
                + (f" – {who(task.assignee)}" if task.assignee else "")
            )
        return "\n".join(lines)

    async def crisis(self, user: str, on: bool) -> str:
        outcome = await self.services.admin.set_crisis(user, on)
        channel = self.services.settings.slack.crisis_channel
        if outcome.changed and channel:
            text = (
                f":rotating_light: Krisemodus er slått *på* av {who(user)}. Nye oppgåver vert kopierte hit, "
                "og alle svar må publiserast av ein krisegodkjennar."
                if on
                else f":white_check_mark: Krisemodus er slått *av* av {who(user)}."
            )
            async with self.services.db.session() as session:
                await repo.enqueue(
                    session,
                    "slack.message",
                    {"channel": channel, "text": text},
                    lane=f"slack:{channel}",
                    priority=0,
                )
            self.services.wake_outbox()
        return outcome.message


def _digest_builder() -> Any:
    """bot.followup.digest.build_digest_text when the follow-up part is installed, else None."""
    try:
        module = importlib.import_module("bot.followup.digest")
    except ImportError:
        return None
    return getattr(module, "build_digest_text", None)
