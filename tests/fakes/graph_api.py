"""A local fake of Meta's Graph API (Facebook Pages and Instagram) for tests and benchmarks.

The behaviour follows ``/work/shared/docs/meta-graph-api.md``. The fake is an ``aiohttp.web``
server on 127.0.0.1 (ephemeral port by default) holding pages, posts, comments, Instagram
accounts, media and Instagram comments in memory.

Usage::

    fake = FakeGraphAPI()
    fake.add_page("111", "Kommunen", token="PAGE_TOKEN")
    post_id = fake.add_post("111", "Symjehallen stengjer", created_time="2025-01-01T10:00:00+0000")
    fake.add_comment(post_id, "Når opnar han att?", from_id="501", from_name="Kari Nordmann")
    base_url = await fake.start()            # or fake.start_in_thread() from synchronous code
    ...                                      # GET {base_url}/v25.0/111/published_posts?...
    await fake.stop()                        # or fake.stop_thread()

Choices made where Meta's behaviour is ambiguous or unverified (all deliberate, keep them in
mind when a test disagrees with production):

* Page post edges (``published_posts``, ``posts``, ``feed``) are ordered newest first by
  ``updated_time`` (Meta bumps a post's ``updated_time`` when someone comments on it), ties
  broken by creation order. ``since`` matches a post when it was created at/after ``since`` *or*
  has any comment at/after ``since`` (its ``updated_time``); ``until`` filters on
  ``created_time``. Both bounds are inclusive, so a client that stores "newest created_time seen"
  sees that item again and must dedupe. ``FakeGraphAPI(post_order="created_time")`` orders by
  creation time instead.
* Paging uses opaque cursors (URL-safe base64 of the item's sort key), so inserting or deleting
  items between two page requests neither skips nor repeats unrelated items. With
  ``post_paging="time"`` the post edges page by time the way feeds may do (``until`` plus
  ``__paging_token`` in ``next``; no ``cursors``).
* ``limit`` defaults to 25 and is silently capped at 100; Instagram comment and reply edges
  default to and are capped at 50 whatever ``limit`` says. Empty nested connections are left out
  of the parent object (as Graph does) unless a summary was requested.
* Facebook comment edges: ``filter=toplevel`` (default) gives direct children, ``filter=stream``
  every descendant; ``order`` defaults to ``chronological``. The ``filter(stream)`` modifier in a
  nested field path is supported (it is unverified for the real API).
* Instagram ``GET /{media-id}/comments`` is newest first and top-level only and ignores
  ``since``/``until`` (the real edge documents neither). ``/replies`` is oldest first
  (unverified).
* ``from`` on Facebook comments is only shown to Page/Instagram tokens (not to tokens added with
  ``add_token(kind="user")``) and never for comments seeded with ``omit_from=True``.
* Responses are JSON with non-ASCII characters escaped and ``/`` written as ``\\/``, like Graph.
* Every object always carries ``id`` even when not requested; fields whose value is null are left
  out.
* Error bodies always contain ``error_subcode`` (null when there is none) and ``is_transient``.
  Messages for codes 1, 2 and 190 follow Meta's wording (no ``(#code)`` prefix); other codes use
  ``(#code) ...``. A few write-side error messages (hiding a Page's own comment, replying to an
  Instagram reply) are approximations; their codes are what clients should rely on.
* ``call_count`` and ``requests`` count HTTP requests made to the server; operations inside a
  batch are recorded in ``requests`` too (``in_batch=True``) and counted in ``batch_op_count``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

__all__ = [
    "DEFAULT_VERSION",
    "FakeGraphAPI",
    "FbComment",
    "FbPage",
    "FbPost",
    "FieldSpec",
    "FieldsSyntaxError",
    "GraphError",
    "IgComment",
    "IgMedia",
    "IgUser",
    "RecordedRequest",
    "TokenInfo",
    "feed_change_payload",
    "format_fields",
    "format_graph_time",
    "instagram_comment_payload",
    "parse_fields",
    "parse_time",
    "sign",
    "webhook_body",
]

DEFAULT_VERSION: Final = "v25.0"
DEFAULT_LIMIT: Final = 25
MAX_LIMIT: Final = 100
IG_COMMENTS_MAX: Final = 50
MAX_BATCH_SIZE: Final = 50
PRIVATE_REPLY_WINDOW_S: Final = 7 * 86400
GRAPH_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S+0000"

RATE_LIMIT_CODES: Final = frozenset({4, 17, 32, 613, 80001, 80002})
#: Rate limits reported in ``X-App-Usage``; the others go to ``X-Business-Use-Case-Usage``.
APP_LEVEL_RATE_CODES: Final = frozenset({4, 17})
TRANSIENT_CODES: Final = frozenset({1, 2}) | RATE_LIMIT_CODES

_DEFAULT_ERROR_MESSAGES: Final[dict[int, str]] = {
    1: "An unknown error has occurred.",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    104: "An access token is required to request this resource.",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    368: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: (
        "(#80001) There have been too many calls to this Page account. Wait a bit and try again. "
        "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
    ),
    80002: (
        "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. "
        "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
    ),
}

_TOKEN_SUBCODE_MESSAGES: Final[dict[int, str]] = {
    458: "Error validating access token: The user has not authorized application 1234567890.",
    459: "Error validating access token: The user is enrolled in a blocking, logged-in checkpoint.",
    460: (
        "Error validating access token: The session has been invalidated because the user changed "
        "their password or Facebook has changed the session for security reasons."
    ),
    463: "Error validating access token: Session has expired on {expired}. The current time is {now}.",
    464: "Error validating access token: Sessions for the user are not allowed.",
    467: "Error validating access token: The session is invalid because the user logged out.",
    492: "Error validating access token: The user does not have a role on this Page.",
}


def default_http_status(code: int) -> int:
    """The HTTP status Graph answers with for an error ``code``."""
    if code == 1:
        return 500
    if code == 2:
        return 503
    if code == 10 or 200 <= code <= 299:
        return 403
    return 400


def default_error_message(code: int) -> str:
    return _DEFAULT_ERROR_MESSAGES.get(code, f"(#{code}) Error injected by FakeGraphAPI")


def _fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(17)[:22]


class GraphError(Exception):
    """An error answered in Graph's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        subcode: int | None = None,
        http_status: int | None = None,
        error_type: str = "OAuthException",
        estimated_time_to_regain_access: int = 0,
    ) -> None:
        self.code = code
        self.message = message if message is not None else default_error_message(code)
        self.subcode = subcode
        self.http_status = http_status if http_status is not None else default_http_status(code)
        self.error_type = error_type
        self.estimated_time_to_regain_access = estimated_time_to_regain_access
        super().__init__(self.message)

    def to_body(self, fbtrace_id: str | None = None) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "code": self.code,
                "error_subcode": self.subcode,
                "is_transient": self.code in TRANSIENT_CODES,
                "fbtrace_id": fbtrace_id or _fbtrace_id(),
            }
        }


def _unsupported(method: str, object_id: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        error_type="GraphMethodException",
    )


def _unknown_path(component: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: /{component}")


def _nonexisting_field(name: str, node_type: str) -> GraphError:
    return GraphError(100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})")


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------

_TIME_FORMATS: Final = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)


def format_graph_time(ts: int | float) -> str:
    """Unix seconds -> ``"2021-04-30T01:37:07+0000"``."""
    return time.strftime(GRAPH_TIME_FORMAT, time.gmtime(int(ts)))


def parse_time(value: str, now: float | None = None) -> int:
    """Parse Unix seconds, an ISO-8601-like string or ``now``/``today``/``yesterday``.

    Raises ``ValueError`` for anything else. A ``+`` sent unencoded in a query string arrives as
    a space and is accepted (``2021-04-30T01:37:07 0000``).
    """
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text))
    current = time.time() if now is None else now
    lowered = text.lower()
    if lowered == "now":
        return int(current)
    day_offsets = {"today": 0, "yesterday": -86400, "tomorrow": 86400}
    if lowered in day_offsets:
        midnight = int(current) - int(current) % 86400
        return midnight + day_offsets[lowered]
    if "T" in text:
        text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp())
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


TimeLike = int | float | str | datetime | None


def _to_unix(value: TimeLike, now: float) -> int:
    if value is None:
        return int(now)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    if isinstance(value, int | float):
        return int(value)
    return parse_time(value, now)


