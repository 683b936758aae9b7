"""The reliability harness: the fakes in threads, config files and `python -m bot run` as real subprocesses.

A test takes the `stack` fixture (the fake Graph API and the fake Slack Web API, each behind a holding
proxy, a fresh migrated database and a set of secrets), starts bots from it with `stack.start_bot()`,
drives them over real HTTP (signed webhooks, signed Slack requests) and asserts on what the fakes
recorded and what the database holds. Every wait has a timeout. Subprocess tests use PostgreSQL when
KOMMENTARVAKT_TEST_POSTGRES_URL is set and SQLite otherwise; `pg_stack` skips without PostgreSQL.

The proxies stand between the bot and the fakes so a test can cut the line at an exact moment: hold a
request before or after the fake has carried it out (then SIGKILL the bot while it waits for the
answer), or refuse every connection for a while (the service is unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import pytest
from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.models import AuditEvent, CommentRow, InboxEvent, OutboxMessage, TaskRow
from storage.types import utcnow
from tests.conftest import POSTGRES_ENV, DatabaseFactory, postgres_url
from tests.fakes.graph_api import FakeGraphAPI, sign, webhook_body
from tests.fakes.slack_api import (
    FakeSlackAPI,
    RecordedCall,
    block_action_payload,
    interactive_body,
    signed_request_headers,
    slash_command_body,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_PATH_ENV = "KOMMENTARVAKT_TEST_MODEL_PATH"  # a trained model directory, when none is packaged

ADMIN_CHANNEL = "C0RELADMIN"
MODERATOR = "U0RELMOD01"
TEAM_LEAD = "U0RELLEAD1"
ADMIN = "U0RELADMN1"
DIRECTOR = "U0RELDIR01"
OUTSIDER = "U0RELNOONE"  # has no role at all

TASK_BUTTONS = (
    "task_publish",
    "task_edit",
    "task_handled",
    "task_reclassify",
    "task_hide",
    "task_forward",
    "task_assign",
)
POST_TEXT = "Symjehallen i Florø opnar igjen 1. september klokka 10 etter rehabiliteringa. Velkomne!"
COMMENT_TEXTS = (
    "Kva kostar det for eit årskort for vaksne?",
    "Opnar den ikkje 15. august? Det stod i avisa i alle fall",
    "Typisk kommunen, alt tek dobbelt så lang tid og kostar tre gonger så mykje. Elendig styring.",
    "Eg søkte om plass på symjeopplæring for sonen min i mai og har ikkje fått svar. Kan de sjekke?",
    "Kor lenge er det ope på laurdagar?",
    "Er det lov å ta med eigen mat i kafeen?",
    "Kvifor vart ikkje dette opna før sommarferien? Skuffande.",
    "Har de plass til fleire på vassgymnastikken?",
)
VALID = object()  # post_webhook: sign the body properly
QUIET_CRON = "0 3 1 1 *"  # the follow-up jobs stay out of the way (once a year)
BOT_START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 45.0


# ---------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until(
    check: Callable[[], Any],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.1,
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = check()
        if isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval_s)


def task_id_of(call: RecordedCall) -> int | None:
    """The task a task message is about: the value of its buttons (None for any other message)."""
    if call.body.get("thread_ts"):
        return None
    for block in call.body.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") in TASK_BUTTONS:
                value = element.get("value") or (element.get("initial_option") or {}).get("value") or ""
                head = str(value).split(":", 1)[0]
                if head.isdigit():
                    return int(head)
    return None


def task_posts(slack: FakeSlackAPI) -> Counter[int]:
    """How many successful top-level task messages each task got."""
    counts: Counter[int] = Counter()
    for call in slack.calls("chat.postMessage", ok=True):
        task_id = task_id_of(call)
        if task_id is not None:
            counts[task_id] += 1
    return counts


def page_replies(graph: FakeGraphAPI) -> Counter[str]:
    """Replies the pages wrote, per comment they answer."""
    with graph._lock:
        pages = set(graph.pages)
        return Counter(
            comment.parent_id
            for comment in graph.comments.values()
            if comment.from_id in pages and comment.parent_id is not None and not comment.deleted
        )


# ---------------------------------------------------------------------------------------------- secrets


@dataclass(frozen=True)
class Secrets:
    """Recognisable secret values, so a test can search every output for them."""

    slack_bot_token: str = field(default_factory=lambda: "xoxb-rel-" + secrets.token_hex(12))
    slack_app_token: str = field(default_factory=lambda: "xapp-rel-" + secrets.token_hex(12))
    slack_signing_secret: str = field(default_factory=lambda: "sign" + secrets.token_hex(16))
    meta_app_secret: str = field(default_factory=lambda: "appsecret" + secrets.token_hex(12))
    meta_verify_token: str = field(default_factory=lambda: "verify" + secrets.token_hex(8))
    smtp_password: str = field(default_factory=lambda: "smtp-pw-" + secrets.token_hex(10))

    def env(self) -> dict[str, str]:
        return {
            "REL_SLACK_BOT_TOKEN": self.slack_bot_token,
            "REL_SLACK_APP_TOKEN": self.slack_app_token,
            "REL_SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "REL_META_APP_SECRET": self.meta_app_secret,
            "REL_META_VERIFY_TOKEN": self.meta_verify_token,
            "REL_SMTP_USERNAME": "kommentarvakt",
            "REL_SMTP_PASSWORD": self.smtp_password,
        }

    def values(self) -> list[str]:
        return [
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.meta_app_secret,
            self.meta_verify_token,
            self.smtp_password,
        ]


@dataclass(frozen=True)
class PageSpec:
    """A Facebook page in the fake Graph API and in the config."""

    id: str
    name: str
    channel: str
    token: str
    post_id: str

    @property
    def token_env(self) -> str:
        return f"REL_PAGE_TOKEN_{self.id}"

    def config(self) -> dict[str, Any]:
        return {
            "platform": "facebook",
            "id": self.id,
            "name": self.name,
            "channel": self.channel,
            "access_token_env": self.token_env,
        }


# ---------------------------------------------------------------------------------------------- the proxy


class HoldingProxy:
    """A reverse proxy in its own thread in front of a fake, to cut the line at an exact moment.

    `hold(...)` makes the next matching request wait, either before the fake sees it or after the fake
    has carried it out (the answer is kept back), and returns an event that is set once a request is
    held; `release()` lets it go. `set_unreachable(True)` closes the port (connection refused) until
    `set_unreachable(False)` opens it again on the same port.
    """

    _SKIPPED_HEADERS = frozenset(
        {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
    )

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rule: tuple[str, str, str, bool] | None = None
        self._held = threading.Event()
        self._drop = False
        self._release: asyncio.Event | None = None
        self.held_requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the proxy did not start")
        return self.url

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.release()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = self._loop = None

    def hold(self, method: str, path_contains: str, *, when: str = "after") -> threading.Event:
        """Hold the next `method` request whose path contains `path_contains` ("before"/"after" upstream)."""
        assert when in ("before", "after")
        self._held.clear()
        self._rule = (method.upper(), path_contains, when, True)
        return self._held

    def freeze(self) -> None:
        """Hold every request from now on before the fake sees it (until `release`)."""
        self._rule = ("*", "", "before", False)

    def release(self, *, drop: bool = False) -> None:
        """Let the held requests go on; with `drop`, those held before the fake never reach it (502)."""
        self._rule = None
        self._drop = drop
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        self.held_requests = []

    def set_unreachable(self, unreachable: bool) -> None:
        assert self._loop is not None
        coroutine = self._close_port() if unreachable else self._open_port()
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> None:
        self._release = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._open_port()

    async def _open_port(self) -> None:
        if self._site is None:
            assert self._runner is not None
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await self._site.start()

    async def _close_port(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _matches(self, request: web.Request) -> str | None:
        rule = self._rule
        if rule is None:
            return None
        method, path_contains, when, once = rule
        if method in ("*", request.method) and path_contains in request.path_qs:
            if once:
                self._rule = None
            return when
        return None

    async def _wait_for_release(self, request: web.Request) -> None:
        assert self._release is not None
        if not self.held_requests or self._release.is_set():
            self._release.clear()
        self.held_requests.append(f"{request.method} {request.path_qs}")
        self._held.set()
        await self._release.wait()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        when = self._matches(request)
        body = await request.read()
        if when == "before":
            await self._wait_for_release(request)
            if self._drop:
                return web.Response(status=502, text="dropped by the test proxy")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self._SKIPPED_HEADERS}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers, allow_redirects=False
        ) as answer:
            payload = await answer.read()
            answer_headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in self._SKIPPED_HEADERS
            }
            status = answer.status
        if when == "after":
            await self._wait_for_release(request)
        return web.Response(status=status, body=payload, headers=answer_headers)


# ---------------------------------------------------------------------------------------------- a bot process


class BotProcess:
    """One `python -m bot run --config FILE` subprocess, its stderr kept in a file."""

    def __init__(self, name: str, config_path: Path, port: int, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.config_path = config_path
        self.port = port
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.stdout_path = log_dir / f"{name}.stdout.log"
        with self.stderr_path.open("ab") as stderr, self.stdout_path.open("ab") as stdout:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--log-level", "INFO", "run", "--config", str(config_path)],
                cwd=REPO_ROOT,
                env=env,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr_text().splitlines() if line.strip()]

    def log_entries(self) -> list[dict[str, Any]]:
        """The stderr lines that are JSON objects (all of them, if logging works as it should)."""
        entries = []
        for line in self.stderr_lines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr_lines()[-lines:])

    async def wait_serving(self, timeout_s: float = BOT_START_TIMEOUT_S) -> None:
        """Until /healthz answers at all (200 or 503): the HTTP server and the components are up."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise AssertionError(
                        f"bot {self.name} exited with {self.process.returncode}:\n{self.tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(self.base_url + "/healthz")
                    if answer.status_code in (200, 503):
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(f"bot {self.name} did not serve /healthz within {timeout_s} s:\n{self.tail()}")

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(self.base_url + "/healthz")
            return answer.status_code, answer.json()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, like a pulled plug."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait for the exit code (the test fails if the bot does not stop in time)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"bot {self.name} did not stop within {timeout_s} s of SIGTERM") from None


