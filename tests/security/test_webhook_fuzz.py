"""Hostile input on /webhooks/meta of a running bot: a clear 4xx or a quiet 200, never a 500 or a crash.

One `python -m bot run` serves the whole module. Unsigned or wrongly signed requests store nothing;
signed garbage is stored (Meta gets its 200 at once) and then marked failed by the inbox, not retried
forever; bodies over [http] max_body_bytes get 413. After every test the bot still answers /healthz.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.models import InboxEvent
from tests.conftest import DatabaseFactory
from tests.reliability.conftest import VALID, BotProcess, Stack, backend_url, make_stack, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
MAX_BODY_BYTES = 262_144  # what the harness writes into [http] max_body_bytes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory, database_factory: DatabaseFactory
) -> AsyncIterator[tuple[Stack, BotProcess]]:
    tmp_path = tmp_path_factory.mktemp("webhook-fuzz")
    async with make_stack(tmp_path, backend_url(database_factory)) as stack:
        bot = await stack.started_bot()
        yield stack, bot


@pytest.fixture(autouse=True)
def no_unexpected_errors(live: tuple[Stack, BotProcess]) -> Iterator[None]:
    """Bad input is logged as a warning at most: no 500s, no tracebacks (checked after each test)."""
    _stack, bot = live
    seen = len(bot.log_entries())
    yield
    for entry in bot.log_entries()[seen:]:
        assert entry.get("level") not in ("error", "critical"), entry


async def still_serving(stack: Stack, bot: BotProcess) -> None:
    answer = await stack.http.get(bot.base_url + "/healthz")
    assert answer.status_code in (200, 503) and bot.alive(), bot.tail()


def wrong_signature(secret: str, body: bytes) -> st.SearchStrategy[str | None]:
    right = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return st.one_of(
        st.none(),
        st.just(""),
        st.just("sha256="),
        st.just(right.upper()),
        st.just("sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()),
        st.just("sha256=" + hmac.new(b"not-the-app-secret", body, hashlib.sha256).hexdigest()),
        st.just(right[:-1] + ("0" if right[-1] != "0" else "1")),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
    )


@FUZZ
@given(data=st.data())
async def test_unsigned_or_wrongly_signed_requests_store_nothing(
    live: tuple[Stack, BotProcess], data: st.DataObject
) -> None:
    stack, bot = live
    body = data.draw(
        st.one_of(
            st.binary(max_size=2000),
            json_values.map(lambda value: json.dumps(value).encode()),
            st.just(json.dumps(stack.graph.webhook_payload_for(stack.add_comment(stack.pages[0]))).encode()),
        ),
        label="body",
    )
    signature = data.draw(wrong_signature(stack.secrets.meta_app_secret, body), label="signature")
    before = await stack.count(InboxEvent)
    answer = await stack.post_webhook(bot, body, signature=signature)
    assert answer.status_code == 403, answer.text
    assert answer.text  # a reason, not an empty page
    assert await stack.count(InboxEvent) == before


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=3000),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {"object": st.sampled_from(["page", "instagram", "user", 7]), "entry": json_values}
        ).map(lambda value: json.dumps(value).encode()),
        st.builds(
            lambda page, value, field: json.dumps(
                {
                    "object": "page",
                    "entry": [{"id": page, "time": 1, "changes": [{"field": field, "value": value}]}],
                }
            ).encode(),
            st.sampled_from(["4101", "4102", "999", ""]),
            json_values,
            st.sampled_from(["feed", "comments", "mention", ""]),
        ),
    )
)
async def test_signed_garbage_gets_200_and_is_set_aside_by_the_inbox(
    live: tuple[Stack, BotProcess], body: bytes
) -> None:
    stack, bot = live
    answer = await stack.post_webhook(bot, body)
    assert answer.status_code in (200, 400), answer.text


async def test_a_signed_body_with_a_nul_byte_gets_a_clear_4xx(live: tuple[Stack, BotProcess]) -> None:
    """PostgreSQL cannot store a NUL in text: such a body must be refused, not answered with a 500."""
    stack, bot = live
    before = await stack.count(InboxEvent)
    answer = await stack.post_webhook(bot, b'{"object": "page", "entry": []}\x00')
    assert 400 <= answer.status_code < 500, answer.text
    assert await stack.count(InboxEvent) == before


async def test_the_inbox_settles_every_signed_delivery(live: tuple[Stack, BotProcess]) -> None:
    """After the garbage above: no delivery is left pending (each is done or failed with a reason)."""
    stack, bot = live
    await wait_until(
        lambda: stack.count_is(0, InboxEvent, InboxEvent.status == "pending"),
        timeout_s=60,
        what="the inbox to settle every delivery",
    )
    assert await stack.count(InboxEvent, InboxEvent.status == "failed", InboxEvent.last_error.is_(None)) == 0
    await still_serving(stack, bot)
    _status, report = await bot.health()
    assert report["database"]["ok"] is True


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("chunked", [False, True])
async def test_bodies_over_the_limit_get_413_and_store_nothing(
    live: tuple[Stack, BotProcess], signed: bool, chunked: bool
) -> None:
    stack, bot = live
    body = b'{"object": "page", "entry": [' + b" " * (MAX_BODY_BYTES + 10) + b"]}"
    before = await stack.count(InboxEvent)
    if chunked:  # no Content-Length: the server must count as it reads

        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 65_536):
                yield body[start : start + 65_536]

        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = (
                "sha256=" + hmac.new(stack.secrets.meta_app_secret.encode(), body, hashlib.sha256).hexdigest()
            )
        answer = await stack.http.post(bot.base_url + "/webhooks/meta", content=pieces(), headers=headers)
    else:
        answer = await stack.post_webhook(bot, body, signature=VALID if signed else None)
    assert answer.status_code == 413, answer.text
    assert await stack.count(InboxEvent) == before
    await still_serving(stack, bot)


async def test_a_body_just_under_the_limit_is_accepted(live: tuple[Stack, BotProcess]) -> None:
    stack, bot = live
    body = b'{"object": "page", "entry": []' + b" " * (MAX_BODY_BYTES - 200) + b"}"
    assert (await stack.post_webhook(bot, body)).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_refused(live: tuple[Stack, BotProcess], method: str) -> None:
    stack, bot = live
    answer = await stack.http.request(method, bot.base_url + "/webhooks/meta", content=b"{}")
    assert answer.status_code == 405


@FUZZ
@given(
    mode=st.one_of(st.none(), st.just("subscribe"), st.text(max_size=20)),
    token=st.one_of(st.none(), st.text(max_size=40)),
    challenge=st.text(max_size=200),
)
async def test_the_handshake_answers_only_the_right_verify_token(
    live: tuple[Stack, BotProcess], mode: str | None, token: str | None, challenge: str
) -> None:
    stack, bot = live
    params = {"hub.challenge": challenge}
    if mode is not None:
        params["hub.mode"] = mode
    if token is not None:
        params["hub.verify_token"] = token
    answer = await stack.http.get(bot.base_url + "/webhooks/meta", params=params)
    assert answer.status_code == 403
    assert stack.secrets.meta_verify_token not in answer.text


async def test_the_handshake_echoes_the_challenge_as_plain_text(live: tuple[Stack, BotProcess]) -> None:
    stack, bot = live
    challenge = "<script>alert(1)</script>1158201444"
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": stack.secrets.meta_verify_token,
        "hub.challenge": challenge,
    }
    answer = await stack.http.get(bot.base_url + "/webhooks/meta", params=params)
    assert answer.status_code == 200
    assert answer.text == challenge
    assert answer.headers["content-type"].startswith("text/plain")
    await still_serving(stack, bot)
