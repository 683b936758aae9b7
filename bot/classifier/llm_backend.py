"""Classification by any OpenAI-compatible chat-completions API, with the embedded model as the fallback.

POST {base_url}/chat/completions with the comment and its post; the model must answer with strict JSON
{"category", "flags", "confidence", "language"}. A timeout, an HTTP error or an answer that does not
validate makes the classifier use the fallback for that comment and log a warning that says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import httpx

from bot.classifier import Classifier
from bot.config import LlmSettings
from bot.domain import Category, Classification, Comment, Flag

log = logging.getLogger(__name__)

CATEGORY_NAMES = tuple(c.value for c in Category)
FLAG_NAMES = tuple(sorted(f.value for f in Flag))
MAX_CONCURRENCY = 4
SAFETY_FLAGS = frozenset({Flag.PERSONAL_DATA, Flag.URGENT})
MAX_COMMENT_CHARS = 4000
MAX_POST_CHARS = 2000

SYSTEM_PROMPT = """\
You triage comments on a Norwegian municipality's official Facebook and Instagram pages.
Judge each comment together with the post it was written under. Answer with one JSON object only:
{"category": "...", "flags": [...], "confidence": 0.0-1.0, "language": "ISO 639-1 code or und"}

category (exactly one):
- praise: thanks, compliments, enthusiasm about the municipality, its staff or an event.
- neutral: neutral remarks; general questions that public information answers (opening hours, where,
  when, how to sign up); tagging a friend; emoji-only comments without clear tone.
- negative: criticism, complaints, frustration, sarcasm, disagreement, without a factual claim that
  needs correcting and without a request for case handling.
- factual_error: states or spreads something wrong about municipal matters: contradicts the post or
  known facts (wrong date, price, place, rule), rumours presented as fact, misinformation. Tone does
  not matter: an angry comment built on a wrong claim is factual_error.
- case_inquiry: asks the municipality to decide, do or look into something about a specific person,
  property or case: status of one's own application, a complaint or appeal on a decision, a request
  for a permit or exemption, a request for access to documents (innsyn), a concern about a child or a
  vulnerable person, a report that needs formal follow-up.
Tie-breaks: case_inquiry beats everything, then factual_error, then negative/praise, neutral last.
A question about general rules is neutral; a question about one's own case is case_inquiry.

flags (any number, [] if none):
- political: about a pending or decided political matter (budget, school structure, zoning, mergers, tolls).
- personal_data: reveals personal data about the writer or others (national ID number, health, child
  welfare, addresses with names, phone numbers, case details).
- abusive: harassment, hate speech, slurs, threats, discrimination.
- urgent: danger to life, health or property right now, or a threat of violence or self-harm.

language: nn (Nynorsk), nb (Bokmål), en, pl, uk, ... or und. confidence: how sure you are.
Output the JSON object and nothing else."""

T = TypeVar("T")


class LlmOutputError(ValueError):
    """The model's answer is not the JSON object the contract asks for."""


def build_messages(comment: Comment) -> list[dict[str, str]]:
    post = (comment.post_text or "").strip()[:MAX_POST_CHARS] or "(no post text)"
    text = (comment.text or "").strip()[:MAX_COMMENT_CHARS]
    user = f"Post:\n<<<\n{post}\n>>>\n\nComment:\n<<<\n{text}\n>>>\n\nAnswer with the JSON object."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_answer(content: str) -> dict[str, Any]:
    """Validate the model's answer; raise LlmOutputError naming what is wrong."""
    match = _FENCE.match(content or "")
    raw = match.group(1) if match else (content or "").strip()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise LlmOutputError(f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise LlmOutputError("not a JSON object")
    category = data.get("category")
    if not isinstance(category, str) or category.strip().lower() not in CATEGORY_NAMES:
        raise LlmOutputError(f"unknown category {category!r}")
    flags = data.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise LlmOutputError("flags is not a list of strings")
    unknown = [f for f in flags if f.strip().lower() not in FLAG_NAMES]
    if unknown:
        raise LlmOutputError(f"unknown flags {unknown!r}")
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise LlmOutputError(f"confidence {confidence!r} is not a number from 0 to 1")
    language = data.get("language", "und")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}", language.strip().lower()):
        language = "und"
    return {
        "category": category.strip().lower(),
        "flags": sorted({f.strip().lower() for f in flags}),
        "confidence": float(confidence),
        "language": language.strip().lower(),
    }


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already has a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target, name="llm-classify")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


