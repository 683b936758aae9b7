"""Optional LLM drafting: an OpenAI-compatible chat model polishes the template reply, same guards."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from typing import Any

import httpx

from bot.classifier.pii import mask_personal_data
from bot.config import LlmSettings
from bot.domain import Classification, Comment, SuggestedReply
from bot.replies.composer import ReplyComposer
from bot.replies.guard import foreign_words, missing_essentials

logger = logging.getLogger(__name__)

STANDARD_NAMES = {"nn": "Nynorsk", "nb": "Bokmål"}
_FENCE = re.compile(r"^```\w*\s*|\s*```$")
_MASK = re.compile(r"\[[a-z_]+\]")  # what mask_personal_data leaves, e.g. [phone]


class LlmReplyDrafter:
    """Asks a chat model to improve the template reply; any doubt and the template reply stands."""

    def __init__(
        self,
        llm_settings: LlmSettings,
        composer: ReplyComposer,
        *,
        client: httpx.AsyncClient | None = None,
        api_key: str | None = None,
    ) -> None:
        self.settings = llm_settings
        self.composer = composer
        self._client = client
        self._api_key = api_key

    async def draft(
        self,
        comment: Comment,
        classification: Classification,
        *,
        thread_length: int = 0,
        language: str | None = None,
    ) -> SuggestedReply:
        """The model's reply if it passes every guard, else the template reply (and the log says why)."""
        template = self.composer.compose(
            comment, classification, thread_length=thread_length, language=language
        )
        if template.text is None:
            return template  # abusive: no public reply, and nothing to send to a model
        try:
            content = await self._complete(self.messages(comment, classification, template))
        except httpx.TimeoutException:
            reason = f"the model did not answer within {self.settings.timeout_s} s"
            return self._fallback(comment, template, reason)
        except httpx.HTTPStatusError as error:
            reason = f"the model API answered HTTP {error.response.status_code}"
            return self._fallback(comment, template, reason)
        except httpx.HTTPError as error:
            reason = f"the model API could not be reached ({type(error).__name__})"
            return self._fallback(comment, template, reason)
        except (ValueError, KeyError, IndexError, TypeError):
            return self._fallback(comment, template, "the model API answer was not a chat completion")
        text = self._finish(_clean(content), template.language)
        rejection = self._rejection(comment, template, text)
        if rejection:
            return self._fallback(comment, template, rejection)
        note = f"Drafted by the language model ({self.settings.model}) from the template: read it first."
        return replace(template, text=text, note=f"{template.note} {note}".strip())

    def messages(
        self, comment: Comment, classification: Classification, template: SuggestedReply
    ) -> list[dict[str, str]]:
        """The chat messages: the guideline rules as the system prompt, the template reply to start from."""
        language = template.language
        system = (
            self.composer.templates.system_prompt.replace("{standard}", STANDARD_NAMES[language])
            .replace("{max_length}", str(self.composer.length_limit(comment)))
            .replace("{signature}", self.composer.signature(language))
        )
        name = self.composer.first_name(comment, classification)
        user = "\n".join(
            [
                f"Post: {comment.post_text or '(none)'}",
                f"Comment (personal data masked): {mask_personal_data(comment.text)}",
                f"Category: {classification.category.value}",
                f"Flags: {', '.join(classification.sorted_flags) or 'none'}",
                f"Commenter's first name: {name or 'unknown (use no name)'}",
                "",
                "Draft reply to start from:",
                template.text or "",
            ]
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def _complete(self, messages: list[dict[str, str]]) -> str:
        url = self.settings.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        api_key = self._api_key or os.environ.get(self.settings.api_key_env, "")
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        body = {"model": self.settings.model, "messages": messages, "temperature": 0.3, "stream": False}
        timeout = self.settings.timeout_s
        if self._client is not None:
            response = await self._client.post(url, json=body, headers=headers, timeout=timeout)
        else:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(url, json=body, headers=headers)
        response.raise_for_status()
        payload: Any = response.json()
        content = payload["choices"][0]["message"]["content"]
        return content if isinstance(content, str) else ""

    def _finish(self, text: str, language: str) -> str:
        """The draft with the signature on its own last line, as every reply has."""
        signature = self.composer.signature(language)
        if text and signature and not text.rstrip().endswith(signature):
            text = f"{text.rstrip()}\n\n{signature}"
        return text

    def _rejection(self, comment: Comment, template: SuggestedReply, text: str) -> str | None:
        if not text.strip():
            return "the model returned an empty reply"
        limit = self.composer.length_limit(comment)
        if len(text) > limit:
            return f"the draft is {len(text)} characters, over the limit of {limit}"
        if _MASK.search(text):
            return "the draft contains a masked piece of the comment"
        problems = self.composer.problems(comment, text, template.language)
        if problems:
            return "; ".join(problems)
        lost = missing_essentials(template.text or "", text)
        if lost:
            return f"the draft dropped {len(lost)} link(s), address(es) or number(s) of the template reply"
        foreign = self.composer.templates.cues.foreign_words[template.language]
        mixed = foreign_words(text, foreign) - foreign_words(template.text or "", foreign)
        if mixed:
            standard = STANDARD_NAMES[template.language]
            return f"the draft is not in {standard} (it uses {', '.join(sorted(mixed))})"
        return None

    def _fallback(self, comment: Comment, template: SuggestedReply, reason: str) -> SuggestedReply:
        # the reason names kinds of problems, never the comment's text
        logger.warning("LLM draft for comment %s not used: %s", comment.id or "(no id)", reason)
        note = f"LLM draft not used ({reason}); this is the template reply."
        return replace(template, note=f"{template.note} {note}".strip())


def _clean(content: str) -> str:
    text = _FENCE.sub("", content.strip()).strip()
    closing = {'"': '"', "'": "'", "«": "»", "“": "”"}
    if len(text) >= 2 and closing.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text
