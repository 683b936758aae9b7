"""`kommentarvakt db upgrade`."""

from __future__ import annotations

from bot.config import Settings
from storage.db import Database
from storage.migrations import upgrade_async


async def upgrade_database(settings: Settings) -> None:
    """Check the database is reachable, then apply every migration."""
    database = Database(settings.database.url)
    try:
        await database.check()
    finally:
        await database.close()
    await upgrade_async(settings.database.url)
