"""Socket Mode through the fake's WebSocket: clicks, commands, reconnects; and the health report."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.slack_api import FakeSlackAPI, socket_envelope
from tests.slack.conftest import (
    COMMENTS,
    KINN_CHANNEL,
    MODERATOR,
    SlackHarness,
    start_harness,
    stop_harness,
    wait_until,
)


@pytest.fixture
async def socket_slack(sqlite_url: str, fake_slack: FakeSlackAPI) -> AsyncIterator[SlackHarness]:
    harness = await start_harness(sqlite_url, fake_slack, mode="socket")
    yield harness
    await stop_harness(harness)


async def healthy(slack: SlackHarness) -> bool:
    report = await slack.component.health()
    return bool(report["ok"] and report["connected"])


async def test_socket_mode_connects_with_the_app_token_and_serves_no_http_route(
    socket_slack: SlackHarness,
) -> None:
    slack = socket_slack
    await slack.fake.wait_for_socket_connection()
    [opened] = slack.fake.calls("apps.connections.open")
    assert opened.token == "xapp-test-kommentarvakt"
    assert slack.component.routes() == []
    await wait_until(lambda: healthy(slack), what="a healthy socket")
    report = await slack.component.health()
    assert report["auth"]["ok"] and report["mode"] == "socket"


async def test_a_click_over_the_socket_is_acked_and_handled(socket_slack: SlackHarness) -> None:
    slack = socket_slack
    await slack.fake.wait_for_socket_connection()
    task_id = await slack.ingest(COMMENTS["neutral"])
    assert task_id is not None
    await slack.drain()
    task = await slack.task(task_id)
    payload = slack.fake.block_action_payload(
        "task_assign", str(task_id), MODERATOR, KINN_CHANNEL, task.slack_ts or ""
    )
    ack = await slack.fake.socket_send_and_wait_ack(socket_envelope(payload))
    assert ack.envelope_id
    await slack.wait_audit(task_id, "assigned")
    assert (await slack.task(task_id)).assignee == MODERATOR


async def test_a_slash_command_over_the_socket_is_answered(socket_slack: SlackHarness) -> None:
    slack = socket_slack
    await slack.fake.wait_for_socket_connection()
    payload = slack.fake.slash_command_payload("/kommentarvakt", "help", MODERATOR, KINN_CHANNEL)
    await slack.fake.socket_send_and_wait_ack(socket_envelope(payload))
    [answer] = await slack.fake.wait_for("response_url")
    assert "status" in answer.body["text"]


async def test_the_client_reconnects_when_slack_closes_the_socket(socket_slack: SlackHarness) -> None:
    slack = socket_slack
    await slack.fake.wait_for_socket_connection()
    await slack.fake.close_socket_connections()
    await slack.fake.wait_for_socket_connection(count=2, timeout=20)
    await wait_until(lambda: healthy(slack), timeout_s=20, what="a healthy socket after the reconnect")


async def test_the_component_reconnects_when_the_client_does_not(socket_slack: SlackHarness) -> None:
    slack = socket_slack
    await slack.fake.wait_for_socket_connection()
    handler = slack.component.socket_handler
    assert handler is not None
    # The reconnect bug the SDK has had: the client stops reconnecting on its own.
    handler.client.default_auto_reconnect_enabled = False
    handler.client.auto_reconnect_enabled = False
    await slack.fake.close_socket_connections()
    await slack.fake.wait_for_socket_connection(count=2, timeout=20)
    assert slack.component.reconnects >= 1
    await wait_until(lambda: healthy(slack), timeout_s=20, what="a healthy socket after our reconnect")


async def test_health_reports_a_token_slack_does_not_accept(sqlite_url: str) -> None:
    fake = FakeSlackAPI(accepted_tokens={"xoxb-some-other-token"})
    await fake.start()
    try:
        harness = await start_harness(sqlite_url, fake, mode="http")
        try:
            report = await harness.component.health()
            assert report["ok"] is False
            assert "invalid_auth" in report["auth"]["error"] and "SLACK_BOT_TOKEN" in report["auth"]["error"]
        finally:
            await stop_harness(harness)
    finally:
        await fake.stop()
