"""Tests of the fake Slack Web API / Socket Mode server, driven by the real slack_sdk / slack_bolt clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import (
    RESPONSE_URL_CALL,
    UPLOAD_CALL,
    ChannelRateLimit,
    FakeSlackAPI,
    WaitTimeout,
    app_home_opened_body,
    block_action_payload,
    dm_channel_id,
    interactive_body,
    json_body,
    signed_request_headers,
    slash_command_body,
    socket_envelope,
    state_values,
    view_submission_payload,
)

SECRET = "test-signing-secret"
MOD_CHANNEL = "C0MODS0001"
LEAD_GROUP = "S0LEADS001"

APPROVE_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "block_id": "comment", "text": {"type": "mrkdwn", "text": "*New comment*"}},
    {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Godkjenn"},
                "value": "comment-42",
            },
            {
                "type": "static_select",
                "action_id": "category",
                "placeholder": {"type": "plain_text", "text": "Kategori"},
                "options": [
                    {"text": {"type": "plain_text", "text": "Spam"}, "value": "spam"},
                    {"text": {"type": "plain_text", "text": "Hets"}, "value": "abuse"},
                ],
            },
        ],
    },
]

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "reject_reason",
    "private_metadata": "comment-42",
    "title": {"type": "plain_text", "text": "Avvis kommentar"},
    "submit": {"type": "plain_text", "text": "Avvis"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Begrunnelse"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
    ],
}


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlackAPI]:
    server = FakeSlackAPI(usergroups={LEAD_GROUP: ["U0LEAD0001", "U0LEAD0002"]})
    await server.start()
    yield server
    await server.stop()
    assert server.internal_errors == []


@pytest.fixture
def client(fake: FakeSlackAPI) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.base_url)


async def api_error(coro: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


# --------------------------------------------------------------------------------------------------
# Basics: start/stop, auth, recording
# --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_start_returns_base_url_and_auth_test_answers(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/")
    response = await client.auth_test()
    assert response["ok"] is True
    assert response["user_id"] == fake.workspace.bot_user_id
    assert response["bot_id"] == fake.workspace.bot_id
    assert response["team_id"] == fake.workspace.team_id
    assert response.headers["x-oauth-scopes"]
    # The root URL works as a base URL too (http://127.0.0.1:PORT/auth.test).
    root_client = AsyncWebClient(token="xoxb-test", base_url=fake.root_url)
    assert (await root_client.auth_test())["user_id"] == fake.workspace.bot_user_id


@pytest.mark.asyncio
async def test_start_stop_restart_and_context_manager() -> None:
    server = FakeSlackAPI()
    url = await server.start()
    with pytest.raises(RuntimeError):
        await server.start()
    await server.stop()
    await server.stop()  # idempotent
    async with FakeSlackAPI() as other:
        response = await AsyncWebClient(token="xoxb-x", base_url=other.base_url).auth_test()
        assert response["ok"]
    # a stopped fake refuses connections
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.post(f"{url}auth.test"):
            pass


@pytest.mark.asyncio
async def test_tokens(fake: FakeSlackAPI) -> None:
    error = await api_error(AsyncWebClient(token="xoxp-user", base_url=fake.base_url).auth_test())
    assert error.response["error"] == "invalid_auth"
    assert error.response.status_code == 200
    error = await api_error(AsyncWebClient(base_url=fake.base_url).auth_test())
    assert error.response["error"] == "not_authed"
    # An app-level token is for apps.connections.open only, a bot token not for it.
    app_client = AsyncWebClient(token="xapp-1-test", base_url=fake.base_url)
    error = await api_error(app_client.chat_postMessage(channel=MOD_CHANNEL, text="x"))
    assert error.response["error"] == "not_allowed_token_type"
    bot_client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    error = await api_error(bot_client.apps_connections_open(app_token="xoxb-test"))
    assert error.response["error"] == "not_allowed_token_type"
    # token as a form parameter instead of the Authorization header
    async with aiohttp.ClientSession() as session:
        form = {"token": "xoxb-form", "channel": MOD_CHANNEL, "text": "hei"}
        async with session.post(f"{fake.base_url}chat.postMessage", data=form) as resp:
            assert (await resp.json())["ok"] is True
    assert fake.last_call("chat.postMessage").token == "xoxb-form"


@pytest.mark.asyncio
async def test_configured_tokens() -> None:
    async with FakeSlackAPI(accepted_tokens={"xoxb-good", "xapp-good"}) as server:
        assert (await AsyncWebClient(token="xoxb-good", base_url=server.base_url).auth_test())["ok"]
        error = await api_error(AsyncWebClient(token="xoxb-other", base_url=server.base_url).auth_test())
        assert error.response["error"] == "invalid_auth"


@pytest.mark.asyncio
async def test_recording_of_requests(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=MOD_CHANNEL, text="hei", unfurl_links=False, unfurl_media=False)
    await client.users_info(user="U0LEAD0001")
    [post] = fake.calls("chat.postMessage")
    assert post.http_method == "POST"
    assert post.path == "/api/chat.postMessage"
    assert post.headers["authorization"] == "Bearer xoxb-test"
    assert "slackclient" in post.headers["User-Agent"]
    assert post.body == {"channel": MOD_CHANNEL, "text": "hei", "unfurl_links": False, "unfurl_media": False}
    assert post.token == "xoxb-test"
    assert post.ok and post.status == 200 and post.response["ok"] is True
    [info] = fake.calls("users.info")
    assert info.http_method == "GET"  # slack_sdk sends users.info as GET with query parameters
    assert info.body["user"] == "U0LEAD0001"
    assert fake.methods_called() == ["chat.postMessage", "users.info"]
    assert len(fake.calls()) == 2
    fake.reset()
    assert fake.calls() == [] and fake.messages() == []


@pytest.mark.asyncio
async def test_form_encoded_blocks_and_attachments_are_decoded(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    attachments = [{"color": "#ff0000", "text": "vedlegg"}]
    await client.api_call(
        "chat.postMessage",
        data={
            "channel": MOD_CHANNEL,
            "text": "form",
            "blocks": json.dumps(APPROVE_BLOCKS),
            "attachments": json.dumps(attachments),
        },
    )
    call = fake.last_call("chat.postMessage")
    assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert call.body["blocks"] == APPROVE_BLOCKS
    assert call.body["attachments"] == attachments
    [message] = fake.messages(MOD_CHANNEL)
    assert message.blocks == APPROVE_BLOCKS and message.attachments == attachments


@pytest.mark.asyncio
async def test_wait_for_polls_and_times_out(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.2)
        await client.chat_postMessage(channel=MOD_CHANNEL, text="one")
        await client.chat_postMessage(channel="C0OTHER001", text="two")

    task = asyncio.create_task(post_later())
    calls = await fake.wait_for("chat.postMessage", count=2, timeout=5)
    assert [c.body["text"] for c in calls] == ["one", "two"]
    [other] = await fake.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == "C0OTHER001")
    assert other.body["text"] == "two"
    await task
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"chat.update"):
        await fake.wait_for("chat.update", timeout=0.2)
    assert time.monotonic() - started < 2
    with pytest.raises(AssertionError):
        fake.last_call("views.open")


@pytest.mark.asyncio
async def test_unknown_method_and_custom_responses(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    error = await api_error(client.api_call("chat.scheduleMessage", json={"channel": MOD_CHANNEL}))
    assert error.response["error"] == "unknown_method"
    fake.set_response("chat.scheduleMessage", {"scheduled_message_id": "Q123"})
    response = await client.chat_scheduleMessage(channel=MOD_CHANNEL, text="later", post_at=1900000000)
    assert response["scheduled_message_id"] == "Q123"
    fake.set_response("conversations.info", lambda body: {"channel": {"id": body["channel"], "name": "mods"}})
    assert (await client.conversations_info(channel=MOD_CHANNEL))["channel"]["name"] == "mods"
    fake.set_response("conversations.info", None)
    assert (await client.conversations_info(channel=MOD_CHANNEL))["channel"]["is_channel"] is True
    assert (await client.api_test(foo="bar"))["args"] == {"foo": "bar"}
    assert (await AsyncWebClient(base_url=fake.base_url).api_test())["ok"]  # no token needed


# --------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_post_message_returns_unique_increasing_ts(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    responses = [await client.chat_postMessage(channel=MOD_CHANNEL, text=f"m{i}") for i in range(3)]
    assert [r["ts"] for r in responses] == ["1700000000.000100", "1700000000.000200", "1700000000.000300"]
    first = responses[0]
    assert first["channel"] == MOD_CHANNEL
    assert first["message"]["text"] == "m0"
    assert first["message"]["bot_id"] == fake.workspace.bot_id
    assert first["message"]["ts"] == first["ts"]
    reply = await client.chat_postMessage(channel=MOD_CHANNEL, text="svar", thread_ts=first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]
    assert [m.text for m in fake.messages(MOD_CHANNEL)] == ["m0", "m1", "m2", "svar"]
    assert fake.messages("C0NOBODY01") == []


@pytest.mark.asyncio
async def test_update_keeps_state_by_ts(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=MOD_CHANNEL, text="Ny kommentar", blocks=APPROVE_BLOCKS)
    assert posted["message"]["blocks"] == APPROVE_BLOCKS
    updated = await client.chat_update(channel=MOD_CHANNEL, ts=posted["ts"], text="Godkjent av <@U1>")
    assert updated["ts"] == posted["ts"] and updated["channel"] == MOD_CHANNEL
    assert updated["message"]["text"] == "Godkjent av <@U1>"
    [message] = fake.messages(MOD_CHANNEL)
    assert message.text == "Godkjent av <@U1>"
    assert message.blocks == APPROVE_BLOCKS  # like Slack: blocks are kept unless sent
    assert message.update_count == 1
    await client.chat_update(channel=MOD_CHANNEL, ts=posted["ts"], text="ferdig", blocks=[])
    message_after = fake.message(MOD_CHANNEL, posted["ts"])
    assert message_after is not None and message_after.blocks == [] and message_after.update_count == 2
    assert message_after.posted["text"] == "Ny kommentar"
    # chat.update without any content
    error = await api_error(client.api_call("chat.update", json={"channel": MOD_CHANNEL, "ts": posted["ts"]}))
    assert error.response["error"] == "no_text"
    # delete
    await client.chat_delete(channel=MOD_CHANNEL, ts=posted["ts"])
    assert fake.messages(MOD_CHANNEL) == []
    assert len(fake.messages(MOD_CHANNEL, include_deleted=True)) == 1
    error = await api_error(client.chat_update(channel=MOD_CHANNEL, ts=posted["ts"], text="x"))
    assert error.response["error"] == "message_not_found"


@pytest.mark.asyncio
async def test_update_of_unknown_message_lenient_and_strict(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    await client.chat_update(channel=MOD_CHANNEL, ts="1600000000.000001", text="created on the fly")
    assert fake.message(MOD_CHANNEL, "1600000000.000001") is not None
    async with FakeSlackAPI(strict=True) as strict:
        strict_client = AsyncWebClient(token="xoxb-test", base_url=strict.base_url)
        error = await api_error(strict_client.chat_update(channel=MOD_CHANNEL, ts="1.2", text="x"))
        assert error.response["error"] == "message_not_found"
        error = await api_error(strict_client.chat_getPermalink(channel=MOD_CHANNEL, message_ts="1.2"))
        assert error.response["error"] == "message_not_found"
        seeded = strict.seed_message(MOD_CHANNEL, "1.2", text="old")
        assert (await strict_client.chat_update(channel=MOD_CHANNEL, ts=seeded.ts, text="new"))["ok"]


@pytest.mark.asyncio
async def test_known_channels(client: AsyncWebClient) -> None:
    async with FakeSlackAPI(channels={MOD_CHANNEL}) as server:
        known = AsyncWebClient(token="xoxb-test", base_url=server.base_url)
        assert (await known.chat_postMessage(channel=MOD_CHANNEL, text="ok"))["ok"]
        error = await api_error(known.chat_postMessage(channel="C0UNKNOWN1", text="x"))
        assert error.response["error"] == "channel_not_found"
        assert (await known.chat_postMessage(channel="U0LEAD0001", text="dm"))["ok"]  # DMs always exist
        server.add_channel("C0UNKNOWN1")
        assert (await known.chat_postMessage(channel="C0UNKNOWN1", text="x"))["ok"]


@pytest.mark.asyncio
async def test_post_to_user_opens_dm_like_conversations_open(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U0LEAD0001")
    dm = opened["channel"]["id"]
    assert dm.startswith("D") and dm == fake.dm_channel_id("U0LEAD0001") == dm_channel_id("U0LEAD0001")
    assert "already_open" not in opened.data
    again = await client.conversations_open(users=["U0LEAD0001"], return_im=True)
    assert again["already_open"] is True and again["channel"]["is_im"] is True
    posted = await client.chat_postMessage(channel="U0LEAD0001", text="Frist i dag")
    assert posted["channel"] == dm
    assert [m.text for m in fake.messages(dm)] == ["Frist i dag"]
    group = await client.conversations_open(users="U0LEAD0001,U0LEAD0002")
    assert group["channel"]["id"].startswith("G")
    error = await api_error(client.api_call("conversations.open", params={}))
    assert error.response["error"] == "users_list_not_supplied"


@pytest.mark.asyncio
async def test_ephemeral_and_permalink(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    ephemeral = await client.chat_postEphemeral(channel=MOD_CHANNEL, user="U0MOD00001", text="Bare for deg")
    assert ephemeral["message_ts"]
    [stored] = fake.ephemeral_messages(MOD_CHANNEL, user="U0MOD00001")
    assert stored.text == "Bare for deg" and stored.message_ts == ephemeral["message_ts"]
    assert fake.messages(MOD_CHANNEL) == []  # ephemeral messages are not channel messages
    posted = await client.chat_postMessage(channel=MOD_CHANNEL, text="x")
    link = await client.chat_getPermalink(channel=MOD_CHANNEL, message_ts=posted["ts"])
    ts_digits = posted["ts"].replace(".", "")
    assert link["permalink"] == f"https://kommentarvakt-test.slack.com/archives/{MOD_CHANNEL}/p{ts_digits}"
    assert link["channel"] == MOD_CHANNEL


@pytest.mark.asyncio
async def test_message_validation(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="x", blocks=[section] * 51))
    assert error.response["error"] == "invalid_blocks"
    assert "no more than 50 items allowed [json-pointer:/blocks]" in error.response["errors"]
    assert (await client.chat_postMessage(channel=MOD_CHANNEL, text="x", blocks=[section] * 50))["ok"]

    long_header = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="x", blocks=long_header))
    assert error.response["errors"] == ["must be less than 151 characters [json-pointer:/blocks/0/text/text]"]

    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="x", blocks=long_section))
    assert error.response["error"] == "invalid_blocks"

    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}
    too_long_button = [{"type": "actions", "elements": [button]}]
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="x", blocks=too_long_button))
    assert "[json-pointer:/blocks/0/elements/0/text/text]" in error.response["errors"][0]

    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="t" * 40_001))
    assert error.response["error"] == "msg_too_long"
    error = await api_error(client.api_call("chat.postMessage", json={"channel": MOD_CHANNEL}))
    assert error.response["error"] == "no_text"
    error = await api_error(client.chat_postMessage(channel="", text="x"))
    assert error.response["error"] == "channel_not_found"
    error = await api_error(
        client.api_call("chat.postMessage", data={"channel": MOD_CHANNEL, "blocks": "nope"})
    )
    assert error.response["error"] == "invalid_blocks_format"
    assert fake.calls("chat.postMessage", ok=False)

    async with FakeSlackAPI(validate_blocks=False) as lax:
        lax_client = AsyncWebClient(token="xoxb-test", base_url=lax.base_url)
        assert (await lax_client.chat_postMessage(channel=MOD_CHANNEL, text="x", blocks=[section] * 60))["ok"]


# --------------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_views_open_update_and_triggers(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    trigger = fake.issue_trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    view = opened["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "reject_reason"
    assert view["private_metadata"] == "comment-42" and view["hash"]
    assert view["state"] == {"values": {}} and view["root_view_id"] == view["id"]
    assert fake.view(view["id"]) is not None

    error = await api_error(client.views_open(trigger_id=trigger, view=MODAL))
    assert error.response["error"] == "exchanged_trigger_id"
    error = await api_error(client.views_open(trigger_id="", view=MODAL))
    assert error.response["error"] == "invalid_arguments"

    updated_modal = {**MODAL, "title": {"type": "plain_text", "text": "Oppdatert"}}
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=updated_modal)
    assert updated["view"]["id"] == view["id"] and updated["view"]["title"]["text"] == "Oppdatert"
    error = await api_error(client.views_update(view_id=view["id"], hash=view["hash"], view=updated_modal))
    assert error.response["error"] == "hash_conflict"
    stored = fake.view(view["id"])
    assert stored is not None and len(stored.history) == 1 and stored.view["title"]["text"] == "Oppdatert"

    pushed = await client.views_push(trigger_id=fake.issue_trigger_id(), view=MODAL)
    assert pushed["view"]["previous_view_id"] == view["id"]
    assert pushed["view"]["root_view_id"] == view["id"]

    external = await client.views_open(
        trigger_id=fake.issue_trigger_id(), view={**MODAL, "external_id": "ext-1"}
    )
    by_external = await client.views_update(external_id="ext-1", view={**MODAL, "external_id": "ext-1"})
    assert by_external["view"]["id"] == external["view"]["id"]


@pytest.mark.asyncio
async def test_trigger_ids_expire_and_strict_rejects_unknown() -> None:
    async with FakeSlackAPI(trigger_ttl=0.1) as server:
        client = AsyncWebClient(token="xoxb-test", base_url=server.base_url)
        trigger = server.issue_trigger_id()
        await asyncio.sleep(0.25)
        error = await api_error(client.views_open(trigger_id=trigger, view=MODAL))
        assert error.response["error"] == "expired_trigger_id"
        assert (await client.views_open(trigger_id="123.456.made-up", view=MODAL))["ok"]  # lenient
    async with FakeSlackAPI(strict=True) as strict:
        client = AsyncWebClient(token="xoxb-test", base_url=strict.base_url)
        error = await api_error(client.views_open(trigger_id="123.456.made-up", view=MODAL))
        assert error.response["error"] == "invalid_trigger_id"
        error = await api_error(client.views_update(view_id="V0UNKNOWN1", view=MODAL))
        assert error.response["error"] == "not_found"


@pytest.mark.asyncio
async def test_view_validation(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    error = await api_error(client.views_open(trigger_id=fake.issue_trigger_id(), view=long_title))
    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    error = await api_error(client.views_open(trigger_id=fake.issue_trigger_id(), view=no_submit))
    assert "/view/submit" in error.response["response_metadata"]["messages"][0]
    divider = {"type": "divider"}
    error = await api_error(
        client.views_publish(user_id="U0MOD00001", view={"type": "home", "blocks": [divider] * 101})
    )
    assert error.response["error"] == "invalid_arguments"
    home = await client.views_publish(user_id="U0MOD00001", view={"type": "home", "blocks": [divider] * 100})
    assert home["ok"]
    error = await api_error(
        client.views_open(trigger_id=fake.issue_trigger_id(), view={"type": "home", "blocks": []})
    )
    assert error.response["error"] == "invalid_arguments"


@pytest.mark.asyncio
async def test_views_publish_home_tab(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    home_view = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "3 åpne"}}],
    }
    first = await client.views_publish(user_id="U0MOD00001", view=home_view)
    assert first["view"]["type"] == "home"
    second = await client.views_publish(user_id="U0MOD00001", view=home_view, hash=first["view"]["hash"])
    assert second["view"]["id"] == first["view"]["id"]
    error = await api_error(client.views_publish(user_id="U0MOD00001", view=home_view, hash="stale"))
    assert error.response["error"] == "hash_conflict"
    stored = fake.home_view("U0MOD00001")
    assert stored is not None and stored.blocks == home_view["blocks"] and len(stored.history) == 1
    assert fake.home_view("U0NOBODY01") is None
    body = fake.app_home_opened_body("U0MOD00001")
    assert body["event"]["view"]["id"] == first["view"]["id"]


# --------------------------------------------------------------------------------------------------
# Users, user groups, files, Socket Mode URL
# --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_usergroups_and_users(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    assert (await client.usergroups_users_list(usergroup=LEAD_GROUP))["users"] == ["U0LEAD0001", "U0LEAD0002"]
    error = await api_error(client.usergroups_users_list(usergroup="S0NOPE0001"))
    assert error.response["error"] == "no_such_subteam"
    fake.set_usergroup("S0NOPE0001", ["U0NEW00001"])
    assert (await client.usergroups_users_list(usergroup="S0NOPE0001"))["users"] == ["U0NEW00001"]

    generated = await client.users_info(user="W0ENTERPR1")
    assert generated["user"]["id"] == "W0ENTERPR1" and generated["user"]["tz"] == "Europe/Oslo"
    fake.add_user("U0KARI0001", real_name="Kari Nordmann", profile={"email": "kari@kommune.no"})
    kari = await client.users_info(user="U0KARI0001")
    assert kari["user"]["real_name"] == "Kari Nordmann"
    assert kari["user"]["profile"]["email"] == "kari@kommune.no"
    assert kari["user"]["profile"]["display_name"] == "u0kari0001"
    error = await api_error(client.users_info(user="not-a-user"))
    assert error.response["error"] == "user_not_found"
    async with FakeSlackAPI(strict=True, users={"U0KNOWN001": {"real_name": "Known"}}) as strict:
        strict_client = AsyncWebClient(token="xoxb-test", base_url=strict.base_url)
        assert (await strict_client.users_info(user="U0KNOWN001"))["user"]["real_name"] == "Known"
        error = await api_error(strict_client.users_info(user="U0OTHER001"))
        assert error.response["error"] == "user_not_found"


@pytest.mark.asyncio
async def test_files_upload_v2_records_bytes(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
    response = await client.files_upload_v2(
        channel=MOD_CHANNEL,
        content=png,
        filename="ukesrapport.png",
        title="Ukesrapport",
        initial_comment="Rapport for uke 47",
    )
    assert response["file"]["name"] == "ukesrapport.png"
    assert response["file"]["size"] == len(png)
    [get_url] = fake.calls("files.getUploadURLExternal")
    assert get_url.body["filename"] == "ukesrapport.png" and int(get_url.body["length"]) == len(png)
    assert get_url.response["upload_url"].startswith(fake.root_url)
    [upload] = fake.calls(UPLOAD_CALL)
    assert upload.raw_body == png and upload.response == f"OK - {len(png)}"
    [complete] = fake.calls("files.completeUploadExternal")
    assert complete.body["files"] == [{"id": get_url.response["file_id"], "title": "Ukesrapport"}]
    [uploaded] = fake.uploaded_files(MOD_CHANNEL)
    assert uploaded.data == png and uploaded.completed and uploaded.title == "Ukesrapport"
    assert uploaded.initial_comment == "Rapport for uke 47"

    # Completing a file that was never uploaded fails like Slack.
    pending = await client.files_getUploadURLExternal(filename="x.png", length=3)
    error = await api_error(client.files_completeUploadExternal(files=[{"id": pending["file_id"]}]))
    assert error.response["error"] == "file_not_found"
    error = await api_error(client.api_call("files.getUploadURLExternal", params={"filename": "x"}))
    assert error.response["error"] == "invalid_arguments"


@pytest.mark.asyncio
async def test_upload_failure_injection(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.fail_next(UPLOAD_CALL, 1, status=500)
    with pytest.raises(Exception, match="Failed to upload a file"):
        await client.files_upload_v2(channel=MOD_CHANNEL, content=b"abc", filename="a.txt")
    assert fake.uploaded_files(completed=True) == []


@pytest.mark.asyncio
async def test_apps_connections_open_points_at_the_fake(fake: FakeSlackAPI) -> None:
    client = AsyncWebClient(base_url=fake.base_url)
    response = await client.apps_connections_open(app_token="xapp-1-A0FAKE-test")
    assert response["url"].startswith(f"ws://127.0.0.1:{fake.port}/link/?ticket=")
    assert fake.last_call("apps.connections.open").token == "xapp-1-A0FAKE-test"


# --------------------------------------------------------------------------------------------------
# Failure injection and rate limits
# --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rate_limit_next_without_retry_handler(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.rate_limit_next("chat.postMessage", 1, retry_after=7)
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="x"))
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "7"
    assert fake.rate_limited_count == 1
    assert (await client.chat_postMessage(channel=MOD_CHANNEL, text="x"))["ok"]


@pytest.mark.asyncio
async def test_rate_limit_retry_handler_retries_after_429(fake: FakeSlackAPI) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    fake.rate_limit_next("chat.postMessage", 1, retry_after=1)
    started = time.monotonic()
    response = await client.chat_postMessage(channel=MOD_CHANNEL, text="etter pause")
    elapsed = time.monotonic() - started
    assert response["ok"] and elapsed >= 1.0
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]
    assert [m.text for m in fake.messages(MOD_CHANNEL)] == ["etter pause"]


@pytest.mark.asyncio
async def test_fail_next_error_next_and_wildcard(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", 1, status=500)
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="x"))
    assert error.response.status_code == 500

    retrying = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    retrying.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=1))
    fake.fail_next("chat.postMessage", 1, status=503)
    assert (await retrying.chat_postMessage(channel=MOD_CHANNEL, text="x"))["ok"]

    fake.fail_next("auth.test", 1, status=502, body="<html>Bad Gateway</html>")
    error = await api_error(client.auth_test())
    assert error.response.status_code == 502

    fake.error_next("chat.update", 2, error="cant_update_message")
    for _ in range(2):
        error = await api_error(client.chat_update(channel=MOD_CHANNEL, ts="1.1", text="x"))
        assert error.response["error"] == "cant_update_message"
    assert (await client.chat_update(channel=MOD_CHANNEL, ts="1.1", text="x"))["ok"]

    fake.error_next("*", 1, error="fatal_error")
    fake.rate_limit_next("auth.test", 1)
    error = await api_error(client.auth_test())  # the method's own queue first
    assert error.response["error"] == "ratelimited"
    error = await api_error(client.users_info(user="U0LEAD0001"))
    assert error.response["error"] == "fatal_error"
    assert (await client.auth_test())["ok"]

    fake.error_next("chat.postMessage", 5)
    fake.clear_injections()
    assert (await client.chat_postMessage(channel=MOD_CHANNEL, text="x"))["ok"]


@pytest.mark.asyncio
async def test_set_down_answers_503_everywhere(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.set_down(True)
    error = await api_error(client.auth_test())
    assert error.response.status_code == 503
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(f"ws://127.0.0.1:{fake.port}/link/?ticket=x")
    fake.set_down(False)
    assert (await client.auth_test())["ok"]


@pytest.mark.asyncio
async def test_channel_rate_policy(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    fake.set_channel_rate_limit(ChannelRateLimit(per_second=1.0, burst=2))
    for i in range(2):
        assert (await client.chat_postMessage(channel=MOD_CHANNEL, text=f"burst {i}"))["ok"]
    error = await api_error(client.chat_postMessage(channel=MOD_CHANNEL, text="too fast"))
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "1"
    assert (await client.chat_postMessage(channel="C0OTHER001", text="other channel"))["ok"]
    assert (await client.chat_update(channel=MOD_CHANNEL, ts="1.1", text="updates are not limited"))["ok"]
    assert fake.rate_limited_count == 1
    assert fake.rate_limited_by_channel == {MOD_CHANNEL: 1}
    await asyncio.sleep(1.05)
    assert (await client.chat_postMessage(channel=MOD_CHANNEL, text="after a second"))["ok"]

    # With slack_sdk's retry handler the burst gets through, paced by the 429s.
    retrying = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    retrying.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=5))
    fake.set_channel_rate_limit(ChannelRateLimit(per_second=2.0, burst=1))
    for i in range(3):
        assert (await retrying.chat_postMessage(channel="C0BURST001", text=f"{i}"))["ok"]
    assert [m.text for m in fake.messages("C0BURST001")] == ["0", "1", "2"]
    assert fake.rate_limited_by_channel["C0BURST001"] >= 1

    fake.set_channel_rate_limit(None)
    for _ in range(5):
        assert (await client.chat_postMessage(channel=MOD_CHANNEL, text="free"))["ok"]


# --------------------------------------------------------------------------------------------------
# Socket Mode
# --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_socket_mode_client_connects_receives_and_acks(fake: FakeSlackAPI) -> None:
    web_client = AsyncWebClient(base_url=fake.base_url)
    socket_client = SocketModeClient(app_token="xapp-1-test", web_client=web_client, ping_interval=1)
    received: list[SocketModeRequest] = []
    messages: list[dict[str, Any]] = []

    async def on_message(client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        messages.append(message)

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        response_payload = {"response_action": "clear"} if request.accepts_response_payload else None
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=response_payload)
        )

    socket_client.message_listeners.append(on_message)  # type: ignore[arg-type]
    socket_client.socket_mode_request_listeners.append(on_request)  # type: ignore[arg-type]
    try:
        await socket_client.connect()
        await fake.wait_for_socket_connection()
        assert fake.socket_connections_opened == 1 and fake.open_socket_count == 1
        assert fake.socket_sent[0]["type"] == "hello"

        payload = view_submission_payload("reject_reason", {"reason": {"text": "Spam"}}, "U0MOD00001")
        envelope = {
            "envelope_id": "env-1",
            "type": "interactive",
            "payload": payload,
            "accepts_response_payload": True,
        }
        assert await fake.socket_send(envelope) == "env-1"
        ack = await fake.wait_for_socket_ack("env-1")
        assert ack.payload == {"response_action": "clear"}
        assert (
            received[0].type == "interactive"
            and received[0].payload["view"]["callback_id"] == "reject_reason"
        )
        assert any(m.get("type") == "hello" for m in messages)

        # An envelope id is generated when missing; an events_api envelope.
        event = socket_envelope(app_home_opened_body("U0MOD00001"))
        assert event["type"] == "events_api" and event["accepts_response_payload"] is False
        ack = await fake.socket_send_and_wait_ack({k: v for k, v in event.items() if k != "envelope_id"})
        assert ack.payload is None
        assert fake.socket_acks[0].envelope_id == "env-1"
        assert len(fake.socket_acks) == 2

        # Slack's disconnect message makes the client reconnect via apps.connections.open.
        await fake.socket_disconnect()
        await fake.wait_for_socket_connection(count=2, timeout=10)
        assert len(fake.calls("apps.connections.open")) == 2
        ack = await fake.socket_send_and_wait_ack(socket_envelope(payload))
        assert ack.payload == {"response_action": "clear"}

        # A connection closed by the server is re-established by the client.
        await fake.close_socket_connections()
        await fake.wait_for_socket_connection(count=3, timeout=15)
        assert (await fake.socket_send_and_wait_ack(socket_envelope(payload))).payload
        assert len(fake.socket_received) == len(fake.socket_acks) == 4
    finally:
        await socket_client.close()


@pytest.mark.asyncio
async def test_socket_send_without_connection_times_out(fake: FakeSlackAPI) -> None:
    with pytest.raises(WaitTimeout):
        await fake.socket_send({"type": "interactive", "payload": {}}, timeout=0.1)
    with pytest.raises(WaitTimeout):
        await fake.wait_for_socket_connection(timeout=0.1)


@pytest.mark.asyncio
async def test_bolt_socket_mode_end_to_end(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    app = AsyncApp(client=client)

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        container = body["container"]
        await client.chat_update(
            channel=container["channel_id"],
            ts=container["message_ts"],
            text=f"Godkjent av <@{body['user']['id']}>",
        )

    handler = AsyncSocketModeHandler(app, app_token="xapp-1-test")
    posted = await client.chat_postMessage(channel=MOD_CHANNEL, text="Ny kommentar", blocks=APPROVE_BLOCKS)
    try:
        await handler.connect_async()
        await fake.wait_for_socket_connection()
        payload = fake.block_action_payload("approve", None, "U0MOD00001", MOD_CHANNEL, posted["ts"])
        ack = await fake.socket_send_and_wait_ack(socket_envelope(payload))
        assert ack.envelope_id
        await fake.wait_for("chat.update")
        message = fake.message(MOD_CHANNEL, posted["ts"])
        assert message is not None and message.text == "Godkjent av <@U0MOD00001>"
        assert fake.calls("auth.test")  # Bolt authorizes with auth.test first
    finally:
        await handler.close_async()


# --------------------------------------------------------------------------------------------------
# Threaded use (sync code, subprocesses)
# --------------------------------------------------------------------------------------------------


def test_start_in_thread_with_sync_client() -> None:
    server = FakeSlackAPI()
    url = server.start_in_thread()
    try:
        client = WebClient(token="xoxb-test", base_url=url)
        assert client.auth_test()["bot_id"] == server.workspace.bot_id
        posted = client.chat_postMessage(channel=MOD_CHANNEL, text="fra tråd")
        [call] = server.wait_for_sync("chat.postMessage")
        assert call.response["ts"] == posted["ts"]
        client.files_upload_v2(channel=MOD_CHANNEL, content="a,b\n1,2\n", filename="data.csv")
        [uploaded] = server.uploaded_files(MOD_CHANNEL)
        assert uploaded.data == b"a,b\n1,2\n"
        with pytest.raises(WaitTimeout):
            server.wait_for_sync("chat.update", timeout=0.1)
    finally:
        server.stop_thread()
    with pytest.raises(Exception):  # noqa: B017 - the server is gone: any connection error
        WebClient(token="xoxb-test", base_url=url, timeout=2).auth_test()


def test_fake_in_thread_serves_a_subprocess(tmp_path: Path) -> None:
    with FakeSlackAPI() as server:
        script = tmp_path / "app.py"
        script.write_text(
            "import sys\n"
            "from slack_sdk import WebClient\n"
            "client = WebClient(token='xoxb-subprocess', base_url=sys.argv[1])\n"
            "client.chat_postMessage(channel=sys.argv[2], text='fra underprosess')\n"
        )
        result = subprocess.run(
            [sys.executable, str(script), server.base_url, MOD_CHANNEL],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        [message] = server.messages(MOD_CHANNEL)
        assert message.text == "fra underprosess"
        assert server.last_call("chat.postMessage").token == "xoxb-subprocess"


@pytest.mark.asyncio
async def test_socket_mode_against_fake_in_another_thread() -> None:
    server = FakeSlackAPI()
    url = server.start_in_thread()
    socket_client = SocketModeClient(app_token="xapp-1-test", web_client=AsyncWebClient(base_url=url))

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    socket_client.socket_mode_request_listeners.append(on_request)  # type: ignore[arg-type]
    try:
        await socket_client.connect()
        await server.wait_for_socket_connection()
        ack = await server.socket_send_and_wait_ack(socket_envelope(slash_payload(server)))
        assert ack.envelope_id
        envelope_id = await asyncio.to_thread(server.socket_send_sync, socket_envelope(slash_payload(server)))
        await server.wait_for_socket_ack(envelope_id)
        with pytest.raises(RuntimeError, match="stop_thread"):
            await server.stop()
    finally:
        await socket_client.close()
        await asyncio.to_thread(server.stop_thread)


def slash_payload(server: FakeSlackAPI) -> dict[str, str]:
    return server.slash_command_payload("/kommentarvakt", "status", "U0MOD00001", MOD_CHANNEL)


# --------------------------------------------------------------------------------------------------
# Builders and signing, checked against Bolt in HTTP mode
# --------------------------------------------------------------------------------------------------


def test_signed_request_headers_verify() -> None:
    body = interactive_body({"type": "block_actions"})
    headers = signed_request_headers(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert signed_request_headers(SECRET, json_body({"a": 1}))["Content-Type"] == "application/json"
    stale = signed_request_headers(SECRET, body, timestamp=time.time() - 600)
    assert not verifier.is_valid_request(body, stale)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    assert FakeSlackAPI.signed_request_headers(SECRET, body, headers["X-Slack-Request-Timestamp"]) == headers


def test_payload_builders_shapes() -> None:
    message = {"type": "message", "ts": "1.2", "text": "x", "blocks": APPROVE_BLOCKS}
    click = block_action_payload("approve", None, "U0MOD00001", MOD_CHANNEL, "1.2", message=message)
    action = click["actions"][0]
    assert click["type"] == "block_actions" and click["trigger_id"]
    assert click["container"] == {
        "type": "message",
        "message_ts": "1.2",
        "channel_id": MOD_CHANNEL,
        "is_ephemeral": False,
    }
    assert action["block_id"] == "decision" and action["type"] == "button" and action["value"] == "comment-42"
    assert click["response_url"].startswith("http://127.0.0.1:9/")  # never the internet

    select = block_action_payload(
        "category", None, "U0MOD00001", MOD_CHANNEL, "1.2", "t-1", selected_option="abuse", message=message
    )
    assert select["trigger_id"] == "t-1"
    assert select["actions"][0]["type"] == "static_select"
    assert select["actions"][0]["selected_option"]["text"]["text"] == "Hets"
    bare = block_action_payload("x", "v", "U1", "C1", "1.2", selected_option={"value": "y"})
    assert bare["actions"][0]["selected_option"]["text"]["text"] == "y"

    assert state_values(
        {"b": {"a": "tekst", "m": ["x"], "raw": {"type": "datepicker", "selected_date": "2024-01-01"}}}
    ) == {
        "b": {
            "a": {"type": "plain_text_input", "value": "tekst"},
            "m": {
                "type": "multi_static_select",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": "x", "emoji": True}, "value": "x"}
                ],
            },
            "raw": {"type": "datepicker", "selected_date": "2024-01-01"},
        }
    }

    form = dict(
        parse_qsl(slash_command_body("/kommentarvakt", "rapport uke", "U0MOD00001", MOD_CHANNEL).decode())
    )
    assert (
        form["command"] == "/kommentarvakt"
        and form["text"] == "rapport uke"
        and form["channel_id"] == MOD_CHANNEL
    )

    home = app_home_opened_body("U0MOD00001")
    assert home["type"] == "event_callback" and home["event"]["type"] == "app_home_opened"
    assert home["event"]["channel"] == dm_channel_id("U0MOD00001") and home["event_id"].startswith("Ev")

    assert socket_envelope(form)["type"] == "slash_commands"
    assert socket_envelope(form)["accepts_response_payload"] is True
    assert socket_envelope(click)["type"] == "interactive"
    assert socket_envelope(click)["accepts_response_payload"] is False


@pytest_asyncio.fixture
async def bolt_app(fake: FakeSlackAPI, client: AsyncWebClient) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=SECRET)

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        await ack()
        container = body["container"]
        await client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text="Godkjent")
        await respond(text="Takk!", replace_original=False)

    @app.action("category")
    async def category(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("reject_reason")
    async def reject(ack: Any, view: dict[str, Any], client: AsyncWebClient) -> None:
        reason = view["state"]["values"]["reason"]["text"]["value"]
        if not reason:
            await ack(response_action="errors", errors={"reason": "Skriv en begrunnelse"})
            return
        await ack()
        await client.chat_postMessage(
            channel=MOD_CHANNEL, text=f"Avvist ({view['private_metadata']}): {reason}"
        )

    @app.command("/kommentarvakt")
    async def command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack(text=f"Mottatt: {command['text']}")
        await respond(text="Ferdig", delete_original=False)

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    return app


async def dispatch(app: AsyncApp, raw: bytes, secret: str = SECRET) -> Any:
    return await app.async_dispatch(
        AsyncBoltRequest(body=raw.decode(), headers=signed_request_headers(secret, raw))
    )


@pytest.mark.asyncio
async def test_bolt_http_block_action_and_response_url(
    fake: FakeSlackAPI, client: AsyncWebClient, bolt_app: AsyncApp
) -> None:
    posted = await client.chat_postMessage(channel=MOD_CHANNEL, text="Ny kommentar", blocks=APPROVE_BLOCKS)
    payload = fake.block_action_payload("approve", None, "U0MOD00001", MOD_CHANNEL, posted["ts"])
    assert payload["message"]["blocks"] == APPROVE_BLOCKS
    response = await dispatch(bolt_app, interactive_body(payload))
    assert response.status == 200
    await fake.wait_for("chat.update")
    [respond_call] = await fake.wait_for(RESPONSE_URL_CALL)
    assert respond_call.body == {"text": "Takk!", "replace_original": False}
    message = fake.message(MOD_CHANNEL, posted["ts"])
    assert message is not None and message.text == "Godkjent"

    bad = await dispatch(bolt_app, interactive_body(payload), secret="wrong-secret")
    assert bad.status == 401


@pytest.mark.asyncio
async def test_response_url_replace_and_delete_original(fake: FakeSlackAPI, client: AsyncWebClient) -> None:
    from slack_sdk.webhook.async_client import AsyncWebhookClient

    posted = await client.chat_postMessage(channel=MOD_CHANNEL, text="original")
    url = fake.new_response_url(MOD_CHANNEL, posted["ts"])
    result = await AsyncWebhookClient(url).send(text="erstattet", replace_original=True)
    assert result.status_code == 200 and result.body == "ok"
    message = fake.message(MOD_CHANNEL, posted["ts"])
    assert message is not None and message.text == "erstattet"
    await AsyncWebhookClient(url).send(delete_original=True)
    assert fake.messages(MOD_CHANNEL) == []
    unknown = await AsyncWebhookClient(f"{fake.root_url}response_url/nope").send(text="x")
    assert unknown.status_code == 404


@pytest.mark.asyncio
async def test_bolt_http_select_opens_modal_and_view_submission(
    fake: FakeSlackAPI, client: AsyncWebClient, bolt_app: AsyncApp
) -> None:
    posted = await client.chat_postMessage(channel=MOD_CHANNEL, text="Ny kommentar", blocks=APPROVE_BLOCKS)
    payload = fake.block_action_payload(
        "category", None, "U0MOD00001", MOD_CHANNEL, posted["ts"], selected_option="spam"
    )
    assert (await dispatch(bolt_app, interactive_body(payload))).status == 200
    [opened] = await fake.wait_for("views.open", ok=True)
    assert opened.body["trigger_id"] == payload["trigger_id"]
    view_id = opened.response["view"]["id"]

    empty = fake.view_submission_payload(None, {"reason": {"text": ""}}, "U0MOD00001")
    assert empty["view"]["id"] == view_id and empty["view"]["callback_id"] == "reject_reason"
    rejected = await dispatch(bolt_app, interactive_body(empty))
    assert rejected.status == 200
    assert json.loads(rejected.body) == {
        "response_action": "errors",
        "errors": {"reason": "Skriv en begrunnelse"},
    }

    filled = fake.view_submission_payload(
        None, {"reason": {"text": "Reklame"}}, "U0MOD00001", view_id=view_id
    )
    assert (await dispatch(bolt_app, interactive_body(filled))).status == 200
    calls = await fake.wait_for("chat.postMessage", count=2)
    assert calls[-1].body["text"] == "Avvist (comment-42): Reklame"


@pytest.mark.asyncio
async def test_bolt_http_command_and_event_over_a_real_server(fake: FakeSlackAPI, bolt_app: AsyncApp) -> None:
    runner = web.AppRunner(bolt_app.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    events_url = f"http://127.0.0.1:{port}/slack/events"
    try:
        async with aiohttp.ClientSession() as session:
            raw = fake.slash_command_body("/kommentarvakt", "status", "U0MOD00001", MOD_CHANNEL)
            async with session.post(
                events_url, data=raw, headers=signed_request_headers(SECRET, raw)
            ) as resp:
                assert resp.status == 200
                assert await resp.text() == "Mottatt: status"  # Bolt acks text-only as text/plain
            [respond_call] = await fake.wait_for(RESPONSE_URL_CALL)
            assert respond_call.body["text"] == "Ferdig"

            event = json_body(fake.app_home_opened_body("U0MOD00001"))
            async with session.post(
                events_url, data=event, headers=signed_request_headers(SECRET, event)
            ) as resp:
                assert resp.status == 200
            [publish] = await fake.wait_for("views.publish")
            assert publish.body["user_id"] == "U0MOD00001"
            assert fake.home_view("U0MOD00001") is not None
    finally:
        await runner.cleanup()


async def test_conversations_history_pages_newest_first_and_shows_metadata_only_when_asked(
    fake: FakeSlackAPI, client: AsyncWebClient
) -> None:
    posted = []
    for number in range(5):
        answer = await client.chat_postMessage(
            channel=MOD_CHANNEL,
            text=f"task {number}",
            metadata={"event_type": "task", "event_payload": {"task_id": number}},
        )
        posted.append(answer["ts"])
    await client.chat_postMessage(channel=MOD_CHANNEL, text="a reply", thread_ts=posted[0])

    first = await client.conversations_history(channel=MOD_CHANNEL, limit=3, include_all_metadata=True)
    assert [m["ts"] for m in first["messages"]] == posted[::-1][:3]  # newest first, no thread replies
    assert first["messages"][0]["metadata"]["event_payload"] == {"task_id": 4}
    assert first["has_more"]
    rest = await client.conversations_history(
        channel=MOD_CHANNEL, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == posted[1::-1]
    assert not rest["has_more"] and all("metadata" not in m for m in rest["messages"])

    since = await client.conversations_history(channel=MOD_CHANNEL, oldest=posted[2])
    assert [m["ts"] for m in since["messages"]] == posted[:2:-1]
