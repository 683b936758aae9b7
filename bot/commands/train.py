"""`kommentarvakt train`: rebuild the embedded classifier, optionally with moderators' feedback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import InputError


def run_train_command(
    output: str | None, corpora: list[str], include_feedback: bool, settings: Settings
) -> dict[str, Any]:
    from bot.classifier.train_cli import run_train

    for corpus in corpora:
        if not Path(corpus).is_file():
            raise InputError(f"{corpus}: no such corpus file")
    feedback = _feedback_rows(settings) if include_feedback else []
    return run_train(output, corpora, feedback)


def _feedback_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every comment a moderator reclassified, with the moderator's category (the newest wins)."""
    import asyncio

    from sqlalchemy import select

    from storage.db import Database
    from storage.models import ClassificationRow, CommentRow, Post

    async def load() -> list[dict[str, Any]]:
        database = Database(settings.database.url)
        try:
            await database.check()
            async with database.session() as session:
                rows = await session.execute(
                    select(ClassificationRow, CommentRow.text, Post.text)
                    .join(CommentRow, CommentRow.id == ClassificationRow.comment_id)
                    .outerjoin(Post, Post.id == CommentRow.post_id)
                    .where(ClassificationRow.is_feedback.is_(True), CommentRow.text.is_not(None))
                    .order_by(ClassificationRow.id)
                )
                latest: dict[int, dict[str, Any]] = {}
                for row, text, post_text in rows.all():
                    latest[row.comment_id] = {
                        "id": f"feedback-{row.comment_id}",
                        "text": text,
                        "post_text": post_text or "",
                        "label": row.category,
                        "flags": [f for f in row.flags.split(",") if f],
                    }
                return list(latest.values())
        finally:
            await database.close()

    return asyncio.run(load())

