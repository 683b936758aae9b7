"""A local fake of Slack's Web API and Socket Mode, for tests and benchmarks.

Start it, point slack_sdk / slack_bolt at it, drive the app, then assert on what the app sent::

    fake = FakeSlackAPI(usergroups={"S0MODS": ["U0LEAD1", "U0LEAD2"]})
    base_url = await fake.start()                    # "http://127.0.0.1:PORT/api/"
    client = AsyncWebClient(token="xoxb-test", base_url=base_url)
    ...
    [call] = await fake.wait_for("chat.postMessage")
    assert call.body["channel"] == "C0MODS"
    await fake.stop()

Sync code and subprocess tests use ``fake.start_in_thread()`` / ``fake.stop_thread()`` (the server
then runs on its own event loop in a daemon thread; every helper below is thread-safe).

Like Slack, it:

* serves every Web API method at ``/api/<method>`` (and ``/<method>``), ``POST`` or ``GET``, with form,
  JSON or multipart bodies plus query parameters; the token comes from ``Authorization: Bearer`` or a
  ``token`` parameter. Missing token -> ``not_authed``, unknown -> ``invalid_auth``, an ``xapp-`` token
  on a bot method (or an ``xox*`` token on ``apps.connections.open``) -> ``not_allowed_token_type``.
  Errors are HTTP 200 with ``{"ok": false, "error": ...}``, unknown methods give ``unknown_method``.
* implements auth.test, chat.postMessage/update/postEphemeral/getPermalink/delete, views.open/push/
  update/publish, usergroups.users.list, users.info, conversations.open/info/history, bots.info, api.test,
  reactions.add, files.getUploadURLExternal + the upload URL + files.completeUploadExternal,
  apps.connections.open; anything else can be answered with :meth:`FakeSlackAPI.set_response`.
* validates what Slack validates and the SDK does not: Block Kit limits (50 blocks per message,
  100 per view, section text 3000, header 150, button text 75, modal title 24, ...) -> ``invalid_blocks``
  (messages) / ``invalid_arguments`` (views), ``no_text``, ``msg_too_long``, single-use trigger ids
  (``exchanged_trigger_id``) that expire after 3 s when issued by :meth:`FakeSlackAPI.issue_trigger_id`
  (``expired_trigger_id``), view ``hash_conflict``.
* answers a posted message with a ``ts`` like ``"1700000000.000100"`` (unique, increasing) and posting
  to a user id opens a DM (the answer's ``channel`` is a ``D...`` id, the same as conversations.open).
* serves Socket Mode: ``apps.connections.open`` returns ``ws://127.0.0.1:PORT/link/?ticket=...``; the
  fake sends ``{"type": "hello", ...}`` on connect, tests push envelopes with :meth:`socket_send` and
  read the client's acks from :attr:`socket_acks`.
* serves response URLs (:meth:`FakeSlackAPI.new_response_url`) the way hooks.slack.com does, so
  Bolt's ``respond()`` can be asserted on (recorded as method ``"response_url"``).

Lenient by default: chat.update / getPermalink of a ``ts`` the fake never issued, views.update of an
unknown view, users.info of any ``U``/``W`` id and views.open with a trigger id it did not issue are
accepted (the message / view / user is created on the fly). ``FakeSlackAPI(strict=True)`` answers them
like Slack does (``message_not_found``, ``not_found``, ``user_not_found``, ``invalid_trigger_id``).

Failure injection: :meth:`rate_limit_next`, :meth:`fail_next`, :meth:`error_next`, :meth:`set_down`,
and a per-channel ``chat.postMessage`` rate policy (:class:`ChannelRateLimit`, off by default).

Uploads to the fake's upload URL are recorded as method ``"upload"``.

Module-level builders make request bodies for an app under test (block_actions, view_submission,
slash commands, events, Socket Mode envelopes) and :func:`signed_request_headers` signs them for HTTP
mode. The same builders exist as methods on :class:`FakeSlackAPI`, filled in from the fake's state
(the stored message or view, a trigger id it issued, a response URL it serves).
"""

# The wait_for* / socket_* helpers take an explicit `timeout` (their API), hence:
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hashlib
import itertools
import json
import math
import re
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSMsgType, web
from multidict import CIMultiDict, CIMultiDictProxy
from slack_sdk.signature import SignatureVerifier

__all__ = [
    "RESPONSE_URL_CALL",
    "UPLOAD_CALL",
    "ChannelRateLimit",
    "EphemeralMessage",
    "FakeMessage",
    "FakeSlackAPI",
    "FakeView",
    "FakeWorkspace",
    "RecordedCall",
    "SocketAck",
    "UploadedFile",
    "WaitTimeout",
    "app_home_opened_body",
    "block_action_payload",
    "dm_channel_id",
    "event_callback_body",
    "interactive_body",
    "json_body",
    "new_trigger_id",
    "signed_request_headers",
    "slash_command_body",
    "slash_command_payload",
    "socket_envelope",
    "state_values",
    "view_submission_payload",
]

JSONDict = dict[str, Any]
T = TypeVar("T")

#: Recorded method name of a POST to an upload URL returned by files.getUploadURLExternal.
UPLOAD_CALL = "upload"
#: Recorded method name of a POST to a response URL from :meth:`FakeSlackAPI.new_response_url`.
RESPONSE_URL_CALL = "response_url"

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_MAX_TEXT = 40_000
FIRST_TS_MICROS = 1_700_000_000_000_100
TS_STEP_MICROS = 100
DEFAULT_TOKEN_PREFIXES = ("xoxb-", "xapp-")
DEFAULT_OAUTH_SCOPES = "chat:write,chat:write.public,commands,users:read,usergroups:read,im:write,files:write"
VERIFICATION_TOKEN = "fake-verification-token"
# Parameters Slack accepts as JSON strings in form bodies; decoded when recorded.
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_METHOD_PATTERN = r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)+"
_BLOCKS_ONLY_TEXT = "This content can't be displayed."


# --------------------------------------------------------------------------------------------------
# Data recorded and kept by the fake
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeWorkspace:
    """Identity of the fake workspace, bot and app (what auth.test answers)."""

    team_id: str = "T0FAKE0001"
    team_name: str = "Kommentarvakt Test"
    team_domain: str = "kommentarvakt-test"
    bot_user_id: str = "U0FAKEBOT1"
    bot_id: str = "B0FAKEBOT1"
    bot_name: str = "kommentarvakt"
    app_id: str = "A0FAKEAPP1"

    @property
    def url(self) -> str:
        return f"https://{self.team_domain}.slack.com/"


