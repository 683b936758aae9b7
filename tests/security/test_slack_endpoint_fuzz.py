"""Hostile input on /slack/events (http mode) of a running bot: refused or answered, never a 500 or a crash.

Stale or replayed timestamps and wrong signatures get 401 and change nothing; signed garbage, unknown
action ids, button values that are not task ids and task ids that do not exist get a clear answer and
change nothing; a replayed click is idempotent. One `python -m bot run` serves the whole module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.models import AuditEvent, OutboxMessage
from tests.conftest import DatabaseFactory
from tests.fakes.slack_api import block_action_payload, interactive_body
from tests.reliability.conftest import (
    MODERATOR,
    TASK_BUTTONS,
    BotProcess,
    Stack,
    backend_url,
    make_stack,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIVE_MINUTES_S = 300

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)

json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=5)  # other JSON: its own test


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory, database_factory: DatabaseFactory
) -> AsyncIterator[tuple[Stack, BotProcess, list[int]]]:
    """A running bot with two open tasks whose messages are in Slack."""
    tmp_path = tmp_path_factory.mktemp("slack-fuzz")
    async with make_stack(tmp_path, backend_url(database_factory)) as stack:
        stack.add_comment(stack.pages[0], "Kor lenge er det ope på laurdagar?")
        stack.add_comment(stack.pages[0], "Kva kostar det for eit årskort for vaksne?")
        bot = await stack.started_bot()
        await stack.wait_all_posted(tasks=2)
        yield stack, bot, await stack.task_ids()


@pytest.fixture(autouse=True)
def no_errors_logged(live: tuple[Stack, BotProcess, list[int]]) -> Iterator[None]:
    """Bad input is a warning at most: no error entries, no tracebacks (checked after each test)."""
    bot = live[1]
    seen = len(bot.log_entries())
    yield
    assert bot.alive(), bot.tail()
    for entry in bot.log_entries()[seen:]:
        assert entry.get("level") not in ("error", "critical"), entry


async def stored(stack: Stack) -> tuple[int, int]:
    """Audit events and outbox messages: what a request could have changed."""
    return await stack.count(AuditEvent), await stack.count(OutboxMessage)


def click_body(stack: Stack, action_id: str, value: str, user: str = MODERATOR) -> bytes:
    channel = stack.pages[0].channel
    selected = value if action_id == "task_reclassify" else None
    payload = block_action_payload(
        action_id,
        None if selected else value,
        user,
        channel,
        "1700000000.000100",
        selected_option=selected,
        response_url=stack.slack.new_response_url(channel),
    )
    return interactive_body(payload)


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def post(stack: Stack, bot: BotProcess, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return await stack.http.post(bot.base_url + "/slack/events", content=body, headers=headers)


@FUZZ
@given(offset_s=st.one_of(st.integers(-86_400, -FIVE_MINUTES_S - 2), st.integers(FIVE_MINUTES_S + 2, 86_400)))
async def test_stale_and_future_timestamps_are_refused(
    live: tuple[Stack, BotProcess, list[int]], offset_s: int
) -> None:
    """A correctly signed click from more than five minutes ago (a replay) or from the future: 401."""
    stack, bot, task_ids = live
    before = await stored(stack)
    body = click_body(stack, "task_handled", str(task_ids[1]))
    answer = await stack.slack_request(bot, body, timestamp=int(time.time()) + offset_s)
    assert answer.status_code == 401
    assert await stored(stack) == before


@FUZZ
@given(data=st.data())
async def test_wrong_signatures_are_refused(
    live: tuple[Stack, BotProcess, list[int]], data: st.DataObject
) -> None:
    stack, bot, task_ids = live
    body = click_body(stack, data.draw(st.sampled_from(TASK_BUTTONS)), str(task_ids[1]))
    now = str(int(time.time()))
    secret = stack.secrets.slack_signing_secret
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    variant = data.draw(
        st.sampled_from(
            [
                "none",
                "no timestamp",
                "other secret",
                "other body",
                "other timestamp",
                "v1",
                "garbage",
                "upper",
            ]
        )
    )
    if variant != "none":
        headers["X-Slack-Request-Timestamp"] = now
        headers["X-Slack-Signature"] = {
            "no timestamp": signature_of(secret, now, body),
            "other secret": signature_of("not-the-signing-secret", now, body),
            "other body": signature_of(secret, now, body + b"&x=1"),
            "other timestamp": signature_of(secret, str(int(now) - 1), body),
            "v1": signature_of(secret, now, body).replace("v0=", "v1="),
            "garbage": data.draw(
                st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=70)
            ),
            "upper": signature_of(secret, now, body).upper(),
        }[variant]
        if variant == "no timestamp":
            del headers["X-Slack-Request-Timestamp"]
    before = await stored(stack)
    answer = await post(stack, bot, body, headers)
    assert answer.status_code == 401, (variant, answer.text)
    assert await stored(stack) == before


@FUZZ
@given(
    body=st.one_of(
        json_objects.map(lambda value: urlencode({"payload": json.dumps(value)}).encode()),
        json_objects.map(lambda value: json.dumps(value).encode()),
        st.dictionaries(
            st.text(max_size=10).filter(lambda key: key != "payload"), st.text(max_size=30), max_size=5
        ).map(lambda form: urlencode(form).encode()),
        st.builds(
            lambda kind, rest: urlencode({"payload": json.dumps({**rest, "type": kind})}).encode(),
            st.sampled_from(["block_actions", "view_submission", "shortcut", "event_callback", "nonsense"]),
            json_objects.filter(lambda rest: "actions" not in rest),  # broken "actions": the test below
        ),
    )
)
async def test_signed_garbage_is_answered_without_a_500(
    live: tuple[Stack, BotProcess, list[int]], body: bytes
) -> None:
    stack, bot, _task_ids = live
    before = await stored(stack)
    answer = await stack.slack_request(bot, body)
    assert answer.status_code < 500, answer.text
    assert await stored(stack) == before


@pytest.mark.parametrize(
    ("body", "signed"),
    [
        *(
            (body, signed)
            for signed in (True, False)
            for body in (b"payload", b"payload=not-json", b"\x80\x81")
        ),
        (b"{", True),
        (b'{"event_id": [null]}', True),
        (b"payload=%7B%22type%22", False),
        (b"payload=null", True),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": None})}).encode(), True),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [5]})}).encode(), True),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{}]})}).encode(), True),
    ],
)
async def test_bodies_that_are_not_what_slack_sends_get_a_4xx(
    live: tuple[Stack, BotProcess, list[int]], body: bytes, signed: bool
) -> None:
    stack, bot, _task_ids = live
    seen = len(bot.log_entries())
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:  # signed here, not by the SDK's helper, which cannot sign a body that is not UTF-8
        timestamp = str(int(time.time()))
        headers["X-Slack-Request-Timestamp"] = timestamp
        headers["X-Slack-Signature"] = signature_of(stack.secrets.slack_signing_secret, timestamp, body)
    answer = await post(stack, bot, body, headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert not [entry for entry in bot.log_entries()[seen:] if entry.get("level") == "error"]


@FUZZ
@given(action_id=st.text(min_size=1, max_size=40).filter(lambda action: action not in TASK_BUTTONS))
async def test_unknown_action_ids_change_nothing(
    live: tuple[Stack, BotProcess, list[int]], action_id: str
) -> None:
    stack, bot, task_ids = live
    before = await stored(stack)
    answer = await stack.slack_request(bot, click_body(stack, action_id, str(task_ids[1])))
    assert answer.status_code in (200, 404), answer.text
    assert await stored(stack) == before


@FUZZ
@given(
    action_id=st.sampled_from(TASK_BUTTONS),
    value=st.one_of(
        st.text(max_size=40).filter(lambda value: not value.split(":", 1)[0].strip().isdigit()),
        st.integers(min_value=-(10**12), max_value=-1).map(str),
    ),
)
async def test_button_values_that_are_not_task_ids_change_nothing(
    live: tuple[Stack, BotProcess, list[int]], action_id: str, value: str
) -> None:
    stack, bot, _task_ids = live
    before = await stored(stack)
    answer = await stack.slack_request(bot, click_body(stack, action_id, value))
    assert answer.status_code == 200, answer.text
    assert await stored(stack) == before


@FUZZ
@given(
    action_id=st.sampled_from(TASK_BUTTONS),
    task_id=st.one_of(st.integers(1000, 2**31 - 1), st.just(0)),
)
async def test_task_ids_that_do_not_exist_change_nothing(
    live: tuple[Stack, BotProcess, list[int]], action_id: str, task_id: int
) -> None:
    stack, bot, _task_ids = live
    value = f"{task_id}:negative" if action_id == "task_reclassify" else str(task_id)
    before = await stored(stack)
    answer = await stack.slack_request(bot, click_body(stack, action_id, value))
    assert answer.status_code == 200, answer.text
    assert await stored(stack) == before


@pytest.mark.parametrize(
    ("action_id", "task_id"),
    [
        *((action_id, str(2**63)) for action_id in ("task_handled", "task_edit", "task_reclassify")),
        *((action_id, "²") for action_id in ("task_handled", "task_edit")),  # isdigit(), but not for int()
    ],
)
async def test_a_task_id_beyond_the_integer_range_is_a_bad_button(
    live: tuple[Stack, BotProcess, list[int]], action_id: str, task_id: str
) -> None:
    stack, bot, _task_ids = live
    seen = len(bot.log_entries())
    told = len(stack.slack.calls("chat.postEphemeral"))
    value = f"{task_id}:negative" if action_id == "task_reclassify" else task_id
    answer = await stack.slack_request(bot, click_body(stack, action_id, value))
    assert answer.status_code == 200, answer.text
    await wait_until(
        lambda: len(stack.slack.calls("chat.postEphemeral")) > told,
        timeout_s=5,
        what="an answer to the person",
    )
    assert not [entry for entry in bot.log_entries()[seen:] if entry.get("level") == "error"]


async def test_people_who_clicked_a_bad_button_are_told(live: tuple[Stack, BotProcess, list[int]]) -> None:
    """The fuzzing above answered the person (ephemerally), not only the HTTP request."""
    stack, _bot, _task_ids = live
    answers = await wait_until(
        lambda: [call.body.get("text", "") for call in stack.slack.calls("chat.postEphemeral", ok=True)],
        timeout_s=20,
        what="ephemeral answers to the bad clicks",
    )
    assert any("ugyldig" in text for text in answers)
    assert any("Fann ikkje oppgåve" in text for text in answers)


async def test_a_replayed_click_within_five_minutes_does_the_work_once(
    live: tuple[Stack, BotProcess, list[int]],
) -> None:
    stack, bot, task_ids = live
    body = click_body(stack, "task_publish", str(task_ids[0]))
    headers = stack.slack.signed_request_headers(stack.secrets.slack_signing_secret, body)
    for _ in range(3):  # the same signed request, three times
        assert (await post(stack, bot, body, headers)).status_code == 200
    await wait_until(
        lambda: stack.count_is(1, AuditEvent, AuditEvent.action == "reply_published"),
        timeout_s=20,
        what="the reply published",
    )
    assert await stack.count(OutboxMessage, OutboxMessage.kind == "meta.reply") == 1
    assert await stack.count(AuditEvent, AuditEvent.action == "publish_requested") == 1
    answer = await stack.http.get(bot.base_url + "/healthz")
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("chunked", [False, True])
async def test_bodies_over_the_limit_get_413(
    live: tuple[Stack, BotProcess, list[int]], chunked: bool
) -> None:
    stack, bot, _task_ids = live
    body = urlencode({"payload": json.dumps({"type": "block_actions", "padding": "x" * 300_000})}).encode()
    headers = stack.slack.signed_request_headers(stack.secrets.slack_signing_secret, body)
    before = await stored(stack)
    if chunked:  # no Content-Length: the server must count as it reads

        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 65_536):
                yield body[start : start + 65_536]

        answer = await stack.http.post(bot.base_url + "/slack/events", content=pieces(), headers=headers)
    else:
        answer = await post(stack, bot, body, headers)
    assert answer.status_code == 413, answer.text
    assert await stored(stack) == before
