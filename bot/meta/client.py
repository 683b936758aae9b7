"""The Graph API client: one shared httpx client, usage-aware pacing, lockouts and retries.

Every response's usage headers are read. Near a limit (80 % and up) calls slow down in proportion;
once Meta says a page (or the app) is limited, no more calls go out for it until the estimated time to
regain access has passed, because more calls extend the lockout. Transient failures are retried with
exponential backoff and jitter; permission and parameter errors never are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from bot import metrics
from bot.config import MetaSettings
from bot.logs import register_secret
from bot.meta.errors import MetaError, RateLimited, TransientError, error_from_body

log = logging.getLogger(__name__)

APP_KEY = "*"  # usage and lockouts that apply to every page
SLOW_DOWN_FROM_PERCENT = 80


def build_http_client(settings: MetaSettings) -> httpx.AsyncClient:
    """The one shared client: HTTP/1.1 keep-alive, timeouts from [meta] timeout_s."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_s),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=60),
        headers={"User-Agent": "kommentarvakt"},
        http2=False,
    )


def usage_percent(entry: Any) -> int:
    """The highest of call_count, total_time and total_cputime in one usage entry."""
    if not isinstance(entry, dict):
        return 0
    values = [entry.get(key) for key in ("call_count", "total_time", "total_cputime")]
    return max((int(v) for v in values if isinstance(v, int | float)), default=0)