# ---------------------------------------------------------------------------------------------- the stack


class Stack:
    """Fakes, proxies, a database, secrets, configs and the bots started from them."""

    def __init__(self, tmp_path: Path, database_url: str, *, pages: int = 2) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.backend = make_url(database_url).get_backend_name()
        self.secrets = Secrets()
        self.graph = FakeGraphAPI()
        self.slack = FakeSlackAPI()
        graph_url = self.graph.start_in_thread()
        self.slack.start_in_thread()
        self.graph_proxy = HoldingProxy(graph_url)
        self.slack_proxy = HoldingProxy(self.slack.root_url)
        self.graph_proxy.start()
        self.slack_proxy.start()
        self.db = Database(database_url)
        self.bots: list[BotProcess] = []
        self.extra_proxies: list[HoldingProxy] = []
        self.pages: list[PageSpec] = []
        for _ in range(pages):
            self.add_page()
        self._http: httpx.AsyncClient | None = None

    # -- the world -------------------------------------------------------------------------------

    def add_page(self) -> PageSpec:
        number = len(self.pages) + 1
        page_id = f"{4100 + number}"
        token = "EAAR" + secrets.token_hex(16)
        self.graph.add_page(page_id, f"Testkommune {number}", token=token)
        post_id = self.graph.add_post(page_id, POST_TEXT, created_time=int(time.time()) - 3600)
        page = PageSpec(page_id, f"Testkommune {number}", f"C0RELPG{number:03d}", token, post_id)
        self.pages.append(page)
        return page

    def add_comment(self, page: PageSpec, text: str | None = None, *, age_s: int = 60) -> str:
        """A visitor comments on the page's post (in the fake Graph API)."""
        number = len(self.graph.comments) + 1
        return self.graph.add_comment(
            page.post_id,
            text or COMMENT_TEXTS[number % len(COMMENT_TEXTS)],
            from_id=f"55500{number:05d}",
            from_name=f"Innbyggjar {number}",
            created_time=int(time.time()) - age_s,
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST_", "KOMMENTARVAKT_CONFIG"))
        }
        env |= self.secrets.env() | {page.token_env: page.token for page in self.pages}
        env |= {"KOMMENTARVAKT_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
        return env | extra

    def settings(self, port: int, **sections: dict[str, Any]) -> dict[str, Any]:
        """The config as a dict; `sections` are merged over the defaults (e.g. slack={...})."""
        model_path = classifier_model_path()
        config: dict[str, Any] = {
            "database": {"url": self.database_url, "pool_size": 5},
            "slack": {
                "mode": "http",
                "api_url": self.slack_proxy.url + "/api/",
                "bot_token_env": "REL_SLACK_BOT_TOKEN",
                "app_token_env": "REL_SLACK_APP_TOKEN",
                "signing_secret_env": "REL_SLACK_SIGNING_SECRET",
                "admin_channel": ADMIN_CHANNEL,
                "messages_per_second": 50.0,
                "group_after": 1000,
            },
            "http": {"host": "127.0.0.1", "port": port, "max_body_bytes": 262_144},
            "meta": {
                "graph_api_url": self.graph_proxy.url,
                "app_secret_env": "REL_META_APP_SECRET",
                "verify_token_env": "REL_META_VERIFY_TOKEN",
                "timeout_s": 5.0,
                "poll_interval_s": 3600,
                "max_retries": 1,
                "sync_concurrency": 2,  # a handful of pages: a sync that a kill can land half-way through
            },
            "roles": {
                "moderators": [MODERATOR],
                "team_leads": [TEAM_LEAD],
                "admins": [ADMIN],
                "crisis_approvers": [DIRECTOR],
            },
            "pages": [page.config() for page in self.pages],
            "classifier": {"model_path": model_path} if model_path else {},
            "forwarding": {
                "email_to": "postmottak@testkommune.no",
                "smtp_host": "127.0.0.1",
                "smtp_port": free_port(),  # nobody listens: forwarding fails, and must say so safely
                "smtp_security": "none",
                "smtp_username_env": "REL_SMTP_USERNAME",
                "smtp_password_env": "REL_SMTP_PASSWORD",
                "smtp_timeout_s": 2.0,
                "max_attempts": 2,
            },
            "schedule": {
                "reminders": QUIET_CRON,
                "digest": QUIET_CRON,
                "weekly_report": QUIET_CRON,
                "retention": QUIET_CRON,
            },
        }
        for name, values in sections.items():
            config[name] = {**config.get(name, {}), **values} if isinstance(values, dict) else values
        return config

    def write_config(self, name: str, config: dict[str, Any]) -> Path:
        path = self.tmp_path / f"{name}.toml"
        path.write_text(to_toml(config), encoding="utf-8")
        return path

    def new_slack_proxy(self) -> HoldingProxy:
        """Another line to the fake Slack, so one bot's traffic can be held while the others' flows."""
        proxy = HoldingProxy(self.slack.root_url)
        proxy.start()
        self.extra_proxies.append(proxy)
        return proxy

    def start_bot(
        self,
        name: str = "bot",
        *,
        env: dict[str, str] | None = None,
        slack_proxy: HoldingProxy | None = None,
        **sections: Any,
    ) -> BotProcess:
        """Start `python -m bot run` with a config for this stack (not waiting for it: see wait_serving)."""
        port = free_port()
        if slack_proxy is not None:
            sections["slack"] = {"api_url": slack_proxy.url + "/api/", **sections.get("slack", {})}
        path = self.write_config(name, self.settings(port, **sections))
        bot = BotProcess(name, path, port, self.env(**(env or {})), self.tmp_path)
        self.bots.append(bot)
        return bot

    async def started_bot(self, name: str = "bot", **sections: Any) -> BotProcess:
        bot = self.start_bot(name, **sections)
        await bot.wait_serving()
        return bot

    def run_cli(
        self, *args: str, timeout_s: float = 120, **sections: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run another command (`sync`, `digest`...) against this stack's config."""
        path = self.write_config("cli", self.settings(free_port(), **sections))
        return subprocess.run(
            [sys.executable, "-m", "bot", *args, "--config", str(path)],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def start_cli(self, name: str, *args: str, **sections: Any) -> subprocess.Popen[bytes]:
        """Start another command without waiting (to kill it half-way); stderr goes to NAME.stderr.log."""
        path = self.write_config(name, self.settings(free_port(), **sections))
        with (self.tmp_path / f"{name}.stderr.log").open("ab") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "bot", *args, "--config", str(path)],
                cwd=REPO_ROOT,
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )

    async def kill_between_calls(self, bot: BotProcess, proxy: HoldingProxy) -> None:
        """SIGKILL `bot` while it holds claims, at a moment when no call of its own is half-answered.

        Its line to Slack is frozen first: calls already answered get recorded, new ones wait; then the
        kill, and the calls that waited never reach Slack. (A kill inside the few milliseconds between
        Slack's answer and the database commit is the subject of its own test.)
        """
        proxy.freeze()
        await asyncio.sleep(1.0)
        bot.kill()
        proxy.release(drop=True)

    # -- talking to a bot ------------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30)
        return self._http

    async def deliver(self, bot: BotProcess, comment_id: str, verb: str = "add") -> httpx.Response:
        """Meta's webhook for a comment the fake holds, signed with the app secret."""
        raw = webhook_body(self.graph.webhook_payload_for(comment_id, verb))
        return await self.post_webhook(bot, raw)

    async def post_webhook(
        self, bot: BotProcess, raw: bytes, *, signature: str | object | None = VALID, **headers: str
    ) -> httpx.Response:
        """POST /webhooks/meta signed with the app secret (or with `signature` as given; None: no header)."""
        all_headers = {"Content-Type": "application/json", **headers}
        if signature is VALID:
            all_headers["X-Hub-Signature-256"] = sign(self.secrets.meta_app_secret, raw)
        elif isinstance(signature, str):
            all_headers["X-Hub-Signature-256"] = signature
        return await self.http.post(bot.base_url + "/webhooks/meta", content=raw, headers=all_headers)

    async def slack_request(
        self, bot: BotProcess, body: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> httpx.Response:
        """POST /slack/events signed like Slack signs it (with our signing secret unless told otherwise)."""
        headers = signed_request_headers(secret or self.secrets.slack_signing_secret, body, timestamp)
        return await self.http.post(bot.base_url + "/slack/events", content=body, headers=headers)

    async def click(
        self, bot: BotProcess, action_id: str, value: str, user: str, *, channel: str | None = None
    ) -> httpx.Response:
        """A click on a task message's button (or a choice in its select, for task_reclassify)."""
        channel = channel or self.pages[0].channel
        selected = value if action_id == "task_reclassify" else None
        payload = block_action_payload(
            action_id,
            None if selected else value,
            user,
            channel,
            "1700000000.000100",
            selected_option=selected,
            response_url=self.slack.new_response_url(channel),
        )
        return await self.slack_request(bot, interactive_body(payload))

    async def slash(self, bot: BotProcess, text: str, user: str) -> httpx.Response:
        channel = self.pages[0].channel
        body = slash_command_body(
            "/kommentarvakt", text, user, channel, response_url=self.slack.new_response_url(channel)
        )
        return await self.slack_request(bot, body.encode() if isinstance(body, str) else body)

    # -- the database ----------------------------------------------------------------------------

    async def scalar(self, statement: Any) -> Any:
        async with self.db.session() as session:
            return (await session.execute(statement)).scalar_one()

    async def count(self, model: type, *conditions: Any) -> int:
        return int(await self.scalar(select(func.count()).select_from(model).where(*conditions)))

    async def count_is(self, expected: int, model: type, *conditions: Any) -> bool:
        return await self.count(model, *conditions) == expected

    async def tasks_by_comment(self) -> Counter[str]:
        """Tasks per comment (external id): exactly one each when nothing is lost or duplicated."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(CommentRow.external_id).join(TaskRow, TaskRow.comment_id == CommentRow.id)
            )
            return Counter(row[0] for row in rows.all())

    async def task_ids(self) -> list[int]:
        async with self.db.session() as session:
            return [row[0] for row in (await session.execute(select(TaskRow.id).order_by(TaskRow.id))).all()]

    async def outbox_status(self, kind_prefix: str = "") -> Counter[str]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.kind.startswith(kind_prefix))
                .group_by(OutboxMessage.status)
            )
            return Counter(dict(rows.all()))

    async def audits(self, action: str) -> list[AuditEvent]:
        async with self.db.session() as session:
            rows = await session.execute(select(AuditEvent).where(AuditEvent.action == action))
            return list(rows.scalars().all())

    async def expire_leases(self) -> None:
        """Let time pass for the claims of a dead process: its leases (120 s) run out now."""
        past = utcnow()
        async with self.db.session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.claimed_until.is_not(None))
                .values(claimed_until=past)
            )
            await session.execute(
                update(InboxEvent)
                .where(InboxEvent.status == "pending", InboxEvent.claimed_until.is_not(None))
                .values(claimed_until=past)
            )

    async def make_due(self) -> None:
        """Let time pass for waiting retries: every pending outbox message is due now."""
        async with self.db.session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending")
                .values(next_attempt_at=utcnow())
            )

    async def posts_per_task(self) -> tuple[Counter[int], list[RecordedCall]]:
        """Top-level messages in the pages' channels per task, and those that belong to no task.

        A message is a task's if its buttons carry the task id, or (a closed task's message has no
        buttons) if the task points at its ts.
        """
        async with self.db.session() as session:
            rows = await session.execute(select(TaskRow.id, TaskRow.slack_channel, TaskRow.slack_ts))
            by_ts = {(channel, ts): task_id for task_id, channel, ts in rows.all() if ts}
        channels = {page.channel for page in self.pages}
        counts: Counter[int] = Counter()
        strays: list[RecordedCall] = []
        for call in self.slack.calls("chat.postMessage", ok=True):
            if call.body.get("thread_ts") or call.body.get("channel") not in channels:
                continue
            answer = call.response if isinstance(call.response, dict) else {}
            task_id = task_id_of(call) or by_ts.get((answer.get("channel"), answer.get("ts")))
            if task_id is None:
                strays.append(call)
            else:
                counts[task_id] += 1
        return counts, strays

    async def wait_all_posted(self, tasks: int, timeout_s: float = 30.0) -> Counter[int]:
        """Until there are `tasks` tasks and each has its Slack message (returns the messages per task)."""

        async def done() -> tuple[Counter[int]] | None:
            task_ids = await self.task_ids()
            posts, _strays = await self.posts_per_task()
            complete = len(task_ids) >= tasks and all(posts[task_id] for task_id in task_ids)
            return (posts,) if complete else None

        what = f"{tasks} tasks, each with its Slack message"
        (posts,) = await wait_until(done, timeout_s=timeout_s, what=what, interval_s=0.2)
        return posts

    # -- PostgreSQL outages ----------------------------------------------------------------------

    async def pg_admin(self, sql: str) -> Any:
        base = postgres_url()
        assert base is not None
        url = make_url(base)
        connection = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
        )
        try:
            return await connection.fetch(sql)
        finally:
            await connection.close()

    @property
    def database_name(self) -> str:
        return str(make_url(self.database_url).database)

    async def terminate_connections(self) -> int:
        """Kill every server process serving our database (what a database restart does to clients)."""
        rows = await self.pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.database_name}' AND pid <> pg_backend_pid()"
        )
        return len(rows)

    async def set_database_down(self, down: bool) -> None:
        """Refuse (or allow again) new connections to our database, and drop the current ones."""
        await self.pg_admin(
            f'ALTER DATABASE "{self.database_name}" ALLOW_CONNECTIONS {str(not down).lower()}'
        )
        if down:
            await self.db.close()
            await self.terminate_connections()
            await asyncio.sleep(0.5)  # a connection that was being opened during the ALTER goes too
            await self.terminate_connections()

    # -- the end ---------------------------------------------------------------------------------

    async def close(self) -> None:
        for bot in self.bots:
            with contextlib.suppress(Exception):
                bot.kill()
        if self._http is not None:
            await self._http.aclose()
        if self.backend == "postgresql":
            with contextlib.suppress(Exception):
                await self.pg_admin(f'ALTER DATABASE "{self.database_name}" ALLOW_CONNECTIONS true')
        await self.db.close()
        for proxy in [self.graph_proxy, self.slack_proxy, *self.extra_proxies]:
            proxy.stop()
        self.graph.stop_thread()
        self.slack.stop_thread()


def to_toml(config: dict[str, Any]) -> str:
    """Write the config dict as TOML (tables, arrays of tables, strings, numbers, booleans, lists)."""
    lines: list[str] = []
    for name, value in config.items():
        if isinstance(value, dict):
            lines.append(f"[{name}]")
            lines += [f"{key} = {_toml_value(item)}" for key, item in value.items()]
            lines.append("")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for table in value:
                lines.append(f"[[{name}]]")
                lines += [f"{key} = {_toml_value(item)}" for key, item in table.items()]
                lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


_trained_model: list[str] = []


def classifier_model_path() -> str:
    """'' when the packaged model loads; else a small model trained now from data/ (for speed, not accuracy).

    The bots under test need a classifier that matches the code; these tests are about what happens
    around it, so a model from a few hundred labelled rows does.
    """
    if os.environ.get(MODEL_PATH_ENV):
        return os.environ[MODEL_PATH_ENV]
    if _trained_model:
        return _trained_model[0]
    from bot.classifier.factory import load_classifier
    from bot.config import Settings
    from bot.errors import ConfigError

    try:
        load_classifier(Settings())
        _trained_model.append("")
    except ConfigError:
        from bot.classifier.train_cli import run_train

        work = Path(tempfile.mkdtemp(prefix="kommentarvakt-model-"))
        (work / "data").mkdir()
        rows: list[str] = []
        for path in sorted((REPO_ROOT / "data").glob("train_*.jsonl")):
            rows += path.read_text(encoding="utf-8").splitlines()[:150]
        (work / "data" / "train_a.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        run_train(work / "model", data_dir=work / "data", use_norec=False)
        _trained_model.append(str(work / "model"))
    return _trained_model[0]


def backend_url(database_factory: DatabaseFactory, *, require_postgres: bool = False) -> str:
    if postgres_url():
        return database_factory.postgres_url()
    if require_postgres:
        pytest.skip(f"this test needs PostgreSQL (replicas, or a database to restart): set {POSTGRES_ENV}")
    return database_factory.sqlite_url()


@contextlib.asynccontextmanager
async def make_stack(tmp_path: Path, database_url: str, *, pages: int = 2) -> AsyncIterator[Stack]:
    stack = Stack(tmp_path, database_url, pages=pages)
    try:
        yield stack
    finally:
        await stack.close()


@pytest.fixture
async def stack(tmp_path: Path, database_factory: DatabaseFactory) -> AsyncIterator[Stack]:
    """Two pages, PostgreSQL if configured (else SQLite)."""
    async with make_stack(tmp_path, backend_url(database_factory)) as built:
        yield built


@pytest.fixture
async def pg_stack(tmp_path: Path, database_factory: DatabaseFactory) -> AsyncIterator[Stack]:
    """Two pages on PostgreSQL (skips without it)."""
    async with make_stack(tmp_path, backend_url(database_factory, require_postgres=True)) as built:
        yield built


__all__ = [
    "ADMIN",
    "ADMIN_CHANNEL",
    "COMMENT_TEXTS",
    "DIRECTOR",
    "MODERATOR",
    "OUTSIDER",
    "TASK_BUTTONS",
    "TEAM_LEAD",
    "VALID",
    "BotProcess",
    "HoldingProxy",
    "PageSpec",
    "Secrets",
    "Stack",
    "free_port",
    "make_stack",
    "page_replies",
    "task_id_of",
    "task_posts",
    "wait_until",
]
