"""The weekly report: figures, trend against the week before, and a readable PNG chart queued to Slack."""

from __future__ import annotations

import base64
import io
from datetime import datetime

from matplotlib import image as mpimg
from sqlalchemy import update

from bot.domain import Category
from bot.followup.component import FollowUpComponent
from bot.followup.report import PNG_SIGNATURE, build_weekly_report
from bot.runtime import Services
from bot.scheduler import Scheduler
from storage.db import Database
from storage.models import TaskRow
from tests.followup.conftest import BYGG, INQUIRY, Clock, ingest, oslo, outbox

COMPLAINT = "Det er heilt uforståeleg at gangvegen til skulen framleis ikkje er brøyta. Dårleg gjort!"
PRAISE = "Tusen takk til dei flinke folka på biblioteket for ein kjekk forfattarkveld!"
REPORT_TIME = oslo(2026, 5, 18, 8, 0)  # Monday: the report covers 11–17 May, compared with 4–10 May


async def respond(db: Database, task_id: int | None, at: datetime) -> None:
    """What publishing a reply records on the task (done by the Meta part in production)."""
    assert task_id is not None
    async with db.session() as session:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == task_id)
            .values(first_response_at=at, status="answered", handled_at=at)
        )


async def two_weeks(services: Services) -> None:
    db = services.db
    # Week 20: four comments; answered after 1 h (in time), 22.5 h (late) and 30 min; one still open.
    a = await ingest(services, "a", COMPLAINT, created=oslo(2026, 5, 11, 10), category=Category.NEGATIVE)
    await respond(db, a, oslo(2026, 5, 11, 11))
    b = await ingest(services, "b", INQUIRY, created=oslo(2026, 5, 11, 12), category=Category.CASE_INQUIRY)
    await respond(db, b, oslo(2026, 5, 12, 10, 30))
    await ingest(
        services,
        "c",
        COMPLAINT + " Igjen.",
        created=oslo(2026, 5, 12, 9),
        page=BYGG,
        post_id="200_1",
        category=Category.NEGATIVE,
    )
    d = await ingest(services, "d", PRAISE, created=oslo(2026, 5, 13, 10), category=Category.PRAISE)
    await respond(db, d, oslo(2026, 5, 13, 10, 30))
    # Week 19: two complaints; answered after 2 h (in time) and 24 h (late).
    e = await ingest(
        services, "e", COMPLAINT + " Tysdag.", created=oslo(2026, 5, 5, 10), category=Category.NEGATIVE
    )
    await respond(db, e, oslo(2026, 5, 5, 12))
    f = await ingest(
        services, "f", COMPLAINT + " Onsdag.", created=oslo(2026, 5, 6, 10), category=Category.NEGATIVE
    )
    await respond(db, f, oslo(2026, 5, 7, 10))
    # This week: not in the report.
    await ingest(
        services, "g", COMPLAINT + " Måndag.", created=oslo(2026, 5, 18, 7), category=Category.NEGATIVE
    )


async def test_figures_and_trend(services: Services) -> None:
    await two_weeks(services)

    report = await build_weekly_report(services, REPORT_TIME)

    this, last = report.this_week, report.last_week
    assert (this.total, last.total) == (4, 2)
    assert dict(this.per_category) == {"negative": 2, "case_inquiry": 1, "praise": 1}
    assert dict(this.per_page) == {"Kinn kommune (Facebook)": 3, "Kinn byggesak (Instagram)": 1}
    assert this.median_first_response_s == 3600 and last.median_first_response_s == 13 * 3600
    assert (this.within_deadline, this.judged) == (2, 4)  # the open overdue task counts as missed
    assert (last.within_deadline, last.judged) == (1, 2)
    text = report.text
    assert text.startswith("*Vekerapport veke 20 (11.05.–17.05.2026)*")
    assert "Kommentarar som trong oppfølging: *4* (+2 frå veka før, som hadde 2)" in text
    assert "Mediantid til første svar: *1 t* (veka før: 13 t, no raskare)" in text
    assert "Svart innan fristen: *50 %* av 4 (veka før: 50 %, uendra)" in text
    assert "*Per kategori:* Skryt 1 (+1), Negativ 2 (uendra), Sakshandsaming 1 (+1)" in text
    assert "*Per side:* Kinn kommune (Facebook) 3, Kinn byggesak (Instagram) 1" in text


async def test_the_chart_is_a_readable_png(services: Services) -> None:
    await two_weeks(services)

    report = await build_weekly_report(services, REPORT_TIME)

    assert report.png.startswith(PNG_SIGNATURE) and len(report.png) > 10_000
    pixels = mpimg.imread(io.BytesIO(report.png), format="png")
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 800
    assert pixels.std() > 0.05  # not a blank image: there are bars and text on it


async def test_an_empty_week_still_makes_a_report(services: Services) -> None:
    report = await build_weekly_report(services, REPORT_TIME)
    assert report.this_week.total == 0 and report.png.startswith(PNG_SIGNATURE)
    assert "Svart innan fristen: *–*" in report.text


async def test_the_scheduled_report_is_uploaded_once_per_channel(services: Services, db: Database) -> None:
    await two_weeks(services)
    clock = Clock(oslo(2026, 5, 18, 8, 2))
    component = FollowUpComponent(services, clock=clock)
    jobs = [job for job in component.jobs() if job.name == "followup.weekly_report"]

    await Scheduler(services, jobs, clock=clock).catch_up()
    await Scheduler(services, jobs, clock=clock).catch_up()

    files = await outbox(db, ["slack.file"])
    assert sorted(m.payload["channel"] for m in files) == ["C0ADMIN", "C0BYGG", "C0KINN"]
    for message in files:
        assert message.lane == f"slack:{message.payload['channel']}"
        assert message.payload["filename"] == "vekerapport-2026-20.png"
        assert message.payload["comment"].startswith("*Vekerapport veke 20")
        png = base64.b64decode(message.payload["content_b64"])
        assert png.startswith(PNG_SIGNATURE)
        assert mpimg.imread(io.BytesIO(png), format="png").ndim == 3
    assert (await component.health())["last_weekly_report"] == clock.now.isoformat()
