"""The Graph API client against the fake over real HTTP: pacing, lockouts, retries, error classes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.config import MetaSettings
from bot.meta.client import GraphClient
from bot.meta.errors import (
    InvalidRequest,
    ObjectMissing,
    PermissionDenied,
    RateLimited,
    TokenInvalid,
    TransientError,
)
from tests.fakes.graph_api import FakeGraphAPI
from tests.meta.conftest import FB_PAGE_ID, FB_TOKEN, IG_TOKEN, IG_USER_ID, RecordedSleeps

MAX_RETRIES = 3


@pytest.fixture
async def graph(fake: FakeGraphAPI, sleeps: RecordedSleeps) -> AsyncIterator[GraphClient]:
    assert fake.base_url is not None
    settings = MetaSettings(graph_api_url=fake.base_url, max_retries=MAX_RETRIES, timeout_s=5)
    async with httpx.AsyncClient() as http:
        yield GraphClient(settings, http, sleep=sleeps, slow_down_max_s=10.0)


async def page_info(graph: GraphClient, page_id: str = FB_PAGE_ID, token: str = FB_TOKEN) -> dict:
    return await graph.get(page_id, token=token, page_id=page_id, params={"fields": "id,name"})


async def test_the_token_travels_in_a_header_never_in_the_url(graph: GraphClient, fake: FakeGraphAPI) -> None:
    post_id = fake.add_post(FB_PAGE_ID, "Innlegg")
    for number in range(30):
        fake.add_comment(post_id, f"kommentar {number}")
    first = await graph.get(f"{post_id}/comments", token=FB_TOKEN, page_id=FB_PAGE_ID, params={"limit": 25})
    assert "access_token=" in first["paging"]["next"]  # Graph puts it there ...
    second = await graph.get_next(first["paging"]["next"], token=FB_TOKEN, page_id=FB_PAGE_ID)
    assert len(first["data"]) + len(second["data"]) == 30
    for request in fake.requests:
        assert "access_token" not in request.query  # ... and we take it out again
        assert request.headers["authorization"] == f"Bearer {FB_TOKEN}"
    assert graph.calls_for(FB_PAGE_ID) == 2


async def test_usage_near_the_limit_slows_calls_down_in_proportion(
    graph: GraphClient, fake: FakeGraphAPI, sleeps: RecordedSleeps
) -> None:
    fake.set_usage(50, page_id=FB_PAGE_ID)
    await page_info(graph)
    await page_info(graph)
    assert sleeps.waits == []
    fake.set_usage(85, page_id=FB_PAGE_ID)
    await page_info(graph)  # reads 85 %
    await page_info(graph)  # waits before this one
    assert len(sleeps.waits) == 1
    fake.set_usage(99, page_id=FB_PAGE_ID)
    await page_info(graph)  # still waits for 85 %, reads 99 %
    await page_info(graph)  # waits longer
    assert len(sleeps.waits) == 3
    assert 0 < sleeps.waits[0] == sleeps.waits[1] < sleeps.waits[2] <= 10.0
    fake.set_usage(95)  # app-wide usage slows every page
    await page_info(graph, IG_USER_ID, IG_TOKEN)  # reads 95 % app usage
    await page_info(graph, IG_USER_ID, IG_TOKEN)  # another page, but it waits too
    assert len(sleeps.waits) == 4


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
async def test_a_rate_limit_stops_calls_until_meta_says_access_returns(
    graph: GraphClient, fake: FakeGraphAPI, code: int
) -> None:
    fake.fail_next(1, code=code, estimated_time_to_regain_access=7)
    with pytest.raises(RateLimited) as caught:
        await page_info(graph)
    assert caught.value.retry_after_s == pytest.approx(7 * 60) or code in (4, 17)
    calls = fake.call_count
    with pytest.raises(RateLimited):
        await page_info(graph)
    assert fake.call_count == calls  # more calls would extend the lockout


async def test_the_app_wide_limit_stops_every_page_but_a_page_limit_only_that_page(
    graph: GraphClient, fake: FakeGraphAPI
) -> None:
    fake.fail_next(1, code=80001, estimated_time_to_regain_access=5)
    with pytest.raises(RateLimited):
        await page_info(graph)
    assert (await page_info(graph, IG_USER_ID, IG_TOKEN))["id"] == IG_USER_ID
    fake.fail_next(1, code=4)
    with pytest.raises(RateLimited) as caught:
        await page_info(graph, IG_USER_ID, IG_TOKEN)
    assert caught.value.app_wide
    calls = fake.call_count
    with pytest.raises(RateLimited):
        await page_info(graph, IG_USER_ID, IG_TOKEN)
    assert fake.call_count == calls


async def test_instagram_throttle_80002_is_a_rate_limit(graph: GraphClient, fake: FakeGraphAPI) -> None:
    fake.throttle_after(2, page_id=IG_USER_ID, estimated_time_to_regain_access=3)
    await page_info(graph, IG_USER_ID, IG_TOKEN)
    await page_info(graph, IG_USER_ID, IG_TOKEN)
    with pytest.raises(RateLimited) as caught:
        await page_info(graph, IG_USER_ID, IG_TOKEN)
    assert caught.value.code == 80002 and caught.value.retry_after_s == pytest.approx(180)


@pytest.mark.parametrize(("code", "status"), [(1, None), (2, None), (1, 502)])
async def test_transient_errors_are_retried_with_backoff(
    graph: GraphClient, fake: FakeGraphAPI, sleeps: RecordedSleeps, code: int, status: int | None
) -> None:
    fake.fail_next(2, code=code, http_status=status)
    assert (await page_info(graph))["id"] == FB_PAGE_ID
    assert fake.call_count == 3
    assert len(sleeps.waits) == 2 and all(wait >= 0 for wait in sleeps.waits)


async def test_retries_stop_at_max_retries(graph: GraphClient, fake: FakeGraphAPI) -> None:
    fake.fail_next(10, code=2)
    with pytest.raises(TransientError):
        await page_info(graph)
    assert fake.call_count == MAX_RETRIES + 1


@pytest.mark.parametrize(
    ("code", "subcode", "error_class"),
    [
        (10, None, PermissionDenied),
        (200, None, PermissionDenied),
        (299, None, PermissionDenied),
        (100, None, InvalidRequest),
        (100, 33, ObjectMissing),
    ],
)
async def test_permission_and_parameter_errors_are_never_retried(
    graph: GraphClient, fake: FakeGraphAPI, code: int, subcode: int | None, error_class: type
) -> None:
    fake.fail_next(1, code=code, subcode=subcode)
    with pytest.raises(error_class) as caught:
        await page_info(graph)
    assert fake.call_count == 1
    assert caught.value.code == code and caught.value.plain()


async def test_timeouts_are_retried_then_reported(fake: FakeGraphAPI, sleeps: RecordedSleeps) -> None:
    assert fake.base_url is not None
    settings = MetaSettings(graph_api_url=fake.base_url, max_retries=1, timeout_s=0.05)
    fake.set_latency(0.5)
    async with httpx.AsyncClient(timeout=settings.timeout_s) as http:
        graph = GraphClient(settings, http, sleep=sleeps)
        with pytest.raises(TransientError, match="did not answer"):
            await page_info(graph)
    assert graph.calls_for(FB_PAGE_ID) == 2


async def test_an_expired_token_names_the_problem_but_never_the_token(
    graph: GraphClient, fake: FakeGraphAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.expire_token(FB_TOKEN, subcode=463)
    with pytest.raises(TokenInvalid) as caught:
        await page_info(graph)
    error = caught.value
    assert error.subcode == 463 and error.meaning == "tokenet har gått ut"
    assert fake.call_count == 1
    assert FB_TOKEN not in str(error) and FB_TOKEN not in error.plain()
    assert FB_TOKEN not in caplog.text
