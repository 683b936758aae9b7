"""The audit export: every event since a date, and every hide names the guideline clause it relied on."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.actions import HIDE_CLAUSE
from bot.errors import InputError
from bot.followup.audit_export import COLUMNS, export_audit
from bot.runtime import Services
from storage import repository as repo
from storage.db import Database
from tests.followup.conftest import MODERATOR, OSLO, audit_events, ingest, oslo

ABUSE = "Du er ein idiot og burde få sparken, din feite taper."
OWN_CLAUSE = "Retningslinjer for sosiale media, «Ytringar»: diskriminerande ytringar"


async def hidden_tasks(services: Services) -> tuple[int, int]:
    first = await ingest(services, "c1", ABUSE, created=oslo(2026, 5, 11, 10))
    second = await ingest(services, "c2", ABUSE + " Igjen.", created=oslo(2026, 5, 11, 11))
    assert first and second
    assert (await services.tasks.hide(first, MODERATOR)).changed
    assert (await services.tasks.hide(second, MODERATOR, clause=OWN_CLAUSE)).changed
    async with services.db.session() as session:  # what the Meta part records once the platform hid it
        repo.audit(session, MODERATOR, "comment_hidden", task_id=first)
    return first, second


def today() -> datetime:
    return datetime.now(UTC).astimezone(OSLO)


async def test_csv_has_every_event_and_every_hide_names_its_clause(services: Services, db: Database) -> None:
    first, second = await hidden_tasks(services)
    out = io.StringIO()

    count = await export_audit(db, today().date(), "csv", out, OSLO)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == COLUMNS
    assert count == len(rows) == len(await audit_events(db))
    hides = [row for row in rows if "hid" in row["action"]]
    assert [(row["action"], row["task_id"]) for row in hides] == [
        ("hide_requested", str(first)),
        ("hide_requested", str(second)),
        ("comment_hidden", str(first)),
    ]
    assert [row["guideline_clause"] for row in hides] == [HIDE_CLAUSE, OWN_CLAUSE, HIDE_CLAUSE]
    assert all(row["actor"] == MODERATOR for row in hides)
    created = [row for row in rows if row["action"] == "task_created"]
    assert len(created) == 2 and all(row["guideline_clause"] == "" for row in created)
    assert json.loads(created[0]["detail"])["category"]
    assert [int(row["id"]) for row in rows] == sorted(int(row["id"]) for row in rows)


async def test_json_export_matches(services: Services, db: Database) -> None:
    first, _second = await hidden_tasks(services)
    out = io.StringIO()

    await export_audit(db, today().date(), "json", out, OSLO)

    events = json.loads(out.getvalue())
    assert len(events) == len(await audit_events(db))
    [hidden] = [event for event in events if event["action"] == "comment_hidden"]
    assert hidden["task_id"] == first and hidden["guideline_clause"] == HIDE_CLAUSE
    assert set(hidden) == set(COLUMNS) and isinstance(hidden["detail"], dict)


async def test_since_excludes_earlier_events(services: Services, db: Database) -> None:
    await hidden_tasks(services)
    tomorrow = (today() + timedelta(days=1)).date()
    as_csv, as_json = io.StringIO(), io.StringIO()

    assert await export_audit(db, tomorrow, "csv", as_csv, OSLO) == 0
    await export_audit(db, tomorrow, "json", as_json, OSLO)

    assert as_csv.getvalue().strip() == ",".join(COLUMNS)
    assert json.loads(as_json.getvalue()) == []


async def test_an_unknown_format_is_refused(db: Database) -> None:
    with pytest.raises(InputError, match="csv or json"):
        await export_audit(db, today().date(), "xml", io.StringIO(), OSLO)  # type: ignore[arg-type]
