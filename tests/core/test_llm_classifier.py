"""The LLM backend against a local fake OpenAI-compatible server (aiohttp) speaking the real protocol."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.classifier.llm_backend import LlmClassifier, LlmOutputError, parse_answer
from bot.config import LlmSettings
from bot.domain import Category, Classification, Comment, Flag


@dataclass
class FakeServer:
    """POST /v1/chat/completions; `mode` says how to answer the next requests."""

    mode: str = "good"
    answer: dict[str, Any] = field(
        default_factory=lambda: {
            "category": "case_inquiry",
            "flags": ["personal_data"],
            "confidence": 0.87,
            "language": "nn",
        }
    )
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.mode == "timeout":
            await asyncio.sleep(2.0)
        if self.mode == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        content = {
            "good": json.dumps(self.answer),
            "fenced": "```json\n" + json.dumps(self.answer) + "\n```",
            "invalid": "Sure! The category is probably case_inquiry.",
            "bad_category": json.dumps({**self.answer, "category": "spam"}),
        }.get(self.mode, json.dumps(self.answer))
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """The fake server runs on its own event loop in a thread, so sync and async callers both work."""
    fake = FakeServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", fake.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        host, port = runner.addresses[0][:2]
        fake.base_url = f"http://{host}:{port}/v1"
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield fake
    asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class StubFallback:
    """Stands in for the embedded model."""

    version = "embedded-test"

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, comment: Comment) -> Classification:
        self.calls += 1
        return Classification(
            Category.NEUTRAL, frozenset(), 0.55, "nb", self.version, scores={"neutral": 0.55}
        )

    def classify_many(self, comments: Sequence[Comment]) -> list[Classification]:
        return [self.classify(c) for c in comments]


COMMENT = Comment(
    text="Eg har venta på svar på søknaden om SFO-plass sidan mars. Kan de sjekke?",
    post_text="SFO-plassar for hausten er no fordelte.",
    id="c1",
)


def _classifier(
    server: FakeServer, timeout_s: float = 5.0, api_key_env: str = "TEST_LLM_KEY"
) -> tuple[LlmClassifier, StubFallback]:
    fallback = StubFallback()
    settings = LlmSettings(
        base_url=server.base_url, model="fake-model", api_key_env=api_key_env, timeout_s=timeout_s
    )
    return LlmClassifier(settings, fallback=fallback), fallback


async def test_good_answer_is_used(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    llm, _ = _classifier(server)
    result = await llm.aclassify(COMMENT)
    assert result.category is Category.CASE_INQUIRY
    assert result.flags == frozenset({Flag.PERSONAL_DATA})
    assert result.confidence == pytest.approx(0.87)
    assert result.language == "nn"
    assert result.model_version.startswith("llm-fake-model")
    assert llm.fallbacks == 0
    request = server.requests[0]
    assert request["model"] == "fake-model"
    assert request["messages"][0]["role"] == "system"
    assert COMMENT.text in request["messages"][1]["content"]
    assert COMMENT.post_text in request["messages"][1]["content"]
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


async def test_no_key_sends_no_authorization(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    llm, _ = _classifier(server)
    await llm.aclassify(COMMENT)
    assert "Authorization" not in server.headers[0]


async def test_fenced_json_is_accepted(server: FakeServer) -> None:
    server.mode = "fenced"
    llm, _ = _classifier(server)
    assert (await llm.aclassify(COMMENT)).category is Category.CASE_INQUIRY


@pytest.mark.parametrize("mode", ["invalid", "bad_category", "500"])
async def test_bad_answers_fall_back_with_a_warning(
    server: FakeServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = mode
    llm, fallback = _classifier(server)
    with caplog.at_level(logging.WARNING, logger="bot.classifier.llm_backend"):
        result = await llm.aclassify(COMMENT)
    assert result.category is Category.NEUTRAL and result.model_version == "embedded-test"
    assert llm.fallbacks == 1 and fallback.calls == 1
    assert "falling back to the embedded model" in caplog.text
    assert COMMENT.text not in caplog.text  # no comment text (personal data) in the logs


async def test_timeout_falls_back(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    server.mode = "timeout"
    llm, _ = _classifier(server, timeout_s=0.2)
    with caplog.at_level(logging.WARNING, logger="bot.classifier.llm_backend"):
        result = await llm.aclassify(COMMENT)
    assert result.model_version == "embedded-test"
    assert "0.2 s" in caplog.text and "falling back" in caplog.text


async def test_unreachable_server_falls_back() -> None:
    fallback = StubFallback()
    settings = LlmSettings(base_url="http://127.0.0.1:9/v1", timeout_s=1)
    llm = LlmClassifier(settings, fallback=fallback)
    assert (await llm.aclassify(COMMENT)).category is Category.NEUTRAL


def test_sync_wrappers(server: FakeServer) -> None:
    llm, _ = _classifier(server)
    results = llm.classify_many([COMMENT, Comment(text="Takk!", id="c2")])
    assert [r.category for r in results] == [Category.CASE_INQUIRY, Category.CASE_INQUIRY]
    assert llm.classify(COMMENT).category is Category.CASE_INQUIRY
    assert llm.classify_many([]) == []


async def test_sync_wrapper_inside_a_running_loop(server: FakeServer) -> None:
    llm, _ = _classifier(server)
    assert llm.classify(COMMENT).category is Category.CASE_INQUIRY


def test_parse_answer_validates() -> None:
    good = parse_answer('{"category": "Praise", "flags": [], "confidence": 1, "language": "nb"}')
    assert good == {"category": "praise", "flags": [], "confidence": 1.0, "language": "nb"}
    for bad in (
        "[]",
        '{"category": "praise", "flags": ["spam"], "confidence": 0.5}',
        '{"category": "praise", "flags": [], "confidence": 1.5}',
        '{"category": "praise", "flags": "political", "confidence": 0.5}',
        '{"category": "praise", "flags": [], "confidence": true}',
    ):
        with pytest.raises(LlmOutputError):
            parse_answer(bad)
