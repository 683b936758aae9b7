"""Export of the audit log (documentation duty; the transparency log of hidden comments)."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.errors import InputError
from storage.db import Database
from storage.models import AuditEvent

COLUMNS = ["id", "at", "at_local", "actor", "action", "task_id", "comment_id", "guideline_clause", "detail"]
HIDE_REQUEST = "hide_requested"


def is_hide(action: str) -> bool:
    """Every event about hiding a comment (requested, done, failed) must name its guideline clause."""
    return "hide" in action or "hidden" in action


async def _hide_clauses(db: Database) -> dict[int, str]:
    """The clause each task's hide was requested under (the platform's own events do not repeat it)."""
    async with db.session() as session:
        rows = await session.execute(
            select(AuditEvent.task_id, AuditEvent.detail)
            .where(AuditEvent.action == HIDE_REQUEST, AuditEvent.task_id.is_not(None))
            .order_by(AuditEvent.id)
        )
        return {
            task_id: str((detail or {}).get("guideline_clause", ""))
            for task_id, detail in rows.all()
            if (detail or {}).get("guideline_clause")
        }


async def audit_rows(db: Database, since: date, zone: ZoneInfo) -> AsyncIterator[dict[str, Any]]:
    """Every audit event from local midnight of `since`, oldest first, as flat rows."""
    start = datetime.combine(since, datetime.min.time(), tzinfo=zone)
    clauses = await _hide_clauses(db)
    async with db.session() as session:
        result = await session.stream_scalars(
            select(AuditEvent)
            .where(AuditEvent.at >= start)
            .order_by(AuditEvent.at, AuditEvent.id)
            .execution_options(yield_per=500)
        )
        async for event in result:
            detail = dict(event.detail or {})
            clause = str(detail.get("guideline_clause") or "")
            if not clause and is_hide(event.action) and event.task_id is not None:
                clause = clauses.get(event.task_id, "")
            yield {
                "id": event.id,
                "at": event.at.isoformat(),
                "at_local": event.at.astimezone(zone).isoformat(timespec="seconds"),
                "actor": event.actor,
                "action": event.action,
                "task_id": event.task_id,
                "comment_id": event.comment_id,
                "guideline_clause": clause,
                "detail": detail,
            }


async def export_audit(
    db: Database, since: date, output_format: Literal["csv", "json"], out: TextIO, zone: ZoneInfo
) -> int:
    """Write the events as CSV (detail as JSON text) or a JSON array. Returns how many were written."""
    if output_format not in ("csv", "json"):
        raise InputError(f"--format {output_format!r}: use csv or json")
    count = 0
    if output_format == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        async for row in audit_rows(db, since, zone):
            row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
            count += 1
        return count
    out.write("[")
    async for row in audit_rows(db, since, zone):
        out.write(("," if count else "") + "\n  " + json.dumps(row, ensure_ascii=False, sort_keys=True))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