class LlmClassifier:
    """Classifier protocol over an OpenAI-compatible API; falls back to `fallback` on any failure."""

    def __init__(
        self,
        llm_settings: LlmSettings,
        fallback: Classifier,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        self.settings = llm_settings
        self.fallback = fallback
        self.version = f"llm-{llm_settings.model}+{fallback.version}"
        self._transport = transport
        self._max_concurrency = max(1, max_concurrency)
        self.fallbacks = 0  # how many comments the fallback classified (for tests and metrics)

    @property
    def url(self) -> str:
        return self.settings.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.settings.api_key_env, "") if self.settings.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout_s), transport=self._transport, headers=self._headers()
        )

    async def _ask(self, client: httpx.AsyncClient, comment: Comment) -> dict[str, Any]:
        body = {
            "model": self.settings.model,
            "messages": build_messages(comment),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        response = await client.post(self.url, json=body)
        response.raise_for_status()
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LlmOutputError("the response is not a chat completion") from None
        return parse_answer(content if isinstance(content, str) else "")

    async def _classify_with(self, client: httpx.AsyncClient, comment: Comment) -> Classification:
        try:
            answer = await self._ask(client, comment)
        except (TimeoutError, httpx.TimeoutException):
            return self._fall_back(comment, f"no answer within {self.settings.timeout_s:g} s")
        except httpx.HTTPStatusError as error:
            return self._fall_back(comment, f"HTTP {error.response.status_code}")
        except httpx.HTTPError as error:
            return self._fall_back(comment, f"{type(error).__name__}")
        except LlmOutputError as error:
            return self._fall_back(comment, f"invalid output: {error}")
        return self._merge(comment, answer)

    def _merge(self, comment: Comment, answer: dict[str, Any]) -> Classification:
        """The LLM's verdict, plus the rule detectors' flags, fact and political matter."""
        rules = self.fallback.classify(comment)
        # personal data and danger must never be missed: the rule detectors' verdicts on those stay
        flags = {Flag(f) for f in answer["flags"]} | (rules.flags & SAFETY_FLAGS)
        language = answer["language"] if answer["language"] != "und" else rules.language
        category = Category(answer["category"])
        return replace(
            rules,
            category=category,
            flags=frozenset(flags),
            confidence=round(answer["confidence"], 4),
            language=language,
            model_version=self.version,
            scores={
                name: round(answer["confidence"], 4) if name == category.value else 0.0
                for name in CATEGORY_NAMES
            },
        )

    def _fall_back(self, comment: Comment, reason: str) -> Classification:
        self.fallbacks += 1
        log.warning(
            "LLM classifier at %s failed (%s) for comment %s; falling back to the embedded model %s",
            self.settings.base_url,
            reason,
            comment.id or "(no id)",
            self.fallback.version,
        )
        return self.fallback.classify(comment)

    async def aclassify(self, comment: Comment) -> Classification:
        async with self._client() as client:
            return await self._classify_with(client, comment)

    async def aclassify_many(self, comments: Sequence[Comment]) -> list[Classification]:
        semaphore = asyncio.Semaphore(self._max_concurrency)

        async def one(client: httpx.AsyncClient, comment: Comment) -> Classification:
            async with semaphore:
                return await self._classify_with(client, comment)

        async with self._client() as client:
            return list(await asyncio.gather(*(one(client, c) for c in comments)))

    def classify(self, comment: Comment) -> Classification:
        return _run_sync(self.aclassify(comment))

    def classify_many(self, comments: Sequence[Comment]) -> list[Classification]:
        if not comments:
            return []
        return _run_sync(self.aclassify_many(comments))