# --------------------------------------------------------------------------------------------
# The ``fields`` syntax
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One entry of a ``fields=`` list: ``name.mod(arg).mod2(arg){subfields}``."""

    name: str
    modifiers: tuple[tuple[str, str], ...] = ()
    subfields: tuple[FieldSpec, ...] | None = None

    def modifier(self, key: str) -> str | None:
        for name, value in self.modifiers:
            if name == key:
                return value
        return None

    @property
    def alias(self) -> str:
        """The key in the answer: the ``.as(alias)`` modifier, else the name."""
        return self.modifier("as") or self.name


class FieldsSyntaxError(ValueError):
    def __init__(self, expected: str, text: str, position: int) -> None:
        found = text[position] if position < len(text) else "end of string"
        super().__init__(
            f'Syntax error "Expected {expected} instead of "{found}"." at character {position}: {text}'
        )
        self.position = position


class _FieldsParser:
    _NAME = re.compile(r"[A-Za-z0-9_]+")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> list[FieldSpec]:
        specs = self._parse_list()
        self._skip_ws()
        if self.pos != len(self.text):
            raise FieldsSyntaxError("end of string", self.text, self.pos)
        return specs

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _expect(self, char: str) -> None:
        self._skip_ws()
        if self._peek() != char:
            raise FieldsSyntaxError(f'"{char}"', self.text, self.pos)
        self.pos += 1

    def _name(self) -> str:
        self._skip_ws()
        match = self._NAME.match(self.text, self.pos)
        if match is None:
            raise FieldsSyntaxError("a field name", self.text, self.pos)
        self.pos = match.end()
        return match.group(0)

    def _parse_list(self) -> list[FieldSpec]:
        specs = [self._parse_field()]
        while True:
            self._skip_ws()
            if self._peek() != ",":
                return specs
            self.pos += 1
            specs.append(self._parse_field())

    def _parse_field(self) -> FieldSpec:
        name = self._name()
        modifiers: list[tuple[str, str]] = []
        subfields: list[FieldSpec] | None = None
        while True:
            self._skip_ws()
            char = self._peek()
            if char == ".":
                self.pos += 1
                modifier = self._name()
                self._expect("(")
                modifiers.append((modifier, self._argument()))
            elif char == "{" and subfields is None:
                self.pos += 1
                subfields = self._parse_list()
                self._expect("}")
            else:
                break
        return FieldSpec(name, tuple(modifiers), tuple(subfields) if subfields is not None else None)

    def _argument(self) -> str:
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    value = self.text[start : self.pos].strip()
                    self.pos += 1
                    return value
                depth -= 1
            self.pos += 1
        raise FieldsSyntaxError('")"', self.text, self.pos)


def parse_fields(text: str) -> list[FieldSpec]:
    """Parse Graph's ``fields`` syntax, e.g. ``id,comments.limit(5).filter(stream){id,from{id}}``.

    Raises ``FieldsSyntaxError`` (a ``ValueError``) on malformed input.
    """
    return _FieldsParser(text).parse()


def format_fields(specs: Iterable[FieldSpec]) -> str:
    """The inverse of :func:`parse_fields` (normalised: no whitespace)."""
    parts = []
    for spec in specs:
        text = spec.name + "".join(f".{name}({value})" for name, value in spec.modifiers)
        if spec.subfields is not None:
            text += "{" + format_fields(spec.subfields) + "}"
        parts.append(text)
    return ",".join(parts)


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------

TokenKind = Literal["page", "instagram", "user"]


@dataclass
class TokenInfo:
    token: str
    kind: TokenKind
    #: Objects owned by these ids may be accessed; ``None`` means every object.
    owner_ids: set[str] | None
    #: The id reported in ``X-Business-Use-Case-Usage`` for requests made with this token.
    primary_id: str | None = None
    expired_subcode: int | None = None
    expired_at: int | None = None


@dataclass
class FbPage:
    id: str
    name: str
    token: str | None
    ig_user_id: str | None = None
    subscribed_fields: list[str] = field(default_factory=list)

    @property
    def owner_id(self) -> str:
        return self.id


@dataclass
class FbPost:
    id: str
    page_id: str
    message: str | None
    created_time: int
    updated_time: int
    seq: int
    from_id: str
    from_name: str
    deleted: bool = False

    @property
    def owner_id(self) -> str:
        return self.page_id


@dataclass
class FbComment:
    id: str
    post_id: str
    page_id: str
    parent_id: str | None
    message: str
    from_id: str | None
    from_name: str | None
    created_time: int
    seq: int
    is_hidden: bool = False
    omit_from: bool = False
    like_count: int = 0
    attachment: dict[str, Any] | None = None
    message_tags: list[dict[str, Any]] | None = None
    edited: bool = False
    deleted: bool = False
    private_reply_sent: bool = False

    @property
    def owner_id(self) -> str:
        return self.page_id


@dataclass
class IgUser:
    id: str
    username: str
    name: str
    token: str | None
    page_id: str | None = None

    @property
    def owner_id(self) -> str:
        return self.id


@dataclass
class IgMedia:
    id: str
    ig_user_id: str
    caption: str | None
    timestamp: int
    seq: int
    media_type: str = "IMAGE"
    media_product_type: str = "FEED"
    like_count: int = 0
    deleted: bool = False

    @property
    def owner_id(self) -> str:
        return self.ig_user_id


@dataclass
class IgComment:
    id: str
    media_id: str
    ig_user_id: str
    parent_id: str | None
    text: str
    from_id: str | None
    from_username: str | None
    timestamp: int
    seq: int
    hidden: bool = False
    omit_from: bool = False
    like_count: int = 0
    edited: bool = False
    deleted: bool = False

    @property
    def owner_id(self) -> str:
        return self.ig_user_id


Node = FbPage | FbPost | FbComment | IgUser | IgMedia | IgComment

_NODE_TYPE_NAMES: Final[dict[type, str]] = {
    FbPage: "Page",
    FbPost: "PagePost",
    FbComment: "Comment",
    IgUser: "IGUser",
    IgMedia: "IGMedia",
    IgComment: "IGComment",
}

_DEFAULT_FIELDS: Final[dict[type, tuple[FieldSpec, ...]]] = {
    FbPage: tuple(parse_fields("name,id")),
    FbPost: tuple(parse_fields("created_time,message,id")),
    FbComment: tuple(parse_fields("created_time,from,message,id")),
    IgUser: tuple(parse_fields("id")),
    IgMedia: tuple(parse_fields("id")),
    IgComment: tuple(parse_fields("timestamp,text,id")),
}

#: Connections that can be read as ``/{id}/{edge}`` and expanded inside ``fields``.
_EDGES: Final[dict[type, frozenset[str]]] = {
    FbPage: frozenset({"published_posts", "posts", "feed"}),
    FbPost: frozenset({"comments"}),
    FbComment: frozenset({"comments"}),
    IgUser: frozenset({"media"}),
    IgMedia: frozenset({"comments"}),
    IgComment: frozenset({"replies"}),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    in_batch: bool = False
    time: float = 0.0

    @property
    def params(self) -> dict[str, str]:
        """Query and body parameters together (the body wins)."""
        return {**self.query, **self.form}

    @property
    def access_token(self) -> str | None:
        token = self.params.get("access_token")
        if token:
            return token
        return _bearer_token(self.headers.get("authorization"))


@dataclass
class _FailureRule:
    remaining: int
    code: int
    subcode: int | None
    http_status: int | None
    message: str | None
    path_contains: str | None
    method: str | None
    error_type: str
    eta: int

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass
class _NullRule:
    remaining: int
    path_contains: str | None


@dataclass
class _Throttle:
    limit: int
    business_id: str | None
    code: int
    eta: int
    recover_after_s: float | None
    extend_lockout_on_call: bool
    used: int = 0
    tripped_at: float | None = None


@dataclass
class _Ctx:
    base_url: str
    version: str
    token: str
    info: TokenInfo

    @property
    def sees_from(self) -> bool:
        return self.info.kind != "user"


@dataclass
class _Listing:
    items: list[Any]
    key: Callable[[Any], tuple[int, int]]
    descending: bool
    limit: int
    summary: dict[str, Any] | None = None
    time_paging: bool = False


@dataclass
class _Result:
    status: int
    body: Any
    headers: dict[str, str]


_ABSENT: Final[Any] = object()
_START_CURSOR: Final = "^"
_PAGING_PARAMS: Final = frozenset({"after", "before", "__paging_token", "__previous", "access_token"})
_CONTROL_METHODS: Final = frozenset(
    {
        "add_page",
        "add_post",
        "add_comment",
        "add_ig_user",
        "add_media",
        "add_ig_comment",
        "add_ig_reply",
        "add_token",
        "edit_comment",
        "delete_comment",
        "hide_comment",
        "expire_token",
        "restore_token",
        "fail_next",
        "clear_failures",
        "null_next_batch_ops",
        "set_usage",
        "throttle_after",
        "clear_throttle",
        "set_latency",
        "load_seed",
        "reset_requests",
        "webhook_payload_for",
        "snapshot",
    }
)


def _bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return None


def _encode_json(value: Any) -> bytes:
    """Graph's JSON: non-ASCII escaped as ``\\uXXXX`` and ``/`` as ``\\/``."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise GraphError(100, f"(#100) Param {name} must be a boolean")


def _truthy_summary(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "false", "0")


