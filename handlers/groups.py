"""Slack user groups (S…) as role members: usergroups.users.list, cached because it is Tier 2."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics

log = logging.getLogger(__name__)

# Errors that mean groups cannot work here at all (free plan, missing scope): say so once, not per click.
_SETUP_ERRORS = {"paid_teams_only", "missing_scope", "not_allowed_token_type", "no_such_subteam"}


class UserGroupResolver:
    """Members of a user group, cached for `ttl_s`; the last known members are used if Slack fails."""

    def __init__(self, client: AsyncWebClient, *, ttl_s: float = 300.0, timeout_s: float = 5.0) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._reported: set[tuple[str, str]] = set()

    async def __call__(self, group_id: str) -> set[str]:
        cached = self._cache.get(group_id)
        if cached and cached[0] > time.monotonic():
            return set(cached[1])
        lock = self._locks.setdefault(group_id, asyncio.Lock())
        async with lock:  # one lookup per group at a time, however many clicks arrive together
            cached = self._cache.get(group_id)
            if cached and cached[0] > time.monotonic():
                return set(cached[1])
            members = await self._fetch(group_id)
            if members is None:
                return set(cached[1]) if cached else set()
            self._cache[group_id] = (time.monotonic() + self.ttl_s, members)
            return set(members)

    def forget(self) -> None:
        """Drop the cache (the next check asks Slack again)."""
        self._cache.clear()

    async def _fetch(self, group_id: str) -> frozenset[str] | None:
        started = time.monotonic()
        try:
            response = await asyncio.wait_for(
                self.client.usergroups_users_list(usergroup=group_id), timeout=self.timeout_s
            )
        except SlackApiError as error:
            data = getattr(error.response, "data", None)
            code = str(data.get("error") or "") if isinstance(data, dict) else ""
            metrics.SLACK_REQUESTS.labels("usergroups.users.list", "error").inc()
            self._report(group_id, code)
            if code in _SETUP_ERRORS:
                # A group that cannot be read has no members: cache that so clicks do not hammer Slack.
                return frozenset()
            return None
        except Exception as error:  # network trouble: keep the last known members
            metrics.SLACK_REQUESTS.labels("usergroups.users.list", "error").inc()
            log.warning("could not read Slack user group %s: %s", group_id, type(error).__name__)
            return None
        finally:
            metrics.SLACK_LATENCY.observe(time.monotonic() - started)
        metrics.SLACK_REQUESTS.labels("usergroups.users.list", "ok").inc()
        return frozenset(str(user) for user in response.get("users") or [])

    def _report(self, group_id: str, code: str) -> None:
        if (group_id, code) in self._reported:
            return
        self._reported.add((group_id, code))
        advice = {
            "paid_teams_only": "user groups need a paid Slack plan; list user ids in [roles] instead",
            "missing_scope": "add the usergroups:read scope to the Slack app and reinstall it",
            "no_such_subteam": "the group id does not exist; check [roles] in the config",
        }.get(code, "check the group id in [roles] and the app's usergroups:read scope")
        log.error("Slack user group %s cannot be read (%s): %s", group_id, code or "unknown error", advice)