class GraphClient:
    """Calls the Graph API for one page at a time; counts calls per page."""

    def __init__(
        self,
        settings: MetaSettings,
        http: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        slow_down_max_s: float = 10.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.http = http
        self.sleep = sleep
        self.clock = clock
        self.slow_down_max_s = slow_down_max_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.base_url = httpx.URL(f"{settings.graph_api_url}/{settings.api_version}/")
        self.calls: Counter[str] = Counter()
        self.usage: dict[str, int] = {}
        self.blocked_until: dict[str, float] = {}

    # ------------------------------------------------------------------ public calls

    async def get(
        self, path: str, *, token: str, page_id: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._request("GET", self.base_url.join(path.lstrip("/")), token, page_id, params=params)

    async def get_next(self, next_url: str, *, token: str, page_id: str) -> dict[str, Any]:
        """Follow a `paging.next` link (rebased on our graph_api_url; the token goes in a header)."""
        return await self._request("GET", self.rebase(next_url), token, page_id)

    async def post(self, path: str, *, token: str, page_id: str, data: dict[str, Any]) -> dict[str, Any]:
        form = {key: _form_value(value) for key, value in data.items()}
        return await self._request("POST", self.base_url.join(path.lstrip("/")), token, page_id, data=form)

    def rebase(self, next_url: str) -> httpx.URL:
        """Keep the path and query of a paging link but send it to our own base URL, token removed.

        Graph writes its own host into paging links; a proxy or test server must still get them, and
        the token must never travel in a URL (URLs end up in logs).
        """
        url = httpx.URL(next_url).copy_remove_param("access_token")
        base = httpx.URL(self.settings.graph_api_url)
        base_path = base.path.rstrip("/")
        path = url.path
        if base_path and not path.startswith(base_path + "/"):
            path = base_path + path
        return base.copy_with(path=path, query=url.query or None)

    def remaining_lockout_s(self, page_id: str) -> float:
        now = self.clock()
        until = max(self.blocked_until.get(page_id, 0.0), self.blocked_until.get(APP_KEY, 0.0))
        return max(0.0, until - now)

    def calls_for(self, page_id: str) -> int:
        return self.calls[page_id]

    # ------------------------------------------------------------------ machinery

    async def _request(
        self,
        method: str,
        url: httpx.URL,
        token: str,
        page_id: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        register_secret(token)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=wait_exponential_jitter(initial=self.backoff_initial_s, max=self.backoff_max_s),
            retry=retry_if_exception_type(TransientError),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, url, token, page_id, params=params, data=data)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _once(
        self,
        method: str,
        url: httpx.URL,
        token: str,
        page_id: str,
        *,
        params: dict[str, Any] | None,
        data: dict[str, str] | None,
    ) -> dict[str, Any]:
        waiting_s = self.remaining_lockout_s(page_id)
        if waiting_s > 0:
            raise RateLimited(
                f"page {page_id} is rate limited for {waiting_s:.0f} s more; not calling",
                retry_after_s=waiting_s,
                page_id=page_id,
            )
        await self._pace(page_id)
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method, url, params=params, data=data, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TimeoutException:
            metrics.GRAPH_REQUESTS.labels("timeout").inc()
            raise TransientError(
                f"Graph API did not answer within {self.settings.timeout_s} s", page_id=page_id
            ) from None
        except httpx.TransportError as error:
            metrics.GRAPH_REQUESTS.labels("network_error").inc()
            raise TransientError(
                f"network error talking to the Graph API: {type(error).__name__}", page_id=page_id
            ) from None
        finally:
            metrics.GRAPH_LATENCY.observe(time.perf_counter() - started)
            self.calls[page_id] += 1
        eta_minutes = self._read_usage(response.headers, page_id)
        body = _json_or_none(response)
        if response.status_code >= 400 or body is None or (isinstance(body, dict) and "error" in body):
            error = error_from_body(
                body,
                http_status=response.status_code,
                page_id=page_id,
                eta_minutes=eta_minutes,
                retry_after_s=_retry_after_s(response.headers),
            )
            self._note_error(error, page_id)
            raise error
        metrics.GRAPH_REQUESTS.labels("ok").inc()
        return body if isinstance(body, dict) else {"data": body}

    def _note_error(self, error: MetaError, page_id: str) -> None:
        outcome = type(error).__name__
        metrics.GRAPH_REQUESTS.labels(outcome).inc()
        if isinstance(error, RateLimited):
            key = APP_KEY if error.app_wide else page_id
            self.blocked_until[key] = max(
                self.blocked_until.get(key, 0.0), self.clock() + error.retry_after_s
            )
            log.warning(
                "Graph API rate limit (code %s) for %s: no calls for %.0f s",
                error.code,
                "the whole app" if error.app_wide else f"page {page_id}",
                error.retry_after_s,
            )
        else:
            log.info("Graph API error for page %s: %s", page_id, error)

    def _read_usage(self, headers: httpx.Headers, page_id: str) -> int:
        """Remember the usage percentages; return the page's estimated minutes to regain access."""
        app = _json_header(headers.get("x-app-usage"))
        if isinstance(app, dict):
            self.usage[APP_KEY] = usage_percent(app)
        eta_minutes = 0
        business = _json_header(headers.get("x-business-use-case-usage"))
        if isinstance(business, dict):
            for business_id, entries in business.items():
                if not isinstance(entries, list):
                    continue
                self.usage[str(business_id)] = max((usage_percent(entry) for entry in entries), default=0)
                if str(business_id) == page_id:
                    eta_minutes = max(
                        (_minutes(entry) for entry in entries if isinstance(entry, dict)), default=0
                    )
        return eta_minutes

    async def _pace(self, page_id: str) -> None:
        """Near a limit, wait in proportion to how close we are (up to slow_down_max_s at 100 %)."""
        percent = max(self.usage.get(APP_KEY, 0), self.usage.get(page_id, 0))
        if percent < SLOW_DOWN_FROM_PERCENT:
            return
        share = min(1.0, (percent - SLOW_DOWN_FROM_PERCENT + 1) / (100 - SLOW_DOWN_FROM_PERCENT + 1))
        delay_s = self.slow_down_max_s * share
        log.info("Graph API usage at %d %% for page %s: waiting %.1f s", percent, page_id, delay_s)
        await self.sleep(delay_s)


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_header(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _minutes(entry: dict[str, Any]) -> int:
    value = entry.get("estimated_time_to_regain_access")
    return int(value) if isinstance(value, int | float) else 0


def _retry_after_s(headers: httpx.Headers) -> float:
    try:
        return float(headers.get("retry-after", "0"))
    except ValueError:
        return 0.0