def _json_param(value: str | None, name: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        raise GraphError(100, f"(#100) Param {name} must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise GraphError(100, f"(#100) Param {name} must be a JSON object")
    return parsed


def _encode_cursor(key: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int] | None:
    """The sort key a cursor stands for; ``None`` for the start-of-list cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw == _START_CURSOR:
            return None
        first, second = raw.split(":")
        return int(first), int(second)
    except (ValueError, UnicodeDecodeError):
        raise GraphError(100, "(#100) The cursor specified is invalid") from None


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeGraphAPI:
    """An in-memory Graph API served over HTTP. See the module docstring for its behaviour.

    Quirk switches (plain attributes, off by default):

    * ``empty_first_page``: the first page of every listing is empty but has ``next``.
    * ``ignore_after_cursor``: ``after`` is ignored, so every page repeats the first one and
      ``next`` never goes away (the "same 25 ids on every page" pitfall).
    * ``max_after_offset``: paging past this many items fails with
      ``(#100) The After Cursor specified exceeds the max limit``.
    """

    def __init__(
        self,
        version: str = DEFAULT_VERSION,
        *,
        latency_s: float = 0.0,
        clock: Callable[[], float] | None = None,
        post_order: Literal["updated_time", "created_time"] = "updated_time",
        post_paging: Literal["cursor", "time"] = "cursor",
    ) -> None:
        self.version = version
        self.latency_s = latency_s
        self.clock: Callable[[], float] = clock or time.time
        self.post_order = post_order
        self.post_paging = post_paging
        self.empty_first_page = False
        self.ignore_after_cursor = False
        self.max_after_offset: int | None = None

        self.pages: dict[str, FbPage] = {}
        self.posts: dict[str, FbPost] = {}
        self.comments: dict[str, FbComment] = {}
        self.ig_users: dict[str, IgUser] = {}
        self.media: dict[str, IgMedia] = {}
        self.ig_comments: dict[str, IgComment] = {}
        self.tokens: dict[str, TokenInfo] = {}
        #: Private replies sent through ``POST /{page-id}/messages``.
        self.private_replies: list[dict[str, Any]] = []

        self.requests: list[RecordedRequest] = []
        self.call_count = 0
        self.batch_op_count = 0
        self.base_url: str | None = None

        self._lock = threading.RLock()
        self._seq = 0
        self._next_fb_number = 122_000_000_000_000_001
        self._next_ig_number = 17_900_000_000_000_001
        self._page_posts: dict[str, list[str]] = {}
        self._post_comments: dict[str, list[str]] = {}
        self._user_media: dict[str, list[str]] = {}
        self._media_comments: dict[str, list[str]] = {}
        #: Direct replies of each (Facebook or Instagram) comment, in insertion order.
        self._children: dict[str, list[str]] = {}
        self._failures: list[_FailureRule] = []
        self._batch_nulls: list[_NullRule] = []
        self._throttle: _Throttle | None = None
        self._app_usage: dict[str, int] = {"call_count": 0, "total_time": 0, "total_cputime": 0}
        self._buc_usage: dict[str, dict[str, Any]] = {}

        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = ephemeral) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("FakeGraphAPI is already running")
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> str:
        """Serve from a daemon thread with its own event loop (for synchronous callers)."""
        if self._thread is not None:
            raise RuntimeError("FakeGraphAPI is already running in a thread")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="FakeGraphAPI", daemon=True)
        thread.start()
        self._thread, self._thread_loop = thread, loop
        try:
            return asyncio.run_coroutine_threadsafe(self.start(host, port), loop).result(timeout)
        except BaseException:
            self.stop_thread()
            raise

    def stop_thread(self, timeout: float = 10.0) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()
            self._thread = self._thread_loop = None

    async def __aenter__(self) -> FakeGraphAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> FakeGraphAPI:
        self.start_in_thread()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_thread()

    def url(self, path: str, **params: Any) -> str:
        """``{base_url}/{version}/{path}?params`` for tests."""
        if self.base_url is None:
            raise RuntimeError("FakeGraphAPI is not running")
        query = urlencode({k: _stringify(v) for k, v in params.items()})
        return f"{self.base_url}/{self.version}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    # ---------------------------------------------------------------- seeding

    def now(self) -> int:
        return int(self.clock())

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_fb_number(self) -> str:
        self._next_fb_number += 1
        return str(self._next_fb_number)

    def _new_ig_id(self) -> str:
        self._next_ig_number += 1
        return str(self._next_ig_number)

    def _check_new_id(self, object_id: str) -> None:
        if self._find_node(object_id, include_deleted=True) is not None or object_id in self.tokens:
            raise ValueError(f"id {object_id!r} is already used")

    def add_token(
        self, token: str, *, kind: TokenKind = "user", owner_ids: Iterable[str] | None = None
    ) -> None:
        """Register a token. ``owner_ids=None`` lets it read every object (like an admin's user
        token); ``kind="user"`` tokens do not see ``from`` on Facebook comments."""
        with self._lock:
            owners = set(owner_ids) if owner_ids is not None else None
            primary = next(iter(owners)) if owners and len(owners) == 1 else None
            self.tokens[token] = TokenInfo(token, kind, owners, primary)

    def _grant(self, token: str, kind: TokenKind, owner_id: str) -> None:
        info = self.tokens.get(token)
        if info is None:
            self.tokens[token] = TokenInfo(token, kind, {owner_id}, owner_id)
        elif info.owner_ids is not None:
            info.owner_ids.add(owner_id)

    def add_page(self, page_id: str, name: str, token: str | None = None) -> FbPage:
        with self._lock:
            self._check_new_id(page_id)
            page = FbPage(page_id, name, token)
            self.pages[page_id] = page
            self._page_posts[page_id] = []
            if token is not None:
                self._grant(token, "page", page_id)
            return page

    def add_post(
        self,
        page_id: str,
        message: str | None,
        created_time: TimeLike = None,
        *,
        from_id: str | None = None,
        from_name: str | None = None,
        post_id: str | None = None,
    ) -> str:
        """Add a post; ``from_id`` other than the page makes it a visitor post (only in ``/feed``)."""
        with self._lock:
            page = self.pages[page_id]
            if post_id is None:
                post_id = f"{page_id}_{self._new_fb_number()}"
            else:
                self._check_new_id(post_id)
            created = _to_unix(created_time, self.clock())
            self.posts[post_id] = FbPost(
                id=post_id,
                page_id=page_id,
                message=message,
                created_time=created,
                updated_time=created,
                seq=self._next_seq(),
                from_id=from_id or page.id,
                from_name=from_name or (page.name if from_id in (None, page.id) else "Visitor"),
            )
            self._page_posts[page_id].append(post_id)
            self._post_comments[post_id] = []
            return post_id

    def add_comment(
        self,
        object_id: str,
        message: str,
        from_id: str | None = "5550001",
        from_name: str | None = "Kari Nordmann",
        created_time: TimeLike = None,
        parent_id: str | None = None,
        omit_from: bool = False,
        *,
        is_hidden: bool = False,
        like_count: int = 0,
        attachment: dict[str, Any] | None = None,
        message_tags: list[dict[str, Any]] | None = None,
        comment_id: str | None = None,
    ) -> str:
        """Add a Facebook comment on a post, or a reply (``object_id`` a comment id, or
        ``parent_id`` given). ``omit_from=True`` simulates a comment whose ``from`` Graph leaves out."""
        with self._lock:
            if object_id in self.comments:
                parent_id = parent_id or object_id
                post_id = self.comments[object_id].post_id
            else:
                post_id = object_id
            post = self.posts[post_id]
            if parent_id is not None:
                parent = self.comments[parent_id]
                if parent.post_id != post_id:
                    raise ValueError(f"comment {parent_id} is not on {post_id}")
            if comment_id is None:
                comment_id = f"{post_id.split('_', 1)[-1]}_{self._new_fb_number()}"
            else:
                self._check_new_id(comment_id)
            created = _to_unix(created_time, self.clock())
            self.comments[comment_id] = FbComment(
                id=comment_id,
                post_id=post_id,
                page_id=post.page_id,
                parent_id=parent_id,
                message=message,
                from_id=from_id,
                from_name=from_name,
                created_time=created,
                seq=self._next_seq(),
                is_hidden=is_hidden,
                omit_from=omit_from,
                like_count=like_count,
                attachment=attachment,
                message_tags=message_tags,
            )
            self._post_comments[post_id].append(comment_id)
            if parent_id is not None:
                self._children.setdefault(parent_id, []).append(comment_id)
            post.updated_time = max(post.updated_time, created)
            return comment_id

    def add_ig_user(
        self,
        ig_user_id: str,
        username: str,
        token: str | None = None,
        *,
        page_id: str | None = None,
        name: str | None = None,
    ) -> IgUser:
        """Add an Instagram professional account. With ``page_id`` it is linked to that Page and
        the Page's token may read it (Facebook Login); ``token`` is its own token."""
        with self._lock:
            self._check_new_id(ig_user_id)
            user = IgUser(ig_user_id, username, name or username, token, page_id)
            self.ig_users[ig_user_id] = user
            self._user_media[ig_user_id] = []
            if page_id is not None:
                self.pages[page_id].ig_user_id = ig_user_id
            if token is not None:
                self._grant(token, "instagram", ig_user_id)
            return user

    def add_media(
        self,
        ig_user_id: str,
        caption: str | None,
        timestamp: TimeLike = None,
        *,
        media_type: str = "IMAGE",
        media_product_type: str = "FEED",
        media_id: str | None = None,
    ) -> str:
        with self._lock:
            if ig_user_id not in self.ig_users:
                raise KeyError(ig_user_id)
            if media_id is None:
                media_id = self._new_ig_id()
            else:
                self._check_new_id(media_id)
            self.media[media_id] = IgMedia(
                id=media_id,
                ig_user_id=ig_user_id,
                caption=caption,
                timestamp=_to_unix(timestamp, self.clock()),
                seq=self._next_seq(),
                media_type=media_type,
                media_product_type=media_product_type,
            )
            self._user_media[ig_user_id].append(media_id)
            self._media_comments[media_id] = []
            return media_id

    def add_ig_comment(
        self,
        media_id: str,
        text: str,
        from_id: str | None = "17841400000000501",
        username: str | None = "kari.nordmann",
        timestamp: TimeLike = None,
        parent_id: str | None = None,
        omit_from: bool = False,
        *,
        hidden: bool = False,
        like_count: int = 0,
        comment_id: str | None = None,
    ) -> str:
        """Add an Instagram comment on a media object, or a reply to a top-level comment."""
        with self._lock:
            media = self.media[media_id]
            if parent_id is not None:
                parent = self.ig_comments[parent_id]
                if parent.media_id != media_id:
                    raise ValueError(f"comment {parent_id} is not on {media_id}")
                if parent.parent_id is not None:
                    raise ValueError("Instagram replies can only be made to top-level comments")
            if comment_id is None:
                comment_id = self._new_ig_id()
            else:
                self._check_new_id(comment_id)
            self.ig_comments[comment_id] = IgComment(
                id=comment_id,
                media_id=media_id,
                ig_user_id=media.ig_user_id,
                parent_id=parent_id,
                text=text,
                from_id=from_id,
                from_username=username,
                timestamp=_to_unix(timestamp, self.clock()),
                seq=self._next_seq(),
                hidden=hidden,
                omit_from=omit_from,
                like_count=like_count,
            )
            self._media_comments[media_id].append(comment_id)
            if parent_id is not None:
                self._children.setdefault(parent_id, []).append(comment_id)
            return comment_id

    def add_ig_reply(self, comment_id: str, text: str, **kwargs: Any) -> str:
        """Add a reply to the top-level Instagram comment ``comment_id``."""
        with self._lock:
            media_id = self.ig_comments[comment_id].media_id
            return self.add_ig_comment(media_id, text, parent_id=comment_id, **kwargs)

    def edit_comment(self, comment_id: str, message: str) -> None:
        """Change a comment's text as its author would (Facebook or Instagram)."""
        with self._lock:
            if comment_id in self.comments:
                comment = self.comments[comment_id]
                comment.message, comment.edited = message, True
            else:
                ig_comment = self.ig_comments[comment_id]
                ig_comment.text, ig_comment.edited = message, True

    def delete_comment(self, comment_id: str) -> None:
        """Delete a comment and its replies (Facebook or Instagram)."""
        with self._lock:
            if comment_id in self.comments:
                self._delete_fb_comment(self.comments[comment_id])
            else:
                self._delete_ig_comment(self.ig_comments[comment_id])

    def hide_comment(self, comment_id: str, hidden: bool = True) -> None:
        with self._lock:
            if comment_id in self.comments:
                self.comments[comment_id].is_hidden = hidden
            else:
                self.ig_comments[comment_id].hidden = hidden

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        """Load a JSON-style seed::

        {"pages": [{"id", "name", "token", "posts": [{"message", "created_time", "id"?,
            "comments": [{"message", "from": {"id", "name"}, "created_time", "hidden"?,
                          "omit_from"?, "id"?, "replies": [...]}]}]}],
         "ig_users": [{"id", "username", "token"?, "page_id"?, "media": [{"caption",
            "timestamp", "id"?, "comments": [{"text", "from": {"id", "username"},
            "timestamp", "hidden"?, "id"?, "replies": [...]}]}]}],
         "tokens": [{"token", "kind"?, "owner_ids"?}]}
        """
        with self._lock:
            for token in seed.get("tokens", []):
                self.add_token(
                    token["token"], kind=token.get("kind", "user"), owner_ids=token.get("owner_ids")
                )
            for page in seed.get("pages", []):
                self.add_page(str(page["id"]), page.get("name", str(page["id"])), page.get("token"))
                for post in page.get("posts", []):
                    post_id = self.add_post(
                        str(page["id"]), post.get("message"), post.get("created_time"), post_id=post.get("id")
                    )
                    self._seed_fb_comments(post_id, post.get("comments", []))
            for user in seed.get("ig_users", []):
                self.add_ig_user(
                    str(user["id"]),
                    user["username"],
                    user.get("token"),
                    page_id=user.get("page_id"),
                    name=user.get("name"),
                )
                for media in user.get("media", []):
                    media_id = self.add_media(
                        str(user["id"]),
                        media.get("caption"),
                        media.get("timestamp"),
                        media_type=media.get("media_type", "IMAGE"),
                        media_product_type=media.get("media_product_type", "FEED"),
                        media_id=media.get("id"),
                    )
                    for comment in media.get("comments", []):
                        top = self._seed_ig_comment(media_id, comment, None)
                        for reply in comment.get("replies", []):
                            self._seed_ig_comment(media_id, reply, top)

    def _seed_fb_comments(self, object_id: str, comments: Sequence[Mapping[str, Any]]) -> None:
        for comment in comments:
            author = comment.get("from") or {}
            comment_id = self.add_comment(
                object_id,
                comment.get("message", ""),
                from_id=author.get("id", "5550001"),
                from_name=author.get("name", "Kari Nordmann"),
                created_time=comment.get("created_time"),
                omit_from=comment.get("omit_from", False),
                is_hidden=comment.get("hidden", comment.get("is_hidden", False)),
                comment_id=comment.get("id"),
            )
            self._seed_fb_comments(comment_id, comment.get("replies", []))

    def _seed_ig_comment(self, media_id: str, comment: Mapping[str, Any], parent_id: str | None) -> str:
        author = comment.get("from") or {}
        return self.add_ig_comment(
            media_id,
            comment.get("text", ""),
            from_id=author.get("id", "17841400000000501"),
            username=author.get("username", "kari.nordmann"),
            timestamp=comment.get("timestamp"),
            parent_id=parent_id,
            omit_from=comment.get("omit_from", False),
            hidden=comment.get("hidden", False),
            comment_id=comment.get("id"),
        )

    def snapshot(self) -> dict[str, Any]:
        """All state as plain data (for debugging and the control endpoint)."""
        with self._lock:
            return {
                "pages": [asdict(p) for p in self.pages.values()],
                "posts": [asdict(p) for p in self.posts.values()],
                "comments": [asdict(c) for c in self.comments.values()],
                "ig_users": [asdict(u) for u in self.ig_users.values()],
                "media": [asdict(m) for m in self.media.values()],
                "ig_comments": [asdict(c) for c in self.ig_comments.values()],
                "private_replies": list(self.private_replies),
            }

    # ---------------------------------------------------------------- behaviour controls

    def expire_token(self, token: str, subcode: int = 463) -> None:
        """Make ``token`` answer OAuthException 190 with ``error_subcode=subcode``."""
        with self._lock:
            info = self.tokens[token]
            info.expired_subcode = subcode
            info.expired_at = self.now()

    def restore_token(self, token: str) -> None:
        with self._lock:
            info = self.tokens[token]
            info.expired_subcode = info.expired_at = None

    def fail_next(
        self,
        n: int = 1,
        code: int = 1,
        subcode: int | None = None,
        http_status: int | None = None,
        message: str | None = None,
        *,
        path_contains: str | None = None,
        method: str | None = None,
        error_type: str = "OAuthException",
        estimated_time_to_regain_access: int = 5,
    ) -> None:
        """Answer the next ``n`` matching requests with a Graph error. Rate-limit codes also put
        ``call_count`` 100 (and ``estimated_time_to_regain_access`` in minutes) in the usage
        header of that answer. Rules apply in the order they were added; batch operations are
        matched against their ``relative_url`` path."""
        with self._lock:
            self._failures.append(
                _FailureRule(
                    n,
                    code,
                    subcode,
                    http_status,
                    message,
                    path_contains,
                    method,
                    error_type,
                    estimated_time_to_regain_access,
                )
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._batch_nulls.clear()

    def null_next_batch_ops(self, n: int = 1, *, path_contains: str | None = None) -> None:
        """Answer ``null`` (a timed-out operation) for the next ``n`` matching batch operations."""
        with self._lock:
            self._batch_nulls.append(_NullRule(n, path_contains))

    def set_latency(self, latency_s: float) -> None:
        self.latency_s = latency_s

    def set_usage(
        self,
        call_count: int | None = None,
        *,
        page_id: str | None = None,
        total_time: int | None = None,
        total_cputime: int | None = None,
        estimated_time_to_regain_access: int | None = None,
    ) -> None:
        """Set what the usage headers report: ``X-App-Usage`` without ``page_id``, else the
        ``X-Business-Use-Case-Usage`` entry of that Page (or Instagram account). Percentages."""
        with self._lock:
            if page_id is None:
                target: dict[str, Any] = self._app_usage
            else:
                target = self._buc_usage.setdefault(page_id, self._default_buc_entry(page_id))
                if estimated_time_to_regain_access is not None:
                    target["estimated_time_to_regain_access"] = estimated_time_to_regain_access
            for key, value in (
                ("call_count", call_count),
                ("total_time", total_time),
                ("total_cputime", total_cputime),
            ):
                if value is not None:
                    target[key] = value

    def throttle_after(
        self,
        calls: int,
        *,
        page_id: str | None = None,
        code: int | None = None,
        estimated_time_to_regain_access: int = 5,
        recover_after_s: float | None = None,
        extend_lockout_on_call: bool = False,
    ) -> None:
        """Simulate a rate-limit budget of ``calls`` requests: the usage header climbs to 100 %,
        then every further request (for ``page_id``'s business id, or all requests without it)
        fails with ``code`` (default 4 app-wide, 80001 for a Page, 80002 for Instagram).
        ``recover_after_s`` lifts the lockout that many seconds after it began;
        ``extend_lockout_on_call`` restarts that wait on every call made while limited."""
        with self._lock:
            if code is None:
                code = 4 if page_id is None else (80002 if page_id in self.ig_users else 80001)
            self._throttle = _Throttle(
                calls, page_id, code, estimated_time_to_regain_access, recover_after_s, extend_lockout_on_call
            )
            self._write_usage(page_id, 0, 0)

    def clear_throttle(self) -> None:
        with self._lock:
            throttle, self._throttle = self._throttle, None
            if throttle is not None:
                self._write_usage(throttle.business_id, 0, 0)

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.call_count = 0
            self.batch_op_count = 0

    def requests_to(self, path_contains: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path contains ``path_contains``."""
        with self._lock:
            return [
                r
                for r in self.requests
                if path_contains in r.path and (method is None or r.method == method.upper())
            ]

    # ---------------------------------------------------------------- webhooks from state

    def webhook_payload_for(self, comment_id: str, verb: str = "add") -> dict[str, Any]:
        """The webhook body Meta would send for a stored comment (Facebook ``feed`` change with
        ``verb``, or Instagram ``comments`` change)."""
        with self._lock:
            if comment_id in self.comments:
                comment = self.comments[comment_id]
                return feed_change_payload(
                    comment.page_id,
                    comment.post_id,
                    comment.id,
                    message=None if verb == "remove" else comment.message,
                    from_id=None if comment.omit_from else comment.from_id,
                    from_name=comment.from_name,
                    parent_id=comment.parent_id,
                    verb=verb,
                    created_time=comment.created_time,
                    permalink_url=self._post_permalink(self.posts[comment.post_id]),
                )
            ig_comment = self.ig_comments[comment_id]
            media = self.media[ig_comment.media_id]
            return instagram_comment_payload(
                ig_comment.ig_user_id,
                ig_comment.id,
                ig_comment.text,
                media.id,
                from_id=None if ig_comment.omit_from else ig_comment.from_id,
                from_username=ig_comment.from_username,
                parent_id=ig_comment.parent_id,
                media_product_type=media.media_product_type,
                entry_time=ig_comment.timestamp,
            )

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/__fake__/"):
            return await self._control(request)
        query = {key: request.query[key] for key in request.query}
        form = await _read_body(request)
        headers = {key.lower(): value for key, value in request.headers.items()}
        with self._lock:
            self.call_count += 1
            self.requests.append(
                RecordedRequest(request.method, request.path, query, form, headers, False, self.clock())
            )
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        base_url = f"{request.scheme}://{request.host}"
        with self._lock:
            result = self._dispatch(
                request.method,
                request.path,
                {**query, **form},
                _bearer_token(headers.get("authorization")),
                base_url,
            )
        version, _ = self._split_path(request.path)
        response_headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "facebook-api-version": version,
            "x-fb-trace-id": _fbtrace_id()[:11],
            "x-fb-request-id": _fbtrace_id(),
            "Cache-Control": "private, no-cache, no-store, must-revalidate",
            **result.headers,
        }
        return web.Response(status=result.status, body=_encode_json(result.body), headers=response_headers)

    async def _control(self, request: web.Request) -> web.StreamResponse:
        """Unrecorded test-control endpoints for out-of-process users of the fake.

        ``GET /__fake__/requests``, ``GET /__fake__/state`` and
        ``POST /__fake__/call`` with ``{"method": name, "args": [...], "kwargs": {...}}``.
        """
        action = request.path.removeprefix("/__fake__/")
        if action == "requests" and request.method == "GET":
            with self._lock:
                return web.json_response([asdict(r) for r in self.requests])
        if action == "state" and request.method == "GET":
            return web.json_response(self.snapshot())
        if action == "call" and request.method == "POST":
            payload = await request.json()
            name = payload.get("method")
            if name not in _CONTROL_METHODS:
                return web.json_response({"error": f"unknown control method {name!r}"}, status=400)
            try:
                with self._lock:
                    result = getattr(self, name)(*payload.get("args", []), **payload.get("kwargs", {}))
            except (KeyError, ValueError, TypeError) as exc:
                return web.json_response({"error": repr(exc)}, status=400)
            if isinstance(result, FbPage | IgUser):
                result = asdict(result)
            return web.json_response({"result": result})
        return web.json_response({"error": "unknown control endpoint"}, status=404)

    # ---------------------------------------------------------------- dispatch

    def _split_path(self, path: str) -> tuple[str, list[str]]:
        parts = [part for part in path.split("/") if part]
        version = self.version
        if parts and re.fullmatch(r"v\d+\.\d+", parts[0]):
            version = parts.pop(0)
        return version, parts

    def _dispatch(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        header_token: str | None,
        base_url: str,
        *,
        in_batch: bool = False,
    ) -> _Result:
        method = method.upper()
        if method == "GET" and params.get("method"):
            method = params["method"].upper()
        version, parts = self._split_path(path)
        token = params.get("access_token") or header_token
        business_id = self._business_id(self.tokens.get(token) if token else None, parts)
        try:
            self._raise_injected_failure(method, path)
            if not parts:
                if method == "POST" and not in_batch:
                    return self._batch(params, token, base_url)
                raise GraphError(100, "(#100) The parameter batch is required")
            info = self._authenticate(token)
            self._consume_throttle(business_id)
            body = self._route(method, parts, params, _Ctx(base_url, version, token or "", info))
            return _Result(200, body, self._usage_headers(business_id))
        except GraphError as err:
            return self._error_result(err, business_id)

    def _error_result(self, err: GraphError, business_id: str | None) -> _Result:
        headers = self._usage_headers(
            business_id,
            rate_code=err.code if err.code in RATE_LIMIT_CODES else None,
            eta=err.estimated_time_to_regain_access,
        )
        kind = "invalid_token" if err.code == 190 else "invalid_request"
        safe_message = err.message.encode("ascii", "backslashreplace").decode().replace('"', "'")
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "{kind}" "{safe_message}"'
        return _Result(err.http_status, err.to_body(), headers)

    def _raise_injected_failure(self, method: str, path: str) -> None:
        self._failures = [rule for rule in self._failures if rule.remaining > 0]
        for rule in self._failures:
            if rule.matches(method, path):
                rule.remaining -= 1
                raise GraphError(
                    rule.code,
                    rule.message,
                    subcode=rule.subcode,
                    http_status=rule.http_status,
                    error_type=rule.error_type,
                    estimated_time_to_regain_access=rule.eta,
                )

    def _authenticate(self, token: str | None) -> TokenInfo:
        if not token:
            raise GraphError(104)
        info = self.tokens.get(token)
        if info is None:
            raise GraphError(190)
        if info.expired_subcode is not None:
            template = _TOKEN_SUBCODE_MESSAGES.get(
                info.expired_subcode, "Error validating access token: The access token is invalid."
            )
            stamp = "%A, %d-%b-%y %H:%M:%S UTC"
            message = template.format(
                expired=time.strftime(stamp, time.gmtime(info.expired_at or 0)),
                now=time.strftime(stamp, time.gmtime(self.now())),
            )
            raise GraphError(190, message, subcode=info.expired_subcode)
        return info

    def _route(self, method: str, parts: list[str], params: dict[str, str], ctx: _Ctx) -> Any:
        if len(parts) > 2:
            raise _unknown_path("/".join(parts[2:]))
        node_id = parts[0]
        edge = parts[1] if len(parts) == 2 else None
        node = self._resolve(node_id, ctx)
        if node is None or not self._can_access(ctx.info, node.owner_id):
            raise _unsupported(method, node_id)
        if method == "GET":
            if edge == "subscribed_apps" and isinstance(node, FbPage):
                return self._subscribed_apps(node)
            specs = self._fields_param(params.get("fields"))
            if edge is None:
                return self._render(node, specs, ctx)
            result = self._list_edge(node, edge, params, specs, ctx, nested=False)
            return result if result is not None else {"data": []}
        if method == "POST":
            return self._post(node, edge, params, ctx)
        if method == "DELETE":
            return self._delete(node, edge, params)
        raise _unsupported(method, node_id)

    def _resolve(self, node_id: str, ctx: _Ctx) -> Node | None:
        if node_id == "me":
            owners = ctx.info.owner_ids
            if ctx.info.primary_id is not None:
                return self._find_node(ctx.info.primary_id)
            if owners and len(owners) == 1:
                return self._find_node(next(iter(owners)))
            raise GraphError(
                2500, "An active access token must be used to query information about the current user."
            )
        return self._find_node(node_id)

    def _find_node(self, node_id: str, *, include_deleted: bool = False) -> Node | None:
        tables: tuple[Mapping[str, Node], ...] = (
            self.pages,
            self.posts,
            self.comments,
            self.ig_users,
            self.media,
            self.ig_comments,
        )
        for table in tables:
            node = table.get(node_id)
            if node is not None:
                if getattr(node, "deleted", False) and not include_deleted:
                    return None
                return node
        return None

    def _can_access(self, info: TokenInfo, owner_id: str) -> bool:
        if info.owner_ids is None or owner_id in info.owner_ids:
            return True
        user = self.ig_users.get(owner_id)
        return user is not None and user.page_id is not None and user.page_id in info.owner_ids

    @staticmethod
    def _fields_param(raw: str | None) -> list[FieldSpec] | None:
        if raw is None or not raw.strip():
            return None
        try:
            return parse_fields(raw)
        except FieldsSyntaxError as exc:
            raise GraphError(2500, str(exc)) from None

    def _time_param(self, params: Mapping[str, str], name: str) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return parse_time(raw, self.clock())
        except ValueError:
            raise GraphError(
                100, f"(#100) The parameter {name} must be a valid unix time or strtotime string"
            ) from None

    @staticmethod
    def _limit(params: Mapping[str, str], default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
        raw = params.get("limit")
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise GraphError(100, "(#100) Param limit must be an integer") from None
        if value < 0:
            raise GraphError(100, "(#100) Param limit must be a non-negative integer")
        return min(value, maximum)

    # ---------------------------------------------------------------- usage headers

    def _business_id(self, info: TokenInfo | None, parts: list[str]) -> str | None:
        if info is not None and info.primary_id is not None:
            return info.primary_id
        if parts:
            node = self._find_node(parts[0], include_deleted=True)
            if node is not None:
                return node.owner_id
        return None

    def _default_buc_entry(self, business_id: str) -> dict[str, Any]:
        return {
            "type": "instagram" if business_id in self.ig_users else "pages",
            "call_count": 0,
            "total_cputime": 0,
            "total_time": 0,
            "estimated_time_to_regain_access": 0,
        }

    def _buc_entry(self, business_id: str) -> dict[str, Any]:
        return dict(self._buc_usage.get(business_id) or self._default_buc_entry(business_id))

    def _write_usage(self, business_id: str | None, percent: int, eta: int) -> None:
        if business_id is None:
            self._app_usage.update(call_count=percent, total_time=percent, total_cputime=percent)
        else:
            entry = self._buc_usage.setdefault(business_id, self._default_buc_entry(business_id))
            entry.update(call_count=percent, total_time=percent, total_cputime=percent)
            entry["estimated_time_to_regain_access"] = eta

    def _usage_headers(
        self, business_id: str | None, *, rate_code: int | None = None, eta: int = 0
    ) -> dict[str, str]:
        app = dict(self._app_usage)
        if business_id is not None:
            buc = {business_id: [self._buc_entry(business_id)]}
        else:
            buc = {key: [self._buc_entry(key)] for key in self._buc_usage}
        if rate_code in APP_LEVEL_RATE_CODES:
            app["call_count"] = 100
        elif rate_code is not None:
            key = business_id or next(iter(self.pages), "0")
            entry = self._buc_entry(key)
            entry["call_count"] = 100
            entry["estimated_time_to_regain_access"] = eta
            buc[key] = [entry]
        return {"X-App-Usage": _compact(app), "X-Business-Use-Case-Usage": _compact(buc)}

    def _consume_throttle(self, business_id: str | None) -> None:
        throttle = self._throttle
        if throttle is None or (throttle.business_id is not None and throttle.business_id != business_id):
            return
        now = self.clock()
        if throttle.tripped_at is not None:
            if throttle.recover_after_s is not None and now - throttle.tripped_at >= throttle.recover_after_s:
                throttle.used, throttle.tripped_at = 0, None
                self._write_usage(throttle.business_id, 0, 0)
            else:
                if throttle.extend_lockout_on_call:
                    throttle.tripped_at = now
                raise GraphError(throttle.code, estimated_time_to_regain_access=throttle.eta)
        if throttle.used >= throttle.limit:
            throttle.tripped_at = now
            self._write_usage(throttle.business_id, 100, throttle.eta)
            raise GraphError(throttle.code, estimated_time_to_regain_access=throttle.eta)
        throttle.used += 1
        percent = min(100, throttle.used * 100 // throttle.limit) if throttle.limit else 100
        self._write_usage(throttle.business_id, percent, 0)

    # ---------------------------------------------------------------- rendering

    def _render(self, node: Node, specs: Sequence[FieldSpec] | None, ctx: _Ctx) -> dict[str, Any]:
        if specs is None:
            specs = _DEFAULT_FIELDS[type(node)]
        out: dict[str, Any] = {}
        edges = _EDGES[type(node)]
        for spec in specs:
            if spec.name in edges:
                value = self._list_edge(node, spec.name, _edge_params(spec), spec.subfields, ctx, nested=True)
                value = _ABSENT if value is None else value
            else:
                value = self._field_value(node, spec, ctx)
            if value is not _ABSENT and value is not None:
                out[spec.alias] = value
        out.setdefault("id", node.id)
        return out

    def _field_value(self, node: Node, spec: FieldSpec, ctx: _Ctx) -> Any:
        if isinstance(node, FbComment):
            return self._fb_comment_field(node, spec, ctx)
        if isinstance(node, FbPost):
            return self._fb_post_field(node, spec, ctx)
        if isinstance(node, FbPage):
            return self._fb_page_field(node, spec, ctx)
        if isinstance(node, IgComment):
            return self._ig_comment_field(node, spec, ctx)
        if isinstance(node, IgMedia):
            return self._ig_media_field(node, spec, ctx)
        return self._ig_user_field(node, spec, ctx)

    @staticmethod
    def _profile(values: dict[str, Any], spec: FieldSpec, node_type: str) -> dict[str, Any]:
        if spec.subfields is None:
            return dict(values)
        out: dict[str, Any] = {}
        for sub in spec.subfields:
            if sub.name not in values:
                raise _nonexisting_field(sub.name, node_type)
            out[sub.alias] = values[sub.name]
        out.setdefault("id", values["id"])
        return out

    def _is_page_author(self, comment: FbComment) -> bool:
        return comment.from_id == comment.page_id

    def _fb_comment_field(self, comment: FbComment, spec: FieldSpec, ctx: _Ctx) -> Any:
        match spec.name:
            case "id":
                return comment.id
            case "message":
                return comment.message
            case "created_time":
                return format_graph_time(comment.created_time)
            case "from":
                if comment.omit_from or comment.from_id is None or not ctx.sees_from:
                    return _ABSENT
                return self._profile({"name": comment.from_name or "", "id": comment.from_id}, spec, "User")
            case "parent":
                parent = self.comments.get(comment.parent_id) if comment.parent_id else None
                if parent is None or parent.deleted:
                    return _ABSENT
                return self._render(parent, spec.subfields, ctx)
            case "object":
                return self._render(self.posts[comment.post_id], spec.subfields, ctx)
            case "message_tags":
                return comment.message_tags or _ABSENT
            case "attachment":
                return comment.attachment or _ABSENT
            case "comment_count":
                return sum(1 for cid in self._children.get(comment.id, ()) if not self.comments[cid].deleted)
            case "like_count":
                return comment.like_count
            case "can_hide":
                return not self._is_page_author(comment)
            case "can_reply_privately":
                return (
                    not self._is_page_author(comment)
                    and not comment.private_reply_sent
                    and self.now() - comment.created_time <= PRIVATE_REPLY_WINDOW_S
                )
            case "can_remove" | "can_comment" | "can_like":
                return True
            case "user_likes" | "is_private":
                return False
            case "is_hidden":
                return comment.is_hidden
            case "permalink_url":
                return self._comment_permalink(comment)
            case _:
                raise _nonexisting_field(spec.name, "Comment")

    def _fb_post_field(self, post: FbPost, spec: FieldSpec, ctx: _Ctx) -> Any:
        match spec.name:
            case "id":
                return post.id
            case "message":
                return post.message if post.message is not None else _ABSENT
            case "created_time":
                return format_graph_time(post.created_time)
            case "updated_time":
                return format_graph_time(post.updated_time)
            case "permalink_url":
                return self._post_permalink(post)
            case "from":
                return self._profile({"name": post.from_name, "id": post.from_id}, spec, "User")
            case "is_published":
                return True
            case "is_hidden":
                return False
            case "status_type":
                return "mobile_status_update"
            case "story" | "full_picture" | "picture" | "attachments" | "shares" | "place" | "icon":
                return _ABSENT
            case _:
                raise _nonexisting_field(spec.name, "PagePost")

    def _fb_page_field(self, page: FbPage, spec: FieldSpec, ctx: _Ctx) -> Any:
        match spec.name:
            case "id":
                return page.id
            case "name":
                return page.name
            case "link":
                return f"https://www.facebook.com/{page.id}"
            case "category":
                return "Government organization"
            case "access_token":
                return page.token if page.token is not None else _ABSENT
            case "instagram_business_account":
                user = self.ig_users.get(page.ig_user_id) if page.ig_user_id else None
                if user is None:
                    return _ABSENT
                return self._render(user, spec.subfields or _DEFAULT_FIELDS[IgUser], ctx)
            case "username" | "about" | "fan_count" | "website":
                return _ABSENT
            case _:
                raise _nonexisting_field(spec.name, "Page")

    def _ig_user_field(self, user: IgUser, spec: FieldSpec, ctx: _Ctx) -> Any:
        match spec.name:
            case "id":
                return user.id
            case "username":
                return user.username
            case "name":
                return user.name
            case "media_count":
                return sum(1 for mid in self._user_media[user.id] if not self.media[mid].deleted)
            case "biography" | "profile_picture_url" | "website" | "followers_count" | "follows_count":
                return _ABSENT
            case _:
                raise _nonexisting_field(spec.name, "IGUser")

    def _ig_media_field(self, media: IgMedia, spec: FieldSpec, ctx: _Ctx) -> Any:
        user = self.ig_users[media.ig_user_id]
        match spec.name:
            case "id":
                return media.id
            case "caption":
                return media.caption if media.caption is not None else _ABSENT
            case "timestamp":
                return format_graph_time(media.timestamp)
            case "comments_count":
                return sum(1 for cid in self._media_comments[media.id] if not self.ig_comments[cid].deleted)
            case "like_count":
                return media.like_count
            case "media_type":
                return media.media_type
            case "media_product_type":
                return media.media_product_type
            case "permalink":
                return f"https://www.instagram.com/p/{_shortcode(media.id)}/"
            case "shortcode":
                return _shortcode(media.id)
            case "username":
                return user.username
            case "owner":
                return self._profile({"id": user.id, "username": user.username}, spec, "IGUser")
            case "is_comment_enabled":
                return True
            case "media_url" | "thumbnail_url" | "children":
                return _ABSENT
            case _:
                raise _nonexisting_field(spec.name, "IGMedia")

    def _ig_comment_field(self, comment: IgComment, spec: FieldSpec, ctx: _Ctx) -> Any:
        match spec.name:
            case "id":
                return comment.id
            case "text":
                return comment.text
            case "timestamp":
                return format_graph_time(comment.timestamp)
            case "from":
                if comment.omit_from or comment.from_id is None:
                    return _ABSENT
                return self._profile(
                    {"id": comment.from_id, "username": comment.from_username or ""},
                    spec,
                    "IGCommentFromUser",
                )
            case "username":
                return comment.from_username if comment.from_username is not None else _ABSENT
            case "like_count":
                return comment.like_count
            case "hidden":
                return comment.hidden
            case "media":
                return self._render(self.media[comment.media_id], spec.subfields, ctx)
            case "parent_id":
                return comment.parent_id if comment.parent_id is not None else _ABSENT
            case "user":
                return {"id": comment.from_id} if comment.from_id is not None else _ABSENT
            case _:
                raise _nonexisting_field(spec.name, "IGComment")

    @staticmethod
    def _post_permalink(post: FbPost) -> str:
        return f"https://www.facebook.com/{post.page_id}/posts/{post.id.split('_', 1)[-1]}"

    def _comment_permalink(self, comment: FbComment) -> str:
        post = self.posts[comment.post_id]
        part = comment.id.split("_", 1)[-1]
        if comment.parent_id is None:
            return f"{self._post_permalink(post)}?comment_id={part}"
        parent_part = comment.parent_id.split("_", 1)[-1]
        return f"{self._post_permalink(post)}?comment_id={parent_part}&reply_comment_id={part}"

    # ---------------------------------------------------------------- listings and paging

    def _list_edge(
        self,
        node: Node,
        edge: str,
        params: Mapping[str, str],
        specs: Sequence[FieldSpec] | None,
        ctx: _Ctx,
        *,
        nested: bool,
    ) -> dict[str, Any] | None:
        """One page of a connection; ``None`` when a nested connection is empty (left out)."""
        if isinstance(node, FbPage) and edge in ("published_posts", "posts", "feed"):
            listing = self._page_posts_listing(node, edge, params)
        elif isinstance(node, FbPost | FbComment) and edge == "comments":
            listing = self._fb_comments_listing(node, params)
        elif isinstance(node, IgUser) and edge == "media":
            listing = self._ig_media_listing(node, params)
        elif isinstance(node, IgMedia) and edge == "comments":
            listing = self._ig_comments_listing(node, params)
        elif isinstance(node, IgComment) and edge == "replies":
            listing = self._ig_replies_listing(node, params)
        else:
            raise _unknown_path(edge)

        def link(**extra: str) -> str:
            return self._edge_url(ctx, node.id, edge, params, extra)

        after, before = params.get("after"), params.get("before")
        if params.get("__paging_token"):
            if params.get("__previous"):
                before = params["__paging_token"]
            else:
                after = params["__paging_token"]
        if self.ignore_after_cursor:
            after = None

        result: dict[str, Any]
        if self.empty_first_page and after is None and before is None and listing.items:
            start_cursor = _encode_start_cursor()
            result = {"data": [], "paging": {"cursors": {"before": start_cursor, "after": start_cursor}}}
            result["paging"]["next"] = link(after=start_cursor)
            if listing.summary is not None:
                result["summary"] = listing.summary
            return result

        start, end = self._window(listing, after, before)
        page = listing.items[start:end]
        result = {"data": [self._render(item, specs, ctx) for item in page]}
        paging: dict[str, Any] = {}
        if page:
            first, last = listing.key(page[0]), listing.key(page[-1])
            if listing.time_paging:
                previous = {
                    "since": str(first[0]),
                    "__paging_token": _encode_cursor(first),
                    "__previous": "1",
                }
                paging["previous"] = link(**previous)
                if end < len(listing.items):
                    until = last[0]
                    if params.get("until"):
                        until = min(until, self._time_param(params, "until") or until)
                    paging["next"] = link(until=str(until), __paging_token=_encode_cursor(last))
            else:
                paging["cursors"] = {"before": _encode_cursor(first), "after": _encode_cursor(last)}
                if start > 0:
                    paging["previous"] = link(before=_encode_cursor(first))
                if end < len(listing.items):
                    paging["next"] = link(after=_encode_cursor(last))
        if paging:
            result["paging"] = paging
        if listing.summary is not None:
            result["summary"] = listing.summary
        elif nested and not page:
            return None
        return result

    def _window(self, listing: _Listing, after: str | None, before: str | None) -> tuple[int, int]:
        items, limit = listing.items, listing.limit

        def strictly_after(item: Any, key: tuple[int, int]) -> bool:
            item_key = listing.key(item)
            return item_key < key if listing.descending else item_key > key

        if after is not None:
            cursor_key = _decode_cursor(after)
            start = 0
            if cursor_key is not None:
                start = next(
                    (i for i, item in enumerate(items) if strictly_after(item, cursor_key)), len(items)
                )
            if self.max_after_offset is not None and start > self.max_after_offset:
                raise GraphError(100, "(#100) The After Cursor specified exceeds the max limit")
            return start, min(len(items), start + limit)
        if before is not None:
            cursor_key = _decode_cursor(before)
            end = 0
            if cursor_key is not None:
                end = next(
                    (i for i, item in enumerate(items) if not _before(listing, item, cursor_key)), len(items)
                )
            return max(0, end - limit), end
        return 0, min(len(items), limit)

    def _edge_url(
        self, ctx: _Ctx, node_id: str, edge: str, params: Mapping[str, str], extra: Mapping[str, str]
    ) -> str:
        query: dict[str, str] = {"access_token": ctx.token} if ctx.token else {}
        for key, value in params.items():
            if key in _PAGING_PARAMS or key == "method":
                continue
            query[key] = value
        query.update(extra)
        return f"{ctx.base_url}/{ctx.version}/{node_id}/{edge}?{urlencode(query)}"

    def _page_posts_listing(self, page: FbPage, edge: str, params: Mapping[str, str]) -> _Listing:
        since, until = self._time_param(params, "since"), self._time_param(params, "until")
        posts = []
        for post_id in self._page_posts[page.id]:
            post = self.posts[post_id]
            if post.deleted or (edge != "feed" and post.from_id != page.id):
                continue
            if since is not None and post.created_time < since and post.updated_time < since:
                continue
            if until is not None and post.created_time > until:
                continue
            posts.append(post)
        if self.post_order == "updated_time":

            def key(post: FbPost) -> tuple[int, int]:
                return (post.updated_time, post.seq)
        else:

            def key(post: FbPost) -> tuple[int, int]:
                return (post.created_time, post.seq)

        posts.sort(key=key, reverse=True)
        return _Listing(posts, key, True, self._limit(params), time_paging=self.post_paging == "time")

    def _fb_comments_listing(self, node: FbPost | FbComment, params: Mapping[str, str]) -> _Listing:
        filter_ = params.get("filter") or "toplevel"
        if filter_ not in ("toplevel", "stream"):
            raise GraphError(100, "(#100) filter must be one of the following values: toplevel, stream")
        order = params.get("order") or "chronological"
        if order not in ("chronological", "reverse_chronological", "ranked"):
            raise GraphError(
                100, "(#100) order must be one of the following values: chronological, reverse_chronological"
            )
        post_id = node.id if isinstance(node, FbPost) else node.post_id
        comments = [
            self.comments[cid] for cid in self._post_comments[post_id] if not self.comments[cid].deleted
        ]
        if isinstance(node, FbPost):
            items = comments if filter_ == "stream" else [c for c in comments if c.parent_id is None]
        elif filter_ == "stream":
            inside = {node.id}
            items = []
            for comment in sorted(comments, key=lambda c: c.seq):
                if comment.parent_id in inside:
                    inside.add(comment.id)
                    items.append(comment)
        else:
            items = [self.comments[cid] for cid in self._children.get(node.id, ())]
            items = [c for c in items if not c.deleted]
        total = len(items)
        since, until = self._time_param(params, "since"), self._time_param(params, "until")
        if since is not None:
            items = [c for c in items if c.created_time >= since]
        if until is not None:
            items = [c for c in items if c.created_time <= until]

        def key(comment: FbComment) -> tuple[int, int]:
            return (comment.created_time, comment.seq)

        descending = order == "reverse_chronological"
        items.sort(key=key, reverse=descending)
        summary = None
        if _truthy_summary(params.get("summary")):
            summary = {"order": order, "total_count": total, "can_comment": True}
        return _Listing(items, key, descending, self._limit(params), summary)

    def _ig_media_listing(self, user: IgUser, params: Mapping[str, str]) -> _Listing:
        since, until = self._time_param(params, "since"), self._time_param(params, "until")
        items = [
            media
            for media in (self.media[mid] for mid in self._user_media[user.id])
            if not media.deleted
            and (since is None or media.timestamp >= since)
            and (until is None or media.timestamp <= until)
        ]

        def key(media: IgMedia) -> tuple[int, int]:
            return (media.timestamp, media.seq)

        items.sort(key=key, reverse=True)
        return _Listing(items, key, True, self._limit(params))

    def _ig_comments_listing(self, media: IgMedia, params: Mapping[str, str]) -> _Listing:
        items = [
            comment
            for comment in (self.ig_comments[cid] for cid in self._media_comments[media.id])
            if not comment.deleted and comment.parent_id is None
        ]
        items.sort(key=_ig_key, reverse=True)
        return _Listing(items, _ig_key, True, self._limit(params, IG_COMMENTS_MAX, IG_COMMENTS_MAX))

    def _ig_replies_listing(self, comment: IgComment, params: Mapping[str, str]) -> _Listing:
        replies = (self.ig_comments[cid] for cid in self._children.get(comment.id, ()))
        items = [reply for reply in replies if not reply.deleted]
        items.sort(key=_ig_key)
        return _Listing(items, _ig_key, False, self._limit(params, IG_COMMENTS_MAX, IG_COMMENTS_MAX))

    def _subscribed_apps(self, page: FbPage) -> dict[str, Any]:
        if not page.subscribed_fields:
            return {"data": []}
        return {
            "data": [
                {
                    "link": "https://kommentarvakt.example/",
                    "name": "Kommentarvakt",
                    "id": "1234567890",
                    "subscribed_fields": list(page.subscribed_fields),
                }
            ]
        }

    # ---------------------------------------------------------------- writes

    def _post(self, node: Node, edge: str | None, params: Mapping[str, str], ctx: _Ctx) -> Any:
        if edge is None:
            if isinstance(node, FbComment):
                return self._update_fb_comment(node, params)
            if isinstance(node, IgComment):
                return self._update_ig_comment(node, params)
            if isinstance(node, FbPost) and "message" in params:
                node.message = params["message"]
                node.updated_time = max(node.updated_time, self.now())
                return {"success": True}
            raise _unsupported("POST", node.id)
        if edge == "comments" and isinstance(node, FbPost | FbComment):
            message = params.get("message", "")
            attachment_url = params.get("attachment_url") or params.get("attachment_share_url")
            if not message.strip() and not attachment_url:
                raise GraphError(100, "(#100) Missing message or attachment")
            page = self.pages[node.page_id]
            attachment = {"type": "photo", "url": attachment_url} if attachment_url else None
            return {"id": self.add_comment(node.id, message, page.id, page.name, attachment=attachment)}
        if edge == "comments" and isinstance(node, IgMedia):
            user = self.ig_users[node.ig_user_id]
            return {"id": self.add_ig_comment(node.id, _required(params, "message"), user.id, user.username)}
        if edge == "replies" and isinstance(node, IgComment):
            if node.parent_id is not None:
                raise GraphError(100, "(#100) Replies can only be made to top-level comments")
            if node.hidden:
                raise GraphError(100, "(#100) Cannot reply to a hidden comment")
            message = _required(params, "message")
            user = self.ig_users[node.ig_user_id]
            return {
                "id": self.add_ig_comment(node.media_id, message, user.id, user.username, parent_id=node.id)
            }
        if edge == "subscribed_apps" and isinstance(node, FbPage):
            fields = params.get("subscribed_fields", "")
            node.subscribed_fields = [f.strip() for f in fields.split(",") if f.strip()]
            if not node.subscribed_fields:
                raise GraphError(100, "(#100) The parameter subscribed_fields is required")
            return {"success": True}
        if edge == "messages" and isinstance(node, FbPage):
            return self._private_reply(node, params)
        raise _unknown_path(edge)

    def _update_fb_comment(self, comment: FbComment, params: Mapping[str, str]) -> dict[str, Any]:
        if "is_hidden" not in params and "message" not in params:
            raise GraphError(100, "(#100) No field to update was given")
        if "is_hidden" in params:
            hidden = _parse_bool(params["is_hidden"], "is_hidden")
            if self._is_page_author(comment):
                raise GraphError(100, "(#100) Comments by the Page or its admins cannot be hidden")
            comment.is_hidden = hidden
        if "message" in params:
            if not self._is_page_author(comment):
                raise GraphError(200, "(#200) Permissions error: only the Page's own comments can be edited")
            comment.message, comment.edited = params["message"], True
        return {"success": True}

    def _update_ig_comment(self, comment: IgComment, params: Mapping[str, str]) -> dict[str, Any]:
        hide = _parse_bool(_required(params, "hide"), "hide")
        if comment.from_id == comment.ig_user_id:
            raise GraphError(100, "(#100) Comments by the media owner cannot be hidden")
        comment.hidden = hide
        return {"success": True}

    def _private_reply(self, page: FbPage, params: Mapping[str, str]) -> dict[str, Any]:
        recipient = _json_param(params.get("recipient"), "recipient")
        comment_id = recipient.get("comment_id")
        if not comment_id:
            raise GraphError(100, "(#100) The parameter recipient is required")
        comment = self.comments.get(comment_id)
        if comment is None or comment.deleted or comment.page_id != page.id:
            raise GraphError(100, "(#100) Invalid comment_id parameter", subcode=2018292)
        text = _json_param(params.get("message"), "message").get("text")
        if not text:
            raise GraphError(100, "(#100) The parameter message is required")
        if comment.private_reply_sent:
            raise GraphError(10900, "(#10900) Activity already replied to")
        if self.now() - comment.created_time > PRIVATE_REPLY_WINDOW_S:
            raise GraphError(10903, "(#10903) This activity can't be replied to")
        comment.private_reply_sent = True
        recipient_id = str(int(hashlib.sha256(str(comment.from_id).encode()).hexdigest()[:13], 16))
        message_id = "m_" + secrets.token_urlsafe(24)
        self.private_replies.append(
            {"page_id": page.id, "comment_id": comment_id, "text": text, "message_id": message_id}
        )
        return {"recipient_id": recipient_id, "message_id": message_id}

    def _delete(self, node: Node, edge: str | None, params: Mapping[str, str]) -> dict[str, Any]:
        if edge == "subscribed_apps" and isinstance(node, FbPage):
            node.subscribed_fields = []
            return {"success": True}
        if edge is not None:
            raise _unknown_path(edge)
        if isinstance(node, FbComment):
            self._delete_fb_comment(node)
        elif isinstance(node, IgComment):
            self._delete_ig_comment(node)
        elif isinstance(node, FbPost):
            node.deleted = True
            for cid in self._post_comments[node.id]:
                self.comments[cid].deleted = True
        else:
            raise _unsupported("DELETE", node.id)
        return {"success": True}

    def _delete_fb_comment(self, comment: FbComment) -> None:
        doomed = {comment.id}
        for cid in self._post_comments[comment.post_id]:
            other = self.comments[cid]
            if other.parent_id in doomed:
                doomed.add(other.id)
        for cid in doomed:
            self.comments[cid].deleted = True

    def _delete_ig_comment(self, comment: IgComment) -> None:
        comment.deleted = True
        for cid in self._children.get(comment.id, ()):
            self.ig_comments[cid].deleted = True

    # ---------------------------------------------------------------- batch

    def _batch(self, params: Mapping[str, str], outer_token: str | None, base_url: str) -> _Result:
        raw = params.get("batch")
        if not raw:
            raise GraphError(100, "(#100) The parameter batch is required")
        try:
            operations = json.loads(raw)
        except ValueError:
            raise GraphError(100, "(#100) The parameter batch must be a JSON array") from None
        if not isinstance(operations, list):
            raise GraphError(100, "(#100) The parameter batch must be a JSON array")
        if len(operations) > MAX_BATCH_SIZE:
            raise GraphError(
                100, f"(#100) Too many requests in batch message. Maximum batch size is {MAX_BATCH_SIZE}"
            )
        if outer_token:
            self._authenticate(outer_token)
        include_headers = params.get("include_headers", "true").lower() != "false"
        answers: list[dict[str, Any] | None] = []
        for operation in operations:
            if not isinstance(operation, dict) or not operation.get("relative_url"):
                raise GraphError(100, "(#100) Each batch operation needs a relative_url")
            method = str(operation.get("method", "GET")).upper()
            split = urlsplit("/" + str(operation["relative_url"]).lstrip("/"))
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            body = operation.get("body")
            form = dict(parse_qsl(body, keep_blank_values=True)) if isinstance(body, str) else {}
            if isinstance(body, dict):
                form = {key: _stringify(value) for key, value in body.items()}
            self.batch_op_count += 1
            self.requests.append(RecordedRequest(method, split.path, query, form, {}, True, self.clock()))
            if self._take_batch_null(split.path):
                answers.append(None)
                continue
            op_params = {**query, **form}
            if not op_params.get("access_token") and outer_token:
                op_params["access_token"] = outer_token
            result = self._dispatch(method, split.path, op_params, None, base_url, in_batch=True)
            answer: dict[str, Any] = {"code": result.status}
            if include_headers:
                headers = {"Content-Type": "application/json; charset=UTF-8", **result.headers}
                answer["headers"] = [{"name": name, "value": value} for name, value in headers.items()]
            answer["body"] = _encode_json(result.body).decode("ascii")
            answers.append(answer)
        return _Result(
            200, answers, self._usage_headers(self._business_id(self.tokens.get(outer_token or ""), []))
        )

    def _take_batch_null(self, path: str) -> bool:
        self._batch_nulls = [rule for rule in self._batch_nulls if rule.remaining > 0]
        for rule in self._batch_nulls:
            if rule.path_contains is None or rule.path_contains in path:
                rule.remaining -= 1
                return True
        return False


def _before(listing: _Listing, item: Any, key: tuple[int, int]) -> bool:
    item_key = listing.key(item)
    return item_key > key if listing.descending else item_key < key


def _ig_key(comment: IgComment) -> tuple[int, int]:
    return (comment.timestamp, comment.seq)


def _encode_start_cursor() -> str:
    return base64.urlsafe_b64encode(_START_CURSOR.encode()).decode().rstrip("=")


def _shortcode(media_id: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(media_id.encode()).digest()).decode()[:11]


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value.strip():
        raise GraphError(100, f"(#100) The parameter {name} is required")
    return value


def _edge_params(spec: FieldSpec) -> dict[str, str]:
    """Turn ``comments.limit(5).filter(stream){id}`` into edge query parameters."""
    params = {name: value for name, value in spec.modifiers if name != "as"}
    if spec.subfields is not None:
        params["fields"] = format_fields(spec.subfields)
    return params


async def _read_body(request: web.Request) -> dict[str, str]:
    if not request.can_read_body:
        return {}
    content_type = request.content_type
    if content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return {str(k): _stringify(v) for k, v in data.items()} if isinstance(data, dict) else {}
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {
            key: value if isinstance(value, str) else str(getattr(value, "filename", ""))
            for key, value in form.items()
        }
    return dict(parse_qsl(await request.text(), keep_blank_values=True))


# --------------------------------------------------------------------------------------------
# Webhook helpers
# --------------------------------------------------------------------------------------------


def feed_change_payload(
    page_id: str,
    post_id: str,
    comment_id: str,
    message: str | None = "Når opnar symjehallen?",
    *,
    from_id: str | None = "5550001",
    from_name: str | None = "Kari Nordmann",
    parent_id: str | None = None,
    verb: str = "add",
    created_time: int | None = None,
    permalink_url: str | None = None,
    entry_time: int | None = None,
    item: str = "comment",
) -> dict[str, Any]:
    """A Page ``feed`` webhook body for a comment change. ``parent_id`` defaults to the post
    (a top-level comment); ``message=None`` leaves the key out (photo-only comments, removals);
    ``from_id=None`` leaves ``from`` out."""
    created = int(created_time if created_time is not None else time.time())
    value: dict[str, Any] = {}
    if from_id is not None:
        value["from"] = {"id": from_id, "name": from_name or ""}
    if verb != "remove":
        value["post"] = {
            "id": post_id,
            "permalink_url": permalink_url
            or f"https://www.facebook.com/{page_id}/posts/{post_id.split('_', 1)[-1]}",
            "status_type": "mobile_status_update",
            "is_published": True,
        }
    if message is not None:
        value["message"] = message
    value.update(
        post_id=post_id,
        comment_id=comment_id,
        parent_id=parent_id or post_id,
        created_time=created,
        item=item,
        verb=verb,
    )
    change = {"field": "feed", "value": value}
    return {"object": "page", "entry": [{"id": page_id, "time": entry_time or created, "changes": [change]}]}


def instagram_comment_payload(
    ig_user_id: str,
    comment_id: str,
    text: str,
    media_id: str,
    *,
    from_id: str | None = "17841400000000501",
    from_username: str | None = "kari.nordmann",
    parent_id: str | None = None,
    media_product_type: str = "FEED",
    entry_time: int | None = None,
) -> dict[str, Any]:
    """An ``instagram`` ``comments`` webhook body (``parent_id`` only for replies)."""
    value: dict[str, Any] = {}
    if from_id is not None:
        value["from"] = {"id": from_id, "username": from_username or ""}
    value["media"] = {"id": media_id, "media_product_type": media_product_type}
    value["id"] = comment_id
    if parent_id is not None:
        value["parent_id"] = parent_id
    value["text"] = text
    stamp = int(entry_time if entry_time is not None else time.time())
    change = {"field": "comments", "value": value}
    return {"object": "instagram", "entry": [{"id": ig_user_id, "time": stamp, "changes": [change]}]}


def webhook_body(payload: Any) -> bytes:
    """Serialise a webhook body the way Meta does (non-ASCII as ``\\u00e6``, ``/`` as ``\\/``)."""
    return _encode_json(payload)


def sign(app_secret: str | bytes, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value for ``raw_body``."""
    secret = app_secret.encode() if isinstance(app_secret, str) else app_secret
    return "sha256=" + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------
# Command line: python -m tests.fakes.graph_api --port N --seed-file FILE
# --------------------------------------------------------------------------------------------


async def _serve(fake: FakeGraphAPI, host: str, port: int) -> None:
    url = await fake.start(host, port)
    print(f"FAKE_GRAPH_API_URL={url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake Meta Graph API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="Graph API version, e.g. v25.0")
    parser.add_argument("--seed-file", type=Path, help="JSON seed (see FakeGraphAPI.load_seed)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    args = parser.parse_args(argv)
    fake = FakeGraphAPI(args.version, latency_s=args.latency)
    if args.seed_file is not None:
        fake.load_seed(json.loads(args.seed_file.read_text(encoding="utf-8")))
    asyncio.run(_serve(fake, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
