"""Who may do what: roles from config lists and Slack user groups, per page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum

from bot.config import Settings


class Role(StrEnum):
    MODERATOR = "moderator"
    TEAM_LEAD = "team_lead"
    ADMIN = "admin"
    CRISIS_APPROVER = "crisis_approver"


class Action(StrEnum):
    PUBLISH = "publish"
    EDIT = "edit"
    HANDLED = "handled"
    RECLASSIFY = "reclassify"
    HIDE = "hide"
    FORWARD = "forward"
    ASSIGN = "assign"
    DIGEST = "digest"
    CRISIS = "crisis"
    PAUSE = "pause"
    STATUS = "status"


# Team leads and admins can do everything a moderator can.
_MODERATION = {Role.MODERATOR, Role.TEAM_LEAD, Role.ADMIN}
ALLOWED: dict[Action, set[Role]] = {
    Action.PUBLISH: _MODERATION | {Role.CRISIS_APPROVER},
    Action.EDIT: _MODERATION | {Role.CRISIS_APPROVER},
    Action.HANDLED: _MODERATION,
    Action.RECLASSIFY: _MODERATION,
    Action.HIDE: _MODERATION,
    Action.FORWARD: _MODERATION,
    Action.ASSIGN: _MODERATION,
    Action.DIGEST: {Role.TEAM_LEAD, Role.ADMIN},
    Action.CRISIS: {Role.ADMIN},
    Action.PAUSE: {Role.ADMIN},
    Action.STATUS: _MODERATION | {Role.CRISIS_APPROVER},
}

ROLE_NAMES_NN = {
    Role.MODERATOR: "moderator",
    Role.TEAM_LEAD: "teamleiar",
    Role.ADMIN: "administrator",
    Role.CRISIS_APPROVER: "krisegodkjennar",
}

GroupResolver = Callable[[str], Awaitable[set[str]]]


async def _no_groups(_group_id: str) -> set[str]:
    return set()


class RoleChecker:
    """Resolves a Slack user's roles; user group ids (S…) are expanded through `resolve_group`."""

    def __init__(self, settings: Settings, resolve_group: GroupResolver | None = None) -> None:
        self.settings = settings
        self.resolve_group = resolve_group or _no_groups

    def _entries(self, role: Role, page_key: tuple[str, str] | None) -> list[str]:
        entries = list(getattr(self.settings.roles, f"{role.value}s"))
        if page_key and role in (Role.MODERATOR, Role.TEAM_LEAD):
            page = self.settings.page(*page_key)
            if page is not None:
                entries += page.moderators if role is Role.MODERATOR else page.team_leads
        return entries

    async def members(self, role: Role, page_key: tuple[str, str] | None = None) -> set[str]:
        """Every user id holding `role` (for the page, if given)."""
        users: set[str] = set()
        for entry in self._entries(role, page_key):
            users |= await self.resolve_group(entry) if entry.startswith("S") else {entry}
        return users

    async def roles_of(self, user_id: str, page_key: tuple[str, str] | None = None) -> set[Role]:
        return {role for role in Role if user_id in await self.members(role, page_key)}

    async def allowed(
        self, user_id: str, action: Action, page_key: tuple[str, str] | None = None
    ) -> bool:
        return bool(await self.roles_of(user_id, page_key) & ALLOWED[action])


def describe_roles(roles: Iterable[Role]) -> str:
    return " eller ".join(ROLE_NAMES_NN[role] for role in roles)