DEFAULT_WORKSPACE = FakeWorkspace()


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received, with the answer it gave."""

    method: str  # "chat.postMessage", or UPLOAD_CALL / RESPONSE_URL_CALL
    http_method: str
    path: str
    headers: CIMultiDictProxy[str]
    query: dict[str, str]
    body: JSONDict  # query + parsed body; JSON-string fields (blocks, view, ...) decoded
    raw_body: bytes
    token: str | None
    status: int
    response: Any  # the JSON answer (dict) or the text answer
    response_headers: dict[str, str]
    at: float  # time.time() when answered

    @property
    def ok(self) -> bool:
        """HTTP 200 and (for Web API methods) ``"ok": true``."""
        if self.status != 200:
            return False
        if isinstance(self.response, dict):
            return self.response.get("ok") is True
        return True

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict):
            error = self.response.get("error")
            return str(error) if error is not None else None
        return None


@dataclass
class FakeMessage:
    """A message in the fake's channel state (chat.postMessage, then chat.update / delete)."""

    channel: str
    ts: str
    text: str | None = None
    blocks: list[JSONDict] | None = None
    attachments: list[JSONDict] | None = None
    thread_ts: str | None = None
    metadata: JSONDict | None = None
    posted: JSONDict = field(default_factory=dict)  # chat.postMessage body ({} if created otherwise)
    updates: list[JSONDict] = field(default_factory=list)  # chat.update bodies, in order
    deleted: bool = False

    @property
    def update_count(self) -> int:
        return len(self.updates)

    def to_api(self, workspace: FakeWorkspace = DEFAULT_WORKSPACE) -> JSONDict:
        """The message object as Slack returns it."""
        message: JSONDict = {
            "type": "message",
            "text": self.text if self.text else (_BLOCKS_ONLY_TEXT if self.blocks else ""),
            "user": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "app_id": workspace.app_id,
            "team": workspace.team_id,
            "ts": self.ts,
            "bot_profile": {
                "id": workspace.bot_id,
                "app_id": workspace.app_id,
                "name": workspace.bot_name,
                "team_id": workspace.team_id,
                "deleted": False,
            },
        }
        if self.blocks is not None:
            message["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments is not None:
            message["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        if self.metadata is not None:
            message["metadata"] = copy.deepcopy(self.metadata)
        return message


@dataclass
class EphemeralMessage:
    channel: str
    user: str
    message_ts: str
    text: str | None
    blocks: list[JSONDict] | None
    attachments: list[JSONDict] | None
    thread_ts: str | None
    body: JSONDict


@dataclass
class FakeView:
    """A modal (views.open/push/update) or a Home tab (views.publish)."""

    id: str
    view: JSONDict  # the view object as Slack last returned it
    user_id: str | None = None  # the Home tab's user (views.publish)
    trigger_id: str | None = None
    history: list[JSONDict] = field(default_factory=list)  # earlier versions of `view`

    @property
    def type(self) -> str:
        return str(self.view.get("type"))

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata") or "")

    @property
    def blocks(self) -> list[JSONDict]:
        return list(self.view.get("blocks") or [])

    @property
    def hash(self) -> str:
        return str(self.view.get("hash"))


@dataclass
class UploadedFile:
    """A file going through files.getUploadURLExternal -> upload URL -> files.completeUploadExternal."""

    file_id: str
    filename: str
    length: int  # as declared to files.getUploadURLExternal
    upload_url: str
    alt_txt: str | None = None
    snippet_type: str | None = None
    data: bytes | None = None  # set by the upload
    title: str | None = None
    completed: bool = False
    channel_id: str | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None

    @property
    def shared_to(self) -> list[str]:
        return ([self.channel_id] if self.channel_id else []) + self.channels


@dataclass(frozen=True)
class SocketAck:
    """What a Socket Mode client sent back for an envelope."""

    envelope_id: str
    payload: Any
    message: JSONDict
    at: float


@dataclass(frozen=True)
class ChannelRateLimit:
    """Slack's "about one message per second per channel, short bursts allowed" as a token bucket.

    ``burst`` messages go through at once, then one per ``1 / per_second`` seconds; beyond that the
    fake answers HTTP 429 ``ratelimited`` with ``Retry-After`` (``retry_after`` or the whole seconds
    until the next message would be accepted, at least 1).
    """

    per_second: float = 1.0
    burst: int = 3
    retry_after: int | None = None
    methods: tuple[str, ...] = ("chat.postMessage",)


class WaitTimeout(AssertionError):
    """Raised by the ``wait_for*`` helpers when the expected traffic did not arrive in time."""


@dataclass(frozen=True)
class _Injection:
    kind: Literal["ratelimit", "fail", "error"]
    status: int = 200
    retry_after: int = 1
    error: str = ""
    body: str | None = None
    extra: Mapping[str, Any] | None = None


class _ApiError(Exception):
    """An ``{"ok": false, "error": ...}`` answer (HTTP 200)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    @classmethod
    def invalid_arguments(cls, *messages: str) -> _ApiError:
        return cls("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})

    def body(self) -> JSONDict:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass
class _SocketConnection:
    number: int
    ws: web.WebSocketResponse
    ticket: str | None
    connected_at: float


@dataclass
class _ResponseUrl:
    channel: str | None
    ts: str | None


# --------------------------------------------------------------------------------------------------
# Block Kit validation (the part Slack checks server side)
# --------------------------------------------------------------------------------------------------


class _BlockKitValidator:
    """Collects Slack-style validation errors: ``"<message> [json-pointer:/blocks/0/text/text]"``."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def _error(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def _max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self._error(f"must be less than {limit + 1} characters", pointer)

    def _max_items(self, items: Any, limit: int, pointer: str, minimum: int = 0) -> list[Any]:
        if not isinstance(items, list):
            self._error("must be an array", pointer)
            return []
        if len(items) > limit:
            self._error(f"no more than {limit} items allowed", pointer)
        if len(items) < minimum:
            self._error(f"must provide at least {minimum} items", pointer)
        return items

    def text(self, obj: Any, pointer: str, limit: int, *, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self._error("must be an object", pointer)
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self._error(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self._error("must be more than 0 characters", f"{pointer}/text")
        else:
            self._max_len(text, limit, f"{pointer}/text")

    def _confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self._error("must be an object", pointer)
            return
        self.text(confirm.get("title"), f"{pointer}/title", 100, plain_only=True)
        self.text(confirm.get("text"), f"{pointer}/text", 300)
        self.text(confirm.get("confirm"), f"{pointer}/confirm", 30, plain_only=True)
        self.text(confirm.get("deny"), f"{pointer}/deny", 30, plain_only=True)

    def _option(self, option: Any, pointer: str) -> None:
        if not isinstance(option, dict):
            self._error("must be an object", pointer)
            return
        self.text(option.get("text"), f"{pointer}/text", 75)
        self._max_len(option.get("value"), 150, f"{pointer}/value")

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict):
            self._error("must be an object", pointer)
            return
        kind = element.get("type")
        if not isinstance(kind, str) or not kind:
            self._error("missing required field: type", pointer)
            return
        self._max_len(element.get("action_id"), 255, f"{pointer}/action_id")
        if kind == "button":
            self.text(element.get("text"), f"{pointer}/text", 75, plain_only=True)
            self._max_len(element.get("value"), 2000, f"{pointer}/value")
            self._max_len(element.get("url"), 3000, f"{pointer}/url")
        if "placeholder" in element:
            self.text(element["placeholder"], f"{pointer}/placeholder", 150, plain_only=True)
        if "confirm" in element:
            self._confirm(element["confirm"], f"{pointer}/confirm")
        if "options" in element:
            for i, option in enumerate(self._max_items(element["options"], 100, f"{pointer}/options")):
                self._option(option, f"{pointer}/options/{i}")
        if "option_groups" in element:
            self._max_items(element["option_groups"], 100, f"{pointer}/option_groups")
        if kind == "plain_text_input":
            self._max_len(element.get("initial_value"), 3000, f"{pointer}/initial_value")
        if kind == "image":
            self._max_len(element.get("image_url"), 3000, f"{pointer}/image_url")
            self._max_len(element.get("alt_text"), 2000, f"{pointer}/alt_text")

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self._error("must be an object", pointer)
            return
        kind = block.get("type")
        if not isinstance(kind, str) or not kind:
            self._error("missing required field: type", f"{pointer}/type")
            return
        self._max_len(block.get("block_id"), 255, f"{pointer}/block_id")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self._error("must provide either text or fields", pointer)
            if "text" in block:
                self.text(block["text"], f"{pointer}/text", 3000)
            if "fields" in block:
                for i, item in enumerate(self._max_items(block["fields"], 10, f"{pointer}/fields")):
                    self.text(item, f"{pointer}/fields/{i}", 2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory")
        elif kind == "header":
            self.text(block.get("text"), f"{pointer}/text", 150, plain_only=True)
        elif kind == "actions":
            elements = self._max_items(block.get("elements"), 25, f"{pointer}/elements", minimum=1)
            for i, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{i}")
        elif kind == "context":
            elements = self._max_items(block.get("elements"), 10, f"{pointer}/elements", minimum=1)
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                    self.text(element, f"{pointer}/elements/{i}", 3000)
                else:
                    self.element(element, f"{pointer}/elements/{i}")
        elif kind == "image":
            self._max_len(block.get("image_url"), 3000, f"{pointer}/image_url")
            self._max_len(block.get("alt_text"), 2000, f"{pointer}/alt_text")
            if "title" in block:
                self.text(block["title"], f"{pointer}/title", 2000, plain_only=True)
        elif kind == "input":
            self.text(block.get("label"), f"{pointer}/label", 2000, plain_only=True)
            if "hint" in block:
                self.text(block["hint"], f"{pointer}/hint", 2000, plain_only=True)
            if "element" not in block:
                self._error("missing required field: element", pointer)
            else:
                self.element(block["element"], f"{pointer}/element")

    def blocks(self, blocks: Any, pointer: str, limit: int) -> None:
        for i, block in enumerate(self._max_items(blocks, limit, pointer)):
            self.block(block, f"{pointer}/{i}")

    def view(self, view: JSONDict, pointer: str = "/view") -> None:
        kind = view.get("type")
        if kind not in ("modal", "home"):
            self._error("must be one of modal, home", f"{pointer}/type")
        if kind == "modal":
            if "title" not in view:
                self._error("missing required field: title", pointer)
            else:
                self.text(view["title"], f"{pointer}/title", 24, plain_only=True)
        for name in ("submit", "close"):
            if name in view and view[name] is not None:
                self.text(view[name], f"{pointer}/{name}", 24, plain_only=True)
        self._max_len(view.get("private_metadata"), 3000, f"{pointer}/private_metadata")
        self._max_len(view.get("callback_id"), 255, f"{pointer}/callback_id")
        self._max_len(view.get("external_id"), 255, f"{pointer}/external_id")
        blocks = view.get("blocks")
        if blocks is None:
            self._error("missing required field: blocks", pointer)
            return
        self.blocks(blocks, f"{pointer}/blocks", VIEW_MAX_BLOCKS)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if kind == "modal" and has_input and not view.get("submit"):
            self._error("must provide submit when blocks contain an input", f"{pointer}/submit")


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _ts_key(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except InvalidOperation:
        return Decimal(0)


def _now_ts() -> str:
    return f"{time.time():.6f}"


def _random_id(prefix: str, length: int = 10) -> str:
    return prefix + secrets.token_hex(length).upper()[:length]


def _stable_id(prefix: str, seed: str) -> str:
    return prefix + hashlib.sha1(seed.encode()).hexdigest()[:10].upper()


def dm_channel_id(user_id: str) -> str:
    """The ``D...`` id of the bot's DM with ``user_id`` (stable, the same in every fake)."""
    return _stable_id("D", user_id)


def new_trigger_id() -> str:
    """A trigger id shaped like Slack's (``"<digits>.<digits>.<hex>"``)."""
    return f"{int(time.time() * 1000)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def _placeholder_response_url() -> str:
    # Port 9 (discard) on localhost: a response URL nothing answers, so a stray respond() can never
    # reach the internet. Use FakeSlackAPI.new_response_url() for one that works.
    return f"http://127.0.0.1:9/response_url/{secrets.token_hex(8)}"


def _decode_json_fields(body: JSONDict) -> JSONDict:
    for name in _JSON_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value.strip().startswith(("[", "{")):
            with contextlib.suppress(ValueError):
                body[name] = json.loads(value)
    return body


def _as_list_of_dicts(value: Any, error: str) -> list[JSONDict] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise _ApiError(error)


def _bool_param(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _find_element(blocks: Iterable[Any] | None, action_id: str) -> tuple[str | None, JSONDict] | None:
    """(block_id, element) of the interactive element with ``action_id`` in ``blocks``."""
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if key in block:
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block.get("block_id"), element
    return None


def _option_object(option: str | Mapping[str, Any], element: Mapping[str, Any] | None) -> JSONDict:
    if not isinstance(option, str):
        result = dict(option)
        result.setdefault("text", {"type": "plain_text", "text": str(result.get("value", "")), "emoji": True})
        return result
    for candidate in (element or {}).get("options") or []:
        if isinstance(candidate, dict) and candidate.get("value") == option:
            return dict(candidate)
    return {"text": {"type": "plain_text", "text": option, "emoji": True}, "value": option}


# --------------------------------------------------------------------------------------------------
# Builders for requests Slack sends to the app under test
# --------------------------------------------------------------------------------------------------


def block_action_payload(
    action_id: str,
    value: str | None,
    user_id: str,
    channel: str,
    ts: str,
    trigger_id: str | None = None,
    selected_option: str | Mapping[str, Any] | None = None,
    *,
    block_id: str | None = None,
    action_type: str | None = None,
    message: Mapping[str, Any] | None = None,
    response_url: str | None = None,
    user_name: str | None = None,
    state: Mapping[str, Mapping[str, Any]] | None = None,
    workspace: FakeWorkspace = DEFAULT_WORKSPACE,
) -> JSONDict:
    """The ``payload`` of a ``block_actions`` request: a click on a button (or a select, when
    ``selected_option`` is given: an option value or an option object) in message ``channel``/``ts``.

    With ``message`` (the message object as posted), the action's ``block_id``, type, text and
    default value are taken from the element with ``action_id`` in its blocks.
    """
    found = _find_element((message or {}).get("blocks"), action_id)
    found_block_id, element = found if found else (None, None)
    action: JSONDict = {
        "action_id": action_id,
        "block_id": block_id or found_block_id or "actions",
        "action_ts": _now_ts(),
    }
    if selected_option is not None:
        action["type"] = action_type or (element or {}).get("type") or "static_select"
        action["selected_option"] = _option_object(selected_option, element)
    else:
        action["type"] = action_type or (element or {}).get("type") or "button"
        action["text"] = copy.deepcopy(
            (element or {}).get("text") or {"type": "plain_text", "text": action_id, "emoji": True}
        )
        if value is None and element is not None:
            value = element.get("value")
        if value is not None:
            action["value"] = value
    if message is None:
        message = {
            "type": "message",
            "text": _BLOCKS_ONLY_TEXT,
            "user": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "app_id": workspace.app_id,
            "team": workspace.team_id,
            "ts": ts,
            "blocks": [],
        }
    container: JSONDict = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    name = user_name or user_id.lower()
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": workspace.team_id},
        "api_app_id": workspace.app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": workspace.team_id, "domain": workspace.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else channel.lower()},
        "message": copy.deepcopy(dict(message)),
        "state": {"values": state_values(state or {})},
        "response_url": response_url or _placeholder_response_url(),
        "actions": [action],
    }


def state_values(values: Mapping[str, Mapping[str, Any]]) -> JSONDict:
    """``view.state.values`` from ``{block_id: {action_id: leaf}}``.

    A ``str``/``None`` leaf becomes a ``plain_text_input`` value, a list of str a
    ``multi_static_select``, a mapping is used as is.
    """
    result: JSONDict = {}
    for block_id, actions in values.items():
        result[block_id] = {}
        for action_id, leaf in actions.items():
            if leaf is None or isinstance(leaf, str):
                state: JSONDict = {"type": "plain_text_input", "value": leaf}
            elif isinstance(leaf, list):
                state = {
                    "type": "multi_static_select",
                    "selected_options": [_option_object(v, None) for v in leaf],
                }
            else:
                state = dict(leaf)
            result[block_id][action_id] = state
    return result


def view_submission_payload(
    callback_id: str,
    values: Mapping[str, Mapping[str, Any]],
    user_id: str,
    *,
    view_id: str | None = None,
    private_metadata: str = "",
    blocks: list[JSONDict] | None = None,
    title: str = "Kommentarvakt",
    view_hash: str | None = None,
    view: Mapping[str, Any] | None = None,
    trigger_id: str | None = None,
    response_urls: list[JSONDict] | None = None,
    user_name: str | None = None,
    workspace: FakeWorkspace = DEFAULT_WORKSPACE,
) -> JSONDict:
    """The ``payload`` of a ``view_submission`` of a modal with the given state ``values``
    (see :func:`state_values`). ``view`` (a view object as views.open returned it) fills in the rest.
    """
    base: JSONDict = copy.deepcopy(dict(view)) if view is not None else {}
    vid = view_id or base.get("id") or _random_id("V")
    submitted: JSONDict = {
        "id": vid,
        "team_id": workspace.team_id,
        "type": "modal",
        "blocks": blocks if blocks is not None else base.get("blocks", []),
        "private_metadata": base.get("private_metadata", private_metadata) if view else private_metadata,
        "callback_id": callback_id,
        "state": {"values": state_values(values)},
        "hash": view_hash or base.get("hash") or f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": base.get("title") or {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": base.get("clear_on_close", False),
        "notify_on_close": base.get("notify_on_close", False),
        "close": base.get("close"),
        "submit": base.get("submit") or {"type": "plain_text", "text": "Send", "emoji": True},
        "previous_view_id": base.get("previous_view_id"),
        "root_view_id": base.get("root_view_id") or vid,
        "app_id": workspace.app_id,
        "external_id": base.get("external_id", ""),
        "app_installed_team_id": workspace.team_id,
        "bot_id": workspace.bot_id,
    }
    name = user_name or user_id.lower()
    return {
        "type": "view_submission",
        "team": {"id": workspace.team_id, "domain": workspace.team_domain},
        "user": {"id": user_id, "username": name, "name": name, "team_id": workspace.team_id},
        "api_app_id": workspace.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": submitted,
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def slash_command_payload(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    *,
    trigger_id: str | None = None,
    response_url: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    workspace: FakeWorkspace = DEFAULT_WORKSPACE,
) -> dict[str, str]:
    """The fields of a slash command request (the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": workspace.team_id,
        "team_domain": workspace.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name
        or ("directmessage" if channel_id.startswith("D") else channel_id.lower()),
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": workspace.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url or _placeholder_response_url(),
        "trigger_id": trigger_id or new_trigger_id(),
    }


def slash_command_body(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    **kwargs: Any,
) -> bytes:
    """A slash command request body (form-encoded) for HTTP mode; kwargs as :func:`slash_command_payload`."""
    return urlencode(slash_command_payload(command, text, user_id, channel_id, **kwargs)).encode()


def event_callback_body(
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    event_time: int | None = None,
    workspace: FakeWorkspace = DEFAULT_WORKSPACE,
) -> JSONDict:
    """An Events API ``event_callback`` body wrapping ``event``."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": workspace.team_id,
        "context_team_id": workspace.team_id,
        "context_enterprise_id": None,
        "api_app_id": workspace.app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or _random_id("Ev"),
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": workspace.team_id,
                "user_id": workspace.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(12)}",
    }


def app_home_opened_body(
    user_id: str,
    *,
    tab: str = "home",
    view: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    workspace: FakeWorkspace = DEFAULT_WORKSPACE,
) -> JSONDict:
    """An ``app_home_opened`` event_callback body (``view``: the Home tab published before, if any)."""
    event: JSONDict = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": dm_channel_id(user_id),
        "tab": tab,
        "event_ts": _now_ts(),
    }
    if view is not None:
        event["view"] = copy.deepcopy(dict(view))
    return event_callback_body(event, event_id=event_id, workspace=workspace)


def interactive_body(payload: Mapping[str, Any]) -> bytes:
    """The form body Slack posts for interactivity: ``payload=<urlencoded JSON>``."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def json_body(obj: Any) -> bytes:
    """A JSON request body (Events API)."""
    return json.dumps(obj).encode()


def signed_request_headers(
    signing_secret: str,
    body: bytes,
    timestamp: int | float | str | None = None,
    *,
    content_type: str | None = None,
) -> dict[str, str]:
    """Headers of a request signed like Slack signs them (``v0:{timestamp}:{body}``, HMAC-SHA256).

    ``timestamp`` defaults to now; pass an old one to test the 5-minute replay check.
    """
    ts = str(int(time.time()) if timestamp is None else int(float(timestamp)))
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    if content_type is None:
        is_json = body.lstrip().startswith(b"{")
        content_type = "application/json" if is_json else "application/x-www-form-urlencoded"
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def socket_envelope(
    payload: Mapping[str, Any],
    envelope_type: Literal["events_api", "interactive", "slash_commands"] | None = None,
    *,
    envelope_id: str | None = None,
    accepts_response_payload: bool | None = None,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> JSONDict:
    """A Socket Mode envelope around a payload (type inferred: events_api for an event_callback,
    slash_commands for a command, interactive otherwise)."""
    if envelope_type is None:
        if payload.get("type") == "event_callback":
            envelope_type = "events_api"
        elif "command" in payload:
            envelope_type = "slash_commands"
        else:
            envelope_type = "interactive"
    if accepts_response_payload is None:
        accepts_response_payload = envelope_type == "slash_commands" or (
            envelope_type == "interactive" and payload.get("type") in ("view_submission", "block_suggestion")
        )
    envelope: JSONDict = {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "payload": dict(payload),
        "type": envelope_type,
        "accepts_response_payload": accepts_response_payload,
    }
    if envelope_type == "events_api":
        envelope["retry_attempt"] = retry_attempt
        envelope["retry_reason"] = retry_reason
    return envelope


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------

_Handler = Callable[[str, JSONDict], JSONDict]
CustomResponse = JSONDict | Callable[[JSONDict], JSONDict]


class FakeSlackAPI:
    """Slack's Web API and Socket Mode on ``127.0.0.1`` (ephemeral port), recording everything.

    Args:
        accepted_tokens: exact tokens to accept; default any token starting with ``token_prefixes``.
        token_prefixes: accepted token prefixes when ``accepted_tokens`` is not given.
        workspace: identity answered by auth.test and used in built payloads.
        usergroups: ``{usergroup_id: [user_id, ...]}`` for usergroups.users.list.
        users: ``{user_id: user object fields}`` for users.info (merged over a generated user).
        channels: if given, the only channel ids that exist (others -> ``channel_not_found``);
            DM channels are always known.
        channel_rate_limit: per-channel message rate policy (off by default).
        strict: answer unknown messages / views / users / trigger ids the way Slack does.
        validate_blocks: check Block Kit limits as Slack does (on by default).
        enforce_token_types: reject xapp- tokens for bot methods and xox* tokens for
            apps.connections.open (``not_allowed_token_type``).
        trigger_ttl: seconds an issued trigger id stays valid.
        oauth_scopes: value of the ``x-oauth-scopes`` response header.
    """

    signed_request_headers = staticmethod(signed_request_headers)
    interactive_body = staticmethod(interactive_body)
    json_body = staticmethod(json_body)
    socket_envelope = staticmethod(socket_envelope)
    dm_channel_id = staticmethod(dm_channel_id)

    def __init__(
        self,
        *,
        accepted_tokens: Iterable[str] | None = None,
        token_prefixes: tuple[str, ...] = DEFAULT_TOKEN_PREFIXES,
        workspace: FakeWorkspace = DEFAULT_WORKSPACE,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        channels: Iterable[str] | None = None,
        channel_rate_limit: ChannelRateLimit | None = None,
        strict: bool = False,
        validate_blocks: bool = True,
        enforce_token_types: bool = True,
        trigger_ttl: float = 3.0,
        oauth_scopes: str = DEFAULT_OAUTH_SCOPES,
        host: str = "127.0.0.1",
    ) -> None:
        self.workspace = workspace
        self.strict = strict
        self.validate_blocks = validate_blocks
        self.enforce_token_types = enforce_token_types
        self.trigger_ttl = trigger_ttl
        self.oauth_scopes = oauth_scopes
        self.host = host
        self._accepted_tokens = set(accepted_tokens) if accepted_tokens is not None else None
        self._token_prefixes = token_prefixes
        self._usergroups = {k: list(v) for k, v in (usergroups or {}).items()}
        self._users = {k: dict(v) for k, v in (users or {}).items()}
        self._channels = set(channels) if channels is not None else None
        self._channel_rate_limit = channel_rate_limit

        self._lock = threading.RLock()
        self._calls: list[RecordedCall] = []
        self._messages: dict[tuple[str, str], FakeMessage] = {}
        self._ephemeral: list[EphemeralMessage] = []
        self._views: dict[str, FakeView] = {}
        self._home_views: dict[str, str] = {}  # user_id -> view id
        self._files: dict[str, UploadedFile] = {}
        self._upload_keys: dict[str, str] = {}  # upload URL key -> file id
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._opened_dms: set[str] = set()
        self._issued_triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._injections: dict[str, deque[_Injection]] = {}
        self._custom: dict[str, CustomResponse] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, monotonic time)
        self._rate_limited_count = 0
        self._rate_limited_by_channel: dict[str, int] = {}
        self._down = False
        self._ts_counter = FIRST_TS_MICROS
        self._internal_errors: list[str] = []

        self._sockets: list[_SocketConnection] = []
        self._socket_numbers = itertools.count(1)
        self._socket_connections_opened = 0
        self._socket_acks: list[SocketAck] = []
        self._socket_received: list[JSONDict] = []
        self._socket_sent: list[JSONDict] = []

        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

        self._methods: dict[str, _Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "bots.info": self._bots_info,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "reactions.add": self._reactions_add,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    # ---------------------------------------------------------------------------------------------
    # Lifecycle
    # ---------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeSlackAPI is not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT/``"""
        return f"http://{self.host}:{self.port}/"

    @property
    def base_url(self) -> str:
        """The Web API base URL for ``AsyncWebClient(base_url=...)``: ``http://127.0.0.1:PORT/api/``."""
        return f"{self.root_url}api/"

    async def start(self) -> str:
        """Serve on the running event loop; returns :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("FakeSlackAPI is already started")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{key}", self._handle_upload)
        app.router.add_post("/response_url/{key}", self._handle_response_url)
        app.router.add_get("/link", self._handle_socket)
        app.router.add_get("/link/", self._handle_socket)
        app.router.add_route("*", "/{method:" + _METHOD_PATTERN + "}", self._handle_api)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        site = web.SockSite(runner, sock)
        try:
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = int(sock.getsockname()[1])
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        return self.base_url

    async def stop(self) -> None:
        """Close Socket Mode connections and stop serving."""
        runner = self._runner
        if runner is None:
            return
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("FakeSlackAPI runs on another event loop: use stop_thread()")
        await self.close_socket_connections(code=1001)
        self._runner = None
        await runner.cleanup()
        self._loop = None

    async def __aenter__(self) -> FakeSlackAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> str:
        """Serve from a daemon thread with its own event loop (for sync code and subprocess tests)."""
        if self._thread is not None:
            raise RuntimeError("FakeSlackAPI is already running in a thread")
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name="fake-slack-api", daemon=True)
        thread.start()
        if not started.wait(timeout):
            raise RuntimeError("FakeSlackAPI did not start in time")
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        return self.base_url

    def stop_thread(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self.close_socket_connections(code=1001), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeSlackAPI:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    async def _on_server_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the fake's loop (which may be another thread's) and await its result."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("FakeSlackAPI is not started")
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def _run_sync(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        loop = self._loop
        if loop is None or self._thread is None:
            coro.close()
            raise RuntimeError("sync helpers need start_in_thread()")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # ---------------------------------------------------------------------------------------------
    # Configuration and failure injection
    # ---------------------------------------------------------------------------------------------

    def _inject(self, method: str, n: int, injection: _Injection) -> None:
        with self._lock:
            queue = self._injections.setdefault(method, deque())
            queue.extend([injection] * n)

    def rate_limit_next(self, method: str, n: int = 1, retry_after: int = 1) -> None:
        """The next ``n`` calls of ``method`` ("*" = any) get HTTP 429 ``ratelimited`` with
        ``Retry-After: retry_after`` (whole seconds, as Slack sends it)."""
        self._inject(method, n, _Injection("ratelimit", status=429, retry_after=int(retry_after)))

    def fail_next(self, method: str, n: int = 1, status: int = 500, body: str | None = None) -> None:
        """The next ``n`` calls of ``method`` ("*" = any) get HTTP ``status`` (``body`` or a JSON
        ``{"ok": false, "error": "internal_error"}``)."""
        self._inject(method, n, _Injection("fail", status=status, body=body))

    def error_next(
        self,
        method: str,
        n: int = 1,
        error: str = "channel_not_found",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """The next ``n`` calls of ``method`` ("*" = any) get HTTP 200 ``{"ok": false, "error": error}``
        (plus ``extra`` fields)."""
        self._inject(method, n, _Injection("error", error=error, extra=extra))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def set_down(self, down: bool = True) -> None:
        """While down, every request (Web API, uploads, Socket Mode connects) gets HTTP 503."""
        with self._lock:
            self._down = down

    def set_channel_rate_limit(self, policy: ChannelRateLimit | None) -> None:
        """Turn the per-channel message rate policy on (``ChannelRateLimit(...)``) or off (``None``)."""
        with self._lock:
            self._channel_rate_limit = policy
            self._buckets.clear()

    def set_response(self, method: str, response: CustomResponse | None) -> None:
        """Answer ``method`` with ``response`` (a dict, or a function of the request body returning
        one) instead of the built-in behaviour; ``None`` restores it. ``"ok": true`` is added if the
        dict has no ``ok``."""
        with self._lock:
            if response is None:
                self._custom.pop(method, None)
            else:
                self._custom[method] = response

    def set_usergroup(self, usergroup_id: str, user_ids: Iterable[str]) -> None:
        with self._lock:
            self._usergroups[usergroup_id] = list(user_ids)

    def add_user(self, user_id: str, **fields: Any) -> None:
        """Make ``user_id`` known to users.info; ``fields`` override the generated user object
        (``profile`` is merged)."""
        with self._lock:
            self._users[user_id] = fields

    def add_channel(self, channel_id: str) -> None:
        with self._lock:
            if self._channels is None:
                self._channels = set()
            self._channels.add(channel_id)

    def issue_trigger_id(self) -> str:
        """A trigger id the fake knows: single-use and expiring after :attr:`trigger_ttl` seconds."""
        trigger_id = new_trigger_id()
        with self._lock:
            self._issued_triggers[trigger_id] = time.monotonic()
        return trigger_id

    def new_response_url(self, channel: str | None = None, ts: str | None = None) -> str:
        """A response URL served by the fake. Given the source message (``channel``, ``ts``), a
        ``replace_original`` / ``delete_original`` response updates / deletes it."""
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._response_urls[key] = _ResponseUrl(channel=channel, ts=ts)
        return f"{self.root_url}response_url/{key}"

    def seed_message(
        self,
        channel: str,
        ts: str | None = None,
        *,
        text: str | None = None,
        blocks: list[JSONDict] | None = None,
        thread_ts: str | None = None,
    ) -> FakeMessage:
        """Put a message into the channel state (as if posted earlier)."""
        with self._lock:
            message = FakeMessage(
                channel=channel,
                ts=ts or self._next_ts(),
                text=text,
                blocks=copy.deepcopy(blocks),
                thread_ts=thread_ts,
            )
            self._messages[(channel, message.ts)] = message
            return copy.deepcopy(message)

    def reset(self) -> None:
        """Forget recorded traffic and state (messages, views, files, acks, injections, counters)."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._ephemeral.clear()
            self._views.clear()
            self._home_views.clear()
            self._files.clear()
            self._upload_keys.clear()
            self._response_urls.clear()
            self._opened_dms.clear()
            self._issued_triggers.clear()
            self._used_triggers.clear()
            self._injections.clear()
            self._buckets.clear()
            self._rate_limited_count = 0
            self._rate_limited_by_channel.clear()
            self._internal_errors.clear()
            self._socket_acks.clear()
            self._socket_received.clear()
            self._socket_sent.clear()

    # ---------------------------------------------------------------------------------------------
    # Inspection
    # ---------------------------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[RecordedCall]:
        """Recorded requests, oldest first: all, or of ``method``; ``ok`` filters on the answer."""
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (ok is None or c.ok == ok)
            ]

    def last_call(self, method: str) -> RecordedCall:
        matching = self.calls(method)
        if not matching:
            raise AssertionError(f"no {method} call recorded; calls: {self.methods_called()}")
        return matching[-1]

    def methods_called(self) -> list[str]:
        with self._lock:
            return [c.method for c in self._calls]

    def _matching(
        self,
        method: str | None,
        ok: bool | None,
        where: Callable[[RecordedCall], bool] | None,
    ) -> list[RecordedCall]:
        return [c for c in self.calls(method, ok=ok) if where is None or where(c)]

    def _timeout_message(self, what: str, count: int, got: int, timeout: float) -> str:
        return f"expected {count} {what} within {timeout}s, got {got}; calls so far: {self.methods_called()}"

    async def wait_for(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 5.0,
        *,
        ok: bool | None = None,
        where: Callable[[RecordedCall], bool] | None = None,
    ) -> list[RecordedCall]:
        """Poll until at least ``count`` matching calls are recorded; returns all matching calls.
        Raises :class:`WaitTimeout` (an AssertionError) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            matched = self._matching(method, ok, where)
            if len(matched) >= count:
                return matched
            if time.monotonic() >= deadline:
                raise WaitTimeout(self._timeout_message(f"{method} call(s)", count, len(matched), timeout))
            await asyncio.sleep(0.01)

    def wait_for_sync(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 5.0,
        *,
        ok: bool | None = None,
        where: Callable[[RecordedCall], bool] | None = None,
    ) -> list[RecordedCall]:
        """:meth:`wait_for` for sync code (blocks the calling thread)."""
        deadline = time.monotonic() + timeout
        while True:
            matched = self._matching(method, ok, where)
            if len(matched) >= count:
                return matched
            if time.monotonic() >= deadline:
                raise WaitTimeout(self._timeout_message(f"{method} call(s)", count, len(matched), timeout))
            time.sleep(0.01)

    def messages(self, channel: str | None = None, *, include_deleted: bool = False) -> list[FakeMessage]:
        """Current state of posted messages (after updates), ordered by ts."""
        with self._lock:
            found = [
                copy.deepcopy(m)
                for m in self._messages.values()
                if (channel is None or m.channel == channel) and (include_deleted or not m.deleted)
            ]
        return sorted(found, key=lambda m: _ts_key(m.ts))

    def message(self, channel: str, ts: str) -> FakeMessage | None:
        with self._lock:
            found = self._messages.get((channel, ts))
            return copy.deepcopy(found) if found else None

    def ephemeral_messages(
        self, channel: str | None = None, user: str | None = None
    ) -> list[EphemeralMessage]:
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._ephemeral
                if (channel is None or m.channel == channel) and (user is None or m.user == user)
            ]

    def views(self) -> list[FakeView]:
        with self._lock:
            return [copy.deepcopy(v) for v in self._views.values()]

    def view(self, view_id: str) -> FakeView | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def home_view(self, user_id: str) -> FakeView | None:
        with self._lock:
            view_id = self._home_views.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def uploaded_files(
        self, channel: str | None = None, *, completed: bool | None = None
    ) -> list[UploadedFile]:
        """Files seen by files.getUploadURLExternal (``data`` once uploaded), optionally only those
        shared to ``channel`` / completed."""
        with self._lock:
            return [
                copy.deepcopy(f)
                for f in self._files.values()
                if (channel is None or channel in f.shared_to)
                and (completed is None or f.completed == completed)
            ]

    @property
    def rate_limited_count(self) -> int:
        """HTTP 429 answers sent (injected and by the channel rate policy)."""
        with self._lock:
            return self._rate_limited_count

    @property
    def rate_limited_by_channel(self) -> dict[str, int]:
        """429 answers sent by the channel rate policy, per channel."""
        with self._lock:
            return dict(self._rate_limited_by_channel)

    @property
    def internal_errors(self) -> list[str]:
        """Exceptions raised inside the fake while answering (should stay empty)."""
        with self._lock:
            return list(self._internal_errors)

    # ---------------------------------------------------------------------------------------------
    # Fake-aware builders
    # ---------------------------------------------------------------------------------------------

    def block_action_payload(
        self,
        action_id: str,
        value: str | None,
        user_id: str,
        channel: str,
        ts: str,
        trigger_id: str | None = None,
        selected_option: str | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> JSONDict:
        """:func:`block_action_payload` for a message in the fake's state: the stored message, a trigger
        id issued by the fake and a response URL it serves (bound to the message)."""
        stored = self.message(channel, ts)
        if stored is not None and "message" not in kwargs:
            kwargs["message"] = stored.to_api(self.workspace)
        kwargs.setdefault("response_url", self.new_response_url(channel, ts))
        kwargs.setdefault("workspace", self.workspace)
        return block_action_payload(
            action_id,
            value,
            user_id,
            channel,
            ts,
            trigger_id or self.issue_trigger_id(),
            selected_option,
            **kwargs,
        )

    def view_submission_payload(
        self,
        callback_id: str | None,
        values: Mapping[str, Mapping[str, Any]],
        user_id: str,
        *,
        view_id: str | None = None,
        **kwargs: Any,
    ) -> JSONDict:
        """:func:`view_submission_payload` of a view the fake holds (``view_id``, default the latest
        modal); ``callback_id`` None takes the view's."""
        with self._lock:
            if view_id is None:
                modals = [v for v in self._views.values() if v.type == "modal"]
                stored = modals[-1] if modals else None
            else:
                stored = self._views.get(view_id)
            base = copy.deepcopy(stored.view) if stored else None
        if base is not None:
            kwargs.setdefault("view", base)
            callback_id = callback_id if callback_id is not None else base.get("callback_id", "")
        kwargs.setdefault("trigger_id", self.issue_trigger_id())
        kwargs.setdefault("workspace", self.workspace)
        return view_submission_payload(callback_id or "", values, user_id, view_id=view_id, **kwargs)

    def slash_command_payload(
        self, command: str, text: str, user_id: str, channel_id: str, **kwargs: Any
    ) -> dict[str, str]:
        kwargs.setdefault("trigger_id", self.issue_trigger_id())
        kwargs.setdefault("response_url", self.new_response_url())
        kwargs.setdefault("workspace", self.workspace)
        return slash_command_payload(command, text, user_id, channel_id, **kwargs)

    def slash_command_body(
        self, command: str, text: str, user_id: str, channel_id: str, **kwargs: Any
    ) -> bytes:
        return urlencode(self.slash_command_payload(command, text, user_id, channel_id, **kwargs)).encode()

    def app_home_opened_body(self, user_id: str, **kwargs: Any) -> JSONDict:
        """:func:`app_home_opened_body` carrying the Home tab the fake holds for ``user_id``."""
        home = self.home_view(user_id)
        if home is not None:
            kwargs.setdefault("view", home.view)
        kwargs.setdefault("workspace", self.workspace)
        return app_home_opened_body(user_id, **kwargs)

    def event_callback_body(self, event: Mapping[str, Any], **kwargs: Any) -> JSONDict:
        kwargs.setdefault("workspace", self.workspace)
        return event_callback_body(event, **kwargs)

    # ---------------------------------------------------------------------------------------------
    # Socket Mode
    # ---------------------------------------------------------------------------------------------

    @property
    def socket_acks(self) -> list[SocketAck]:
        """Acks (messages with an ``envelope_id``) the Socket Mode clients sent, oldest first."""
        with self._lock:
            return list(self._socket_acks)

    @property
    def socket_received(self) -> list[JSONDict]:
        """Every JSON message the Socket Mode clients sent."""
        with self._lock:
            return copy.deepcopy(self._socket_received)

    @property
    def socket_sent(self) -> list[JSONDict]:
        """Every message the fake sent to Socket Mode clients (hello, envelopes, disconnects)."""
        with self._lock:
            return copy.deepcopy(self._socket_sent)

    @property
    def socket_connections_opened(self) -> int:
        """Socket Mode connections accepted so far (reconnects included)."""
        with self._lock:
            return self._socket_connections_opened

    @property
    def open_socket_count(self) -> int:
        with self._lock:
            return sum(1 for c in self._sockets if not c.ws.closed)

    async def wait_for_socket_connection(self, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until ``count`` connections have been opened in total and one is open now."""
        deadline = time.monotonic() + timeout
        while self.socket_connections_opened < count or self.open_socket_count == 0:
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"expected {count} Socket Mode connection(s) within {timeout}s, "
                    f"opened {self.socket_connections_opened}, open now {self.open_socket_count}"
                )
            await asyncio.sleep(0.01)

    async def socket_send(self, envelope: Mapping[str, Any], timeout: float = 5.0) -> str:
        """Push a message (envelope) to the newest open Socket Mode connection, waiting up to
        ``timeout`` for one; an ``envelope_id`` is added if missing. Returns the envelope id."""
        message = dict(envelope)
        if "payload" in message:
            message.setdefault("envelope_id", str(uuid.uuid4()))
        await self._on_server_loop(self._send_to_socket(message, timeout))
        return str(message.get("envelope_id", ""))

    def socket_send_sync(self, envelope: Mapping[str, Any], timeout: float = 5.0) -> str:
        """:meth:`socket_send` for sync code (needs :meth:`start_in_thread`)."""
        message = dict(envelope)
        if "payload" in message:
            message.setdefault("envelope_id", str(uuid.uuid4()))
        self._run_sync(self._send_to_socket(message, timeout), timeout + 1)
        return str(message.get("envelope_id", ""))

    async def wait_for_socket_ack(self, envelope_id: str, timeout: float = 5.0) -> SocketAck:
        deadline = time.monotonic() + timeout
        while True:
            for ack in self.socket_acks:
                if ack.envelope_id == envelope_id:
                    return ack
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"no ack for envelope {envelope_id} within {timeout}s")
            await asyncio.sleep(0.01)

    async def socket_send_and_wait_ack(self, envelope: Mapping[str, Any], timeout: float = 5.0) -> SocketAck:
        envelope_id = await self.socket_send(envelope, timeout)
        return await self.wait_for_socket_ack(envelope_id, timeout)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``{"type": "disconnect"}`` to every open connection (clients reconnect)."""
        await self._on_server_loop(self._send_disconnect(reason))

    async def close_socket_connections(self, code: int = 1001) -> None:
        """Close every open Socket Mode connection from the server side."""
        if self._loop is None:
            return
        await self._on_server_loop(self._close_sockets(code))

    async def _send_to_socket(self, message: JSONDict, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                open_connections = [c for c in self._sockets if not c.ws.closed]
            if open_connections:
                break
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"no open Socket Mode connection within {timeout}s")
            await asyncio.sleep(0.01)
        with self._lock:
            self._socket_sent.append(copy.deepcopy(message))
        await open_connections[-1].ws.send_str(json.dumps(message))

    async def _send_disconnect(self, reason: str) -> None:
        with self._lock:
            connections = [c for c in self._sockets if not c.ws.closed]
        for connection in connections:
            message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
            with self._lock:
                self._socket_sent.append(message)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.ws.send_str(json.dumps(message))

    async def _close_sockets(self, code: int) -> None:
        with self._lock:
            connections = list(self._sockets)
        for connection in connections:
            with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                await asyncio.wait_for(connection.ws.close(code=code, message=b"going away"), 3)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            down = self._down
        if down:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        with self._lock:
            connection = _SocketConnection(
                number=next(self._socket_numbers),
                ws=ws,
                ticket=request.query.get("ticket"),
                connected_at=time.time(),
            )
            self._sockets.append(connection)
            self._socket_connections_opened += 1
            open_now = sum(1 for c in self._sockets if not c.ws.closed)
        hello = {
            "type": "hello",
            "num_connections": open_now,
            "debug_info": {
                "host": f"applink-fake-{connection.number}",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.workspace.app_id},
        }
        with self._lock:
            self._socket_sent.append(hello)
        try:
            await ws.send_str(json.dumps(hello))
            await self._receive_socket_messages(ws)
        except ConnectionError:
            pass  # the client went away
        finally:
            with self._lock:
                if connection in self._sockets:
                    self._sockets.remove(connection)
        return ws

    async def _receive_socket_messages(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            with self._lock:
                self._socket_received.append(data)
                if "envelope_id" in data:
                    self._socket_acks.append(
                        SocketAck(
                            envelope_id=str(data["envelope_id"]),
                            payload=data.get("payload"),
                            message=data,
                            at=time.time(),
                        )
                    )

    # ---------------------------------------------------------------------------------------------
    # HTTP plumbing
    # ---------------------------------------------------------------------------------------------

    async def _parse_body(self, request: web.Request, raw: bytes) -> JSONDict:
        body: JSONDict = dict(request.query)
        content_type = request.content_type
        if content_type.startswith("multipart/"):
            form = await request.post()
            for key, value in form.items():
                body[key] = value if isinstance(value, str) else value.file.read()
        elif raw:
            text = raw.decode("utf-8", errors="replace")
            if content_type == "application/json" or text.lstrip().startswith("{"):
                try:
                    parsed = json.loads(text)
                except ValueError as exc:
                    raise _ApiError("invalid_json") from exc
                if not isinstance(parsed, dict):
                    raise _ApiError("invalid_json")
                body.update(parsed)
            else:
                body.update(parse_qsl(text, keep_blank_values=True))
        return _decode_json_fields(body)

    @staticmethod
    def _token_of(request: web.Request, body: JSONDict) -> str | None:
        authorization = request.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            return authorization[7:].strip() or None
        token = body.get("token")
        return str(token) if token else None

    def _token_error(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if self._accepted_tokens is not None:
            accepted = token in self._accepted_tokens
        else:
            accepted = token.startswith(self._token_prefixes)
        if not accepted:
            return "invalid_auth"
        if self.enforce_token_types:
            if method == "apps.connections.open" and token.startswith("xox"):
                return "not_allowed_token_type"
            if method not in ("apps.connections.open", "auth.test") and token.startswith("xapp-"):
                return "not_allowed_token_type"
        return None

    def _pop_injection(self, method: str) -> _Injection | None:
        with self._lock:
            for key in (method, "*"):
                queue = self._injections.get(key)
                if queue:
                    return queue.popleft()
        return None

    def _injected_answer(self, injection: _Injection) -> tuple[int, Any, dict[str, str]]:
        if injection.kind == "ratelimit":
            with self._lock:
                self._rate_limited_count += 1
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(injection.retry_after)}
        if injection.kind == "fail":
            if injection.body is not None:
                return injection.status, injection.body, {}
            return injection.status, {"ok": False, "error": "internal_error"}, {}
        return 200, {"ok": False, "error": injection.error, **(injection.extra or {})}, {}

    def _channel_rate_check(self, method: str, body: JSONDict) -> int | None:
        """Seconds to wait if the channel policy rejects this call, else None (token consumed)."""
        with self._lock:
            policy = self._channel_rate_limit
            if policy is None or method not in policy.methods:
                return None
            channel = str(body.get("channel") or "")
            now = time.monotonic()
            tokens, last = self._buckets.get(channel, (float(policy.burst), now))
            tokens = min(float(policy.burst), tokens + (now - last) * policy.per_second)
            if tokens >= 1.0:
                self._buckets[channel] = (tokens - 1.0, now)
                return None
            self._buckets[channel] = (tokens, now)
            self._rate_limited_count += 1
            self._rate_limited_by_channel[channel] = self._rate_limited_by_channel.get(channel, 0) + 1
            if policy.retry_after is not None:
                return policy.retry_after
            return max(1, math.ceil((1.0 - tokens) / policy.per_second))

    def _record(
        self,
        request: web.Request,
        method: str,
        raw: bytes,
        body: JSONDict,
        token: str | None,
        status: int,
        response: Any,
        response_headers: Mapping[str, str],
    ) -> None:
        call = RecordedCall(
            method=method,
            http_method=request.method,
            path=request.path,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            query=dict(request.query),
            body=body,
            raw_body=raw,
            token=token,
            status=status,
            response=copy.deepcopy(response),
            response_headers=dict(response_headers),
            at=time.time(),
        )
        with self._lock:
            self._calls.append(call)

    @staticmethod
    def _respond(status: int, payload: Any, headers: Mapping[str, str]) -> web.Response:
        if isinstance(payload, str):
            return web.Response(status=status, text=payload, headers=dict(headers))
        return web.json_response(payload, status=status, headers=dict(headers))

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        body: JSONDict = {}
        token: str | None = None
        headers: dict[str, str] = {"x-slack-req-id": secrets.token_hex(16)}
        try:
            body = await self._parse_body(request, raw)
            token = self._token_of(request, body)
            status, payload, extra_headers = self._answer(method, body, token)
        except _ApiError as exc:
            status, payload, extra_headers = 200, exc.body(), {}
        except Exception as exc:  # a bug in the fake: answer, record and keep serving
            with self._lock:
                self._internal_errors.append(f"{method}: {exc!r}")
            status, payload, extra_headers = 500, {"ok": False, "error": "fake_internal_error"}, {}
        headers.update(extra_headers)
        self._record(request, method, raw, body, token, status, payload, headers)
        return self._respond(status, payload, headers)

    def _answer(self, method: str, body: JSONDict, token: str | None) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            down = self._down
        if down:
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        injection = self._pop_injection(method)
        if injection is not None:
            return self._injected_answer(injection)
        with self._lock:
            custom = self._custom.get(method)
        handler = self._methods.get(method)
        if custom is None and handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        token_error = None if method == "api.test" else self._token_error(method, token)
        if token_error is not None:
            return 200, {"ok": False, "error": token_error}, {}
        headers = {"x-oauth-scopes": self.oauth_scopes}
        retry_after = self._channel_rate_check(method, body)
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {**headers, "Retry-After": str(retry_after)}
        if custom is not None:
            answer = custom(body) if callable(custom) else copy.deepcopy(custom)
            return 200, {"ok": True, **answer}, headers
        assert handler is not None
        return 200, handler(method, body), headers

    async def _handle_upload(self, request: web.Request) -> web.Response:
        raw = await request.read()
        key = request.match_info["key"]
        data = raw
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            for value in form.values():
                data = value.encode() if isinstance(value, str) else value.file.read()
                break
        with self._lock:
            file_id = self._upload_keys.get(key)
            uploaded = self._files.get(file_id) if file_id else None
            down = self._down
        injection = None if down else self._pop_injection(UPLOAD_CALL)
        body: JSONDict = {"file_id": file_id, "size": len(data)}
        status: int
        payload: Any
        headers: dict[str, str] = {}
        if down:
            status, payload = 503, "Service Unavailable"
        elif injection is not None:
            status, payload, headers = self._injected_answer(injection)
        elif uploaded is None:
            status, payload = 404, "Not Found"
        else:
            with self._lock:
                uploaded.data = bytes(data)
            status, payload = 200, f"OK - {len(data)}"
        self._record(request, UPLOAD_CALL, raw, body, None, status, payload, headers)
        return self._respond(status, payload, headers)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        raw = await request.read()
        key = request.match_info["key"]
        try:
            body = await self._parse_body(request, raw)
        except _ApiError:
            body = {}
        if isinstance(body.get("payload"), str):  # form-encoded payload=...
            with contextlib.suppress(ValueError):
                body = json.loads(body["payload"])
        with self._lock:
            target = self._response_urls.get(key)
            down = self._down
        injection = None if down else self._pop_injection(RESPONSE_URL_CALL)
        headers: dict[str, str] = {}
        status: int
        payload: Any
        if down:
            status, payload = 503, "Service Unavailable"
        elif injection is not None:
            status, payload, headers = self._injected_answer(injection)
        elif target is None:
            status, payload = 404, "no_service"
        else:
            status, payload = 200, "ok"
            self._apply_response_url(target, body)
        self._record(request, RESPONSE_URL_CALL, raw, body, None, status, payload, headers)
        return self._respond(status, payload, headers)

    def _apply_response_url(self, target: _ResponseUrl, body: JSONDict) -> None:
        if target.channel is None or target.ts is None:
            return
        with self._lock:
            message = self._messages.get((target.channel, target.ts))
            if message is None:
                return
            if _bool_param(body.get("delete_original", False)):
                message.deleted = True
            elif _bool_param(body.get("replace_original", False)):
                message.text = body.get("text")
                blocks = body.get("blocks")
                message.blocks = blocks if isinstance(blocks, list) else None
                attachments = body.get("attachments")
                message.attachments = attachments if isinstance(attachments, list) else None
                message.updates.append(copy.deepcopy(body))

    # ---------------------------------------------------------------------------------------------
    # Web API methods (called with the lock free; each takes it as needed)
    # ---------------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        with self._lock:
            micros = self._ts_counter
            self._ts_counter += TS_STEP_MICROS
        return _format_ts(micros)

    def _resolve_channel(self, channel: Any) -> str:
        """Channel id for chat.postMessage / postEphemeral: a user id means the DM with that user."""
        if not channel or not isinstance(channel, str):
            raise _ApiError("channel_not_found")
        if _USER_ID.match(channel):
            channel = dm_channel_id(channel)
            with self._lock:
                self._opened_dms.add(channel)
        self._check_channel(channel)
        return channel

    def _check_channel(self, channel: str) -> None:
        with self._lock:
            known = self._channels
            if known is not None and channel not in known and channel not in self._opened_dms:
                raise _ApiError("channel_not_found")

    def _message_content(
        self, body: JSONDict, *, require: bool = True
    ) -> tuple[str | None, list[JSONDict] | None, list[JSONDict] | None]:
        text = body.get("text")
        text = str(text) if text is not None else None
        blocks = _as_list_of_dicts(body.get("blocks"), "invalid_blocks_format")
        attachments = _as_list_of_dicts(body.get("attachments"), "invalid_attachments")
        if require and not text and not blocks and not attachments:
            raise _ApiError("no_text")
        if text is not None and len(text) > MESSAGE_MAX_TEXT:
            raise _ApiError("msg_too_long")
        if self.validate_blocks and blocks is not None:
            validator = _BlockKitValidator()
            validator.blocks(blocks, "/blocks", MESSAGE_MAX_BLOCKS)
            if validator.errors:
                raise _ApiError(
                    "invalid_blocks",
                    errors=validator.errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in validator.errors]},
                )
        return text, blocks, attachments

    def _api_test(self, method: str, body: JSONDict) -> JSONDict:
        return {"ok": True, "args": {k: v for k, v in body.items() if k != "token"}}

    def _auth_test(self, method: str, body: JSONDict) -> JSONDict:
        ws = self.workspace
        return {
            "ok": True,
            "url": ws.url,
            "team": ws.team_name,
            "user": ws.bot_name,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }

    def _bots_info(self, method: str, body: JSONDict) -> JSONDict:
        ws = self.workspace
        return {
            "ok": True,
            "bot": {
                "id": ws.bot_id,
                "deleted": False,
                "name": ws.bot_name,
                "updated": 1700000000,
                "app_id": ws.app_id,
                "user_id": ws.bot_user_id,
                "icons": {},
            },
        }

    def _apps_connections_open(self, method: str, body: JSONDict) -> JSONDict:
        ticket = str(uuid.uuid4())
        url = f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.workspace.app_id}"
        return {"ok": True, "url": url}

    def _chat_post_message(self, method: str, body: JSONDict) -> JSONDict:
        channel = self._resolve_channel(body.get("channel"))
        text, blocks, attachments = self._message_content(body)
        thread_ts = body.get("thread_ts")
        metadata = body.get("metadata")
        with self._lock:
            message = FakeMessage(
                channel=channel,
                ts=self._next_ts(),
                text=text,
                blocks=copy.deepcopy(blocks),
                attachments=copy.deepcopy(attachments),
                thread_ts=str(thread_ts) if thread_ts else None,
                metadata=metadata if isinstance(metadata, dict) else None,
                posted=copy.deepcopy(body),
            )
            self._messages[(channel, message.ts)] = message
            return {
                "ok": True,
                "channel": channel,
                "ts": message.ts,
                "message": message.to_api(self.workspace),
            }

    def _stored_message(self, channel: Any, ts: Any) -> FakeMessage:
        """The message to act on (created on the fly unless strict)."""
        if not channel or not isinstance(channel, str):
            raise _ApiError("channel_not_found")
        if not ts or not isinstance(ts, str):
            raise _ApiError("message_not_found")
        self._check_channel(channel)
        with self._lock:
            message = self._messages.get((channel, ts))
            if message is None:
                if self.strict:
                    raise _ApiError("message_not_found")
                message = FakeMessage(channel=channel, ts=ts)
                self._messages[(channel, ts)] = message
            return message

    def _chat_update(self, method: str, body: JSONDict) -> JSONDict:
        channel, ts = body.get("channel"), body.get("ts")
        has_content = any(name in body for name in ("text", "blocks", "attachments"))
        if not has_content:
            raise _ApiError("no_text")
        text, blocks, attachments = self._message_content(body, require=False)
        message = self._stored_message(channel, ts)
        with self._lock:
            if message.deleted:
                raise _ApiError("message_not_found")
            if "text" in body:
                message.text = text
            if "blocks" in body:
                message.blocks = copy.deepcopy(blocks)
            if "attachments" in body:
                message.attachments = copy.deepcopy(attachments)
            if isinstance(body.get("metadata"), dict):
                message.metadata = body["metadata"]
            message.updates.append(copy.deepcopy(body))
            api_message = message.to_api(self.workspace)
            api_message["edited"] = {"user": self.workspace.bot_user_id, "ts": _now_ts()}
            return {
                "ok": True,
                "channel": message.channel,
                "ts": message.ts,
                "text": api_message["text"],
                "message": api_message,
            }

    def _chat_delete(self, method: str, body: JSONDict) -> JSONDict:
        message = self._stored_message(body.get("channel"), body.get("ts"))
        with self._lock:
            if message.deleted:
                raise _ApiError("message_not_found")
            message.deleted = True
            return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_post_ephemeral(self, method: str, body: JSONDict) -> JSONDict:
        channel = self._resolve_channel(body.get("channel"))
        user = body.get("user")
        if not user:
            raise _ApiError("user_not_in_channel")
        text, blocks, attachments = self._message_content(body)
        ephemeral = EphemeralMessage(
            channel=channel,
            user=str(user),
            message_ts=self._next_ts(),
            text=text,
            blocks=copy.deepcopy(blocks),
            attachments=copy.deepcopy(attachments),
            thread_ts=body.get("thread_ts"),
            body=copy.deepcopy(body),
        )
        with self._lock:
            self._ephemeral.append(ephemeral)
        return {"ok": True, "message_ts": ephemeral.message_ts}

    def _chat_get_permalink(self, method: str, body: JSONDict) -> JSONDict:
        message = self._stored_message(body.get("channel"), body.get("message_ts"))
        with self._lock:
            channel, ts, thread_ts = message.channel, message.ts, message.thread_ts
        permalink = f"{self.workspace.url}archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _conversations_open(self, method: str, body: JSONDict) -> JSONDict:
        users_param = body.get("users")
        channel_param = body.get("channel")
        if isinstance(users_param, list):
            users = [str(u) for u in users_param]
        elif isinstance(users_param, str) and users_param.strip():
            users = [u.strip() for u in users_param.split(",") if u.strip()]
        else:
            users = []
        if not users:
            if channel_param:
                return {
                    "ok": True,
                    "no_op": True,
                    "already_open": True,
                    "channel": {"id": str(channel_param)},
                }
            raise _ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise _ApiError("too_many_users")
        for user in users:
            if not _USER_ID.match(user):
                raise _ApiError("user_not_found")
        channel_id = dm_channel_id(users[0]) if len(users) == 1 else _stable_id("G", ",".join(sorted(users)))
        with self._lock:
            already_open = channel_id in self._opened_dms
            self._opened_dms.add(channel_id)
        channel: JSONDict = {"id": channel_id}
        if _bool_param(body.get("return_im", False)):
            channel.update(
                {
                    "created": 1700000000,
                    "is_im": len(users) == 1,
                    "is_mpim": len(users) > 1,
                    "is_org_shared": False,
                    "user": users[0] if len(users) == 1 else None,
                    "last_read": "0000000000.000000",
                    "is_open": True,
                }
            )
        answer: JSONDict = {"ok": True, "channel": channel}
        if already_open:
            answer.update({"no_op": True, "already_open": True})
        return answer

    def _conversations_info(self, method: str, body: JSONDict) -> JSONDict:
        channel = body.get("channel")
        if not channel or not isinstance(channel, str):
            raise _ApiError("channel_not_found")
        self._check_channel(channel)
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": channel.startswith("C"),
                "is_group": channel.startswith("G"),
                "is_im": channel.startswith("D"),
                "is_private": not channel.startswith("C"),
                "is_archived": False,
                "is_member": True,
                "context_team_id": self.workspace.team_id,
            },
        }

    def _conversations_history(self, method: str, body: JSONDict) -> JSONDict:
        """A channel's top-level messages, newest first, between ``oldest`` and ``latest`` (exclusive unless
        ``inclusive``), ``limit`` (default 100, at most 999) a page with cursor paging; message metadata only
        with ``include_all_metadata``."""
        channel = body.get("channel")
        if not channel or not isinstance(channel, str):
            raise _ApiError("channel_not_found")
        self._check_channel(channel)
        try:
            limit = min(max(int(body.get("limit") or 100), 1), 999)
            oldest = float(body.get("oldest") or 0)
            latest = float(body["latest"]) if body.get("latest") else float("inf")
            offset = (
                int(base64.b64decode(str(body["cursor"])).decode().removeprefix("offset:"))
                if body.get("cursor")
                else 0
            )
        except (TypeError, ValueError, binascii.Error):
            raise _ApiError("invalid_arguments") from None
        inclusive = str(body.get("inclusive", "")).lower() in ("true", "1")
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("true", "1")
        with self._lock:
            found = [
                message
                for message in self._messages.values()
                if message.channel == channel
                and not message.deleted
                and message.thread_ts in (None, message.ts)
                and (
                    oldest <= float(message.ts) <= latest
                    if inclusive
                    else oldest < float(message.ts) < latest
                )
            ]
            found.sort(key=lambda message: float(message.ts), reverse=True)
            page = [message.to_api(self.workspace) for message in found[offset : offset + limit]]
        if not with_metadata:
            for message in page:
                message.pop("metadata", None)
        has_more = offset + limit < len(found)
        answer: JSONDict = {"ok": True, "messages": page, "has_more": has_more}
        if has_more:
            answer["response_metadata"] = {
                "next_cursor": base64.b64encode(f"offset:{offset + limit}".encode()).decode()
            }
        return answer

    def _reactions_add(self, method: str, body: JSONDict) -> JSONDict:
        if not body.get("name"):
            raise _ApiError("invalid_name")
        self._stored_message(body.get("channel"), body.get("timestamp"))
        return {"ok": True}

    def _usergroups_users_list(self, method: str, body: JSONDict) -> JSONDict:
        usergroup = body.get("usergroup")
        if not usergroup:
            raise _ApiError.invalid_arguments("missing required field: usergroup")
        with self._lock:
            members = self._usergroups.get(str(usergroup))
        if members is None:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(members)}

    def _users_info(self, method: str, body: JSONDict) -> JSONDict:
        user_id = body.get("user")
        if not user_id or not isinstance(user_id, str):
            raise _ApiError("user_not_found")
        with self._lock:
            configured = self._users.get(user_id)
        if configured is None and (self.strict or not _USER_ID.match(user_id)):
            raise _ApiError("user_not_found")
        name = user_id.lower()
        user: JSONDict = {
            "id": user_id,
            "team_id": self.workspace.team_id,
            "name": name,
            "deleted": False,
            "real_name": f"User {user_id}",
            "tz": "Europe/Oslo",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "real_name": f"User {user_id}",
                "display_name": name,
                "email": f"{name}@example.invalid",
                "team": self.workspace.team_id,
            },
        }
        if configured:
            profile = {**user["profile"], **dict(configured.get("profile") or {})}
            user.update(copy.deepcopy(dict(configured)))
            user["profile"] = profile
        return {"ok": True, "user": user}

    # views ---------------------------------------------------------------------------------------

    def _view_arg(self, body: JSONDict) -> JSONDict:
        view = body.get("view")
        if view is None:
            raise _ApiError.invalid_arguments("missing required field: view")
        if not isinstance(view, dict):
            raise _ApiError.invalid_arguments("failed to match all allowed schemas [json-pointer:/view]")
        if self.validate_blocks:
            validator = _BlockKitValidator()
            validator.view(view)
            if validator.errors:
                raise _ApiError.invalid_arguments(*validator.errors)
        return view

    def _consume_trigger(self, body: JSONDict) -> str:
        trigger_id = body.get("trigger_id") or body.get("interactivity_pointer")
        if not trigger_id:
            raise _ApiError.invalid_arguments("missing required field: trigger_id")
        trigger_id = str(trigger_id)
        with self._lock:
            if trigger_id in self._used_triggers:
                raise _ApiError("exchanged_trigger_id")
            issued_at = self._issued_triggers.get(trigger_id)
            if issued_at is None and self.strict:
                raise _ApiError("invalid_trigger_id")
            if issued_at is not None and time.monotonic() - issued_at > self.trigger_ttl:
                raise _ApiError("expired_trigger_id")
            self._used_triggers.add(trigger_id)
        return trigger_id

    def _view_object(
        self,
        view: JSONDict,
        view_id: str,
        *,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> JSONDict:
        ws = self.workspace
        return {
            "id": view_id,
            "team_id": ws.team_id,
            "type": view.get("type"),
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": _bool_param(view.get("clear_on_close", False)),
            "notify_on_close": _bool_param(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": ws.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }

    def _views_open(self, method: str, body: JSONDict) -> JSONDict:
        view = self._view_arg(body)
        if view.get("type") != "modal":
            raise _ApiError.invalid_arguments("must be modal [json-pointer:/view/type]")
        trigger_id = self._consume_trigger(body)
        view_id = _random_id("V")
        api_view = self._view_object(view, view_id)
        with self._lock:
            self._views[view_id] = FakeView(id=view_id, view=api_view, trigger_id=trigger_id)
        return {"ok": True, "view": copy.deepcopy(api_view)}

    def _views_push(self, method: str, body: JSONDict) -> JSONDict:
        view = self._view_arg(body)
        if view.get("type") != "modal":
            raise _ApiError.invalid_arguments("must be modal [json-pointer:/view/type]")
        trigger_id = self._consume_trigger(body)
        view_id = _random_id("V")
        with self._lock:
            modals = [v for v in self._views.values() if v.type == "modal"]
            previous = modals[-1].view if modals else None
            api_view = self._view_object(
                view,
                view_id,
                root_view_id=previous.get("root_view_id") if previous else None,
                previous_view_id=previous.get("id") if previous else None,
            )
            self._views[view_id] = FakeView(id=view_id, view=api_view, trigger_id=trigger_id)
        return {"ok": True, "view": copy.deepcopy(api_view)}

    def _views_update(self, method: str, body: JSONDict) -> JSONDict:
        view = self._view_arg(body)
        view_id, external_id = body.get("view_id"), body.get("external_id")
        if not view_id and not external_id:
            raise _ApiError.invalid_arguments("missing required field: view_id")
        with self._lock:
            stored: FakeView | None = None
            if view_id:
                stored = self._views.get(str(view_id))
            else:
                stored = next(
                    (v for v in self._views.values() if v.view.get("external_id") == external_id), None
                )
            if stored is None:
                if self.strict or not view_id:
                    raise _ApiError("not_found")
                stored = FakeView(id=str(view_id), view=self._view_object(view, str(view_id)))
                self._views[stored.id] = stored
            expected_hash = body.get("hash")
            if expected_hash and expected_hash != stored.view.get("hash"):
                raise _ApiError("hash_conflict")
            api_view = self._view_object(
                view,
                stored.id,
                root_view_id=stored.view.get("root_view_id"),
                previous_view_id=stored.view.get("previous_view_id"),
            )
            stored.history.append(stored.view)
            stored.view = api_view
            return {"ok": True, "view": copy.deepcopy(api_view)}

    def _views_publish(self, method: str, body: JSONDict) -> JSONDict:
        user_id = body.get("user_id")
        if not user_id or not isinstance(user_id, str):
            raise _ApiError.invalid_arguments("missing required field: user_id")
        view = self._view_arg(body)
        if view.get("type") != "home":
            raise _ApiError.invalid_arguments("must be home [json-pointer:/view/type]")
        with self._lock:
            view_id = self._home_views.get(user_id)
            stored = self._views.get(view_id) if view_id else None
            expected_hash = body.get("hash")
            if expected_hash and (stored is None or expected_hash != stored.view.get("hash")):
                raise _ApiError("hash_conflict")
            if stored is None:
                view_id = _random_id("V")
                stored = FakeView(id=view_id, view={}, user_id=user_id)
                self._views[view_id] = stored
                self._home_views[user_id] = view_id
            else:
                stored.history.append(stored.view)
            stored.view = self._view_object(view, stored.id)
            return {"ok": True, "view": copy.deepcopy(stored.view)}

    # files ---------------------------------------------------------------------------------------

    def _files_get_upload_url_external(self, method: str, body: JSONDict) -> JSONDict:
        filename, length = body.get("filename"), body.get("length")
        missing = [
            name for name, value in (("filename", filename), ("length", length)) if value in (None, "")
        ]
        if missing:
            raise _ApiError.invalid_arguments(*(f"missing required field: {m}" for m in missing))
        try:
            size = int(length)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise _ApiError.invalid_arguments("must be an integer [json-pointer:/length]") from exc
        file_id = _random_id("F")
        key = secrets.token_urlsafe(16)
        upload_url = f"{self.root_url}upload/v1/{key}"
        with self._lock:
            self._files[file_id] = UploadedFile(
                file_id=file_id,
                filename=str(filename),
                length=size,
                upload_url=upload_url,
                alt_txt=body.get("alt_txt"),
                snippet_type=body.get("snippet_type"),
            )
            self._upload_keys[key] = file_id
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def _files_complete_upload_external(self, method: str, body: JSONDict) -> JSONDict:
        files = body.get("files")
        if not isinstance(files, list) or not files:
            raise _ApiError.invalid_arguments("missing required field: files")
        channel_id = body.get("channel_id")
        channels_param = body.get("channels")
        channels = [c for c in str(channels_param).split(",") if c] if channels_param else []
        for channel in ([channel_id] if channel_id else []) + channels:
            self._check_channel(str(channel))
        answers: list[JSONDict] = []
        with self._lock:
            targets: list[tuple[UploadedFile, JSONDict]] = []
            for item in files:
                uploaded = self._files.get(str(item.get("id"))) if isinstance(item, dict) else None
                if uploaded is None or uploaded.data is None or uploaded.completed:
                    raise _ApiError("file_not_found")
                targets.append((uploaded, item))
            for uploaded, item in targets:
                uploaded.completed = True
                uploaded.title = item.get("title") or uploaded.filename
                uploaded.channel_id = str(channel_id) if channel_id else None
                uploaded.channels = channels
                uploaded.initial_comment = body.get("initial_comment")
                uploaded.thread_ts = body.get("thread_ts")
                answers.append(self._file_object(uploaded))
        return {"ok": True, "files": answers}

    def _file_object(self, uploaded: UploadedFile) -> JSONDict:
        ws = self.workspace
        extension = uploaded.filename.rsplit(".", 1)[-1].lower() if "." in uploaded.filename else "binary"
        return {
            "id": uploaded.file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": uploaded.filename,
            "title": uploaded.title,
            "mimetype": "",
            "filetype": extension,
            "user": ws.bot_user_id,
            "user_team": ws.team_id,
            "size": len(uploaded.data or b""),
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(uploaded.shared_to),
            "url_private": f"https://files.slack.com/files-pri/{ws.team_id}-{uploaded.file_id}/{uploaded.filename}",
            "permalink": f"{ws.url}files/{ws.bot_user_id}/{uploaded.file_id}/{uploaded.filename}",
            "channels": [c for c in uploaded.shared_to if c.startswith("C")],
            "groups": [c for c in uploaded.shared_to if c.startswith("G")],
            "ims": [c for c in uploaded.shared_to if c.startswith("D")],
            "alt_txt": uploaded.alt_txt,
        }
