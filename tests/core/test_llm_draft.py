"""LLM drafting against a local OpenAI-compatible server: good drafts are used, anything doubtful is not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import LlmSettings, ReplySettings
from bot.domain import Category, Classification, Comment, Fact, Flag
from bot.replies import ReplyComposer
from bot.replies.llm_draft import LlmReplyDrafter

EMAIL = "postmottak@kinn.kommune.no"
PHONE = "57 75 20 00"
SIGNATURE = "Helsing Kinn kommune"
POOL = Fact("Symjehallen opnar att 1. september.", ("symjehall",), "https://kinn.kommune.no/symjehall")


class FakeChatApi:
    """A minimal OpenAI-compatible chat-completions server that records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.content: str | None = "Hei!"
        self.status = 200
        self.delay_s = 0.0
        self.released = asyncio.Event()

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if self.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), self.delay_s)
        if self.status != 200:
            error = {"error": {"message": "model overloaded", "type": "server_error"}}
            return web.json_response(error, status=self.status)
        return web.json_response(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
            }
        )


@pytest.fixture
async def chat_api() -> AsyncIterator[tuple[FakeChatApi, str]]:
    fake = FakeChatApi()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.completions)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/v1"))
    fake.released.set()
    await server.close()


def make_drafter(base_url: str, **llm: object) -> LlmReplyDrafter:
    settings = ReplySettings(records_office_email=EMAIL, phone=PHONE, signature=SIGNATURE)
    composer = ReplyComposer(settings, facts=[POOL])
    llm_settings = LlmSettings.model_validate({"base_url": base_url, "model": "normistral", **llm})
    return LlmReplyDrafter(llm_settings, composer)


def verdict(category: str, *flags: str) -> Classification:
    return Classification(Category(category), frozenset(Flag(f) for f in flags), 0.9, "nn")


QUESTION = Comment(
    text="Når opnar symjehallen att? Ring meg gjerne på 917 33 482", id="q1", author_name="Kari Nordmann"
)
GOOD_DRAFT = (
    "Hei, Kari! Så bra at du spør. Symjehallen opnar att 1. september, og du finn meir om det her: "
    "https://kinn.kommune.no/symjehall\n\nHelsing Kinn kommune"
)


async def test_a_draft_that_passes_every_guard_is_used(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert reply.text == GOOD_DRAFT
    assert "language model" in reply.note
    assert len(fake.requests) == 1 and fake.requests[0]["path"] == "/v1/chat/completions"


async def test_the_prompt_carries_the_guidelines_and_the_template_but_not_personal_data(
    chat_api: tuple[FakeChatApi, str],
) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT
    drafter = make_drafter(base_url)
    template = drafter.composer.compose(QUESTION, verdict("neutral"))
    await drafter.draft(QUESTION, verdict("neutral"))
    body = fake.requests[0]["body"]
    assert body["model"] == "normistral" and body["stream"] is False
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    for rule in ("kommunedirektøren si innstilling", "dokumentasjonsplikt", "politisk og religiøst nøytrale"):
        assert rule in system["content"]
    assert "Nynorsk" in system["content"] and SIGNATURE in system["content"]
    assert template.text and template.text in user["content"]
    assert "917 33 482" not in user["content"]


async def test_timeout_falls_back_to_the_template(
    chat_api: tuple[FakeChatApi, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT
    fake.delay_s = 5
    drafter = make_drafter(base_url, timeout_s=0.3)
    with caplog.at_level(logging.WARNING, logger="bot.replies.llm_draft"):
        reply = await drafter.draft(QUESTION, verdict("neutral"))
    assert reply.text == drafter.composer.compose(QUESTION, verdict("neutral")).text
    assert "did not answer" in reply.note
    assert "did not answer" in caplog.text and "q1" in caplog.text
    assert "917 33 482" not in caplog.text


async def test_a_draft_that_leaks_a_phone_number_falls_back(
    chat_api: tuple[FakeChatApi, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT.replace("Så bra at du spør.", "Vi ringjer deg på 917 33 482.")
    drafter = make_drafter(base_url)
    with caplog.at_level(logging.WARNING, logger="bot.replies.llm_draft"):
        reply = await drafter.draft(QUESTION, verdict("neutral"))
    assert "917 33 482" not in (reply.text or "")
    assert reply.text == drafter.composer.compose(QUESTION, verdict("neutral")).text
    assert "phone" in reply.note and "phone" in caplog.text
    assert "917 33 482" not in caplog.text


async def test_a_draft_with_an_invented_number_falls_back(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT.replace("Så bra at du spør.", "Ring vakta på 12345678.")
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert "12345678" not in (reply.text or "") and "LLM draft not used" in reply.note


async def test_an_empty_draft_falls_back(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    for content in ("", "   ", None):
        fake.content = content
        reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
        assert reply.text and POOL.link in reply.text
        assert "not used" in reply.note


async def test_a_server_error_falls_back(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.status = 503
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert reply.text and "HTTP 503" in reply.note


async def test_an_unreachable_server_falls_back() -> None:
    reply = await make_drafter("http://127.0.0.1:9/v1", timeout_s=2).draft(QUESTION, verdict("neutral"))
    assert reply.text and "could not be reached" in reply.note


async def test_a_draft_in_bokmal_is_not_used_for_a_nynorsk_reply(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT.replace("Så bra at du spør.", "Hva bra at du spør, jeg sjekker ikke mer.")
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert "jeg" not in (reply.text or "")
    assert "not in Nynorsk" in reply.note


async def test_a_draft_that_drops_the_source_link_is_not_used(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = "Hei, Kari! Symjehallen opnar att 1. september.\n\nHelsing Kinn kommune"
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert POOL.link in (reply.text or "") and "dropped" in reply.note


async def test_a_draft_over_the_length_limit_is_not_used(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT.replace("Så bra at du spør.", "Så bra at du spør. " * 200)
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert len(reply.text or "") <= 2000 and "over the limit" in reply.note


async def test_a_missing_signature_is_added(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT.removesuffix("\n\nHelsing Kinn kommune")
    reply = await make_drafter(base_url).draft(QUESTION, verdict("neutral"))
    assert reply.text == GOOD_DRAFT


async def test_urgent_draft_must_keep_the_emergency_numbers(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    fake.content = "Vi har sett meldinga di og følgjer opp no.\n\nHelsing Kinn kommune"
    urgent = Comment(text="Det brenn i lyngen bak husa no!", id="u1")
    reply = await make_drafter(base_url).draft(urgent, verdict("case_inquiry", "urgent"))
    text = reply.text or ""
    assert "110" in text and "112" in text and "113" in text and reply.escalate


async def test_abusive_comment_is_never_sent_to_the_model(chat_api: tuple[FakeChatApi, str]) -> None:
    fake, base_url = chat_api
    reply = await make_drafter(base_url).draft(
        Comment(text="Idiotar alle saman", id="a1"), verdict("negative", "abusive")
    )
    assert reply.text is None and reply.recommend_hide
    assert fake.requests == []


async def test_the_api_key_is_sent_when_configured(
    chat_api: tuple[FakeChatApi, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, base_url = chat_api
    fake.content = GOOD_DRAFT
    monkeypatch.setenv("KV_TEST_LLM_KEY", "sk-test-123")
    await make_drafter(base_url, api_key_env="KV_TEST_LLM_KEY").draft(QUESTION, verdict("neutral"))
    assert fake.requests[0]["headers"].get("Authorization") == "Bearer sk-test-123"
