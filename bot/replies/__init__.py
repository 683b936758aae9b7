"""Suggested replies to comments: templates by category and flag, guarded against leaking personal data."""

from bot.replies.composer import ReplyComposer
from bot.replies.guard import PLATFORM_LIMITS
from bot.replies.templates import Templates, load_templates

__all__ = ["PLATFORM_LIMITS", "ReplyComposer", "Templates", "load_templates"]
