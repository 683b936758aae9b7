"""The follow-up commands as a user runs them: `python -m bot digest/audit export/erase/purge`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain import Category
from bot.runtime import Services
from storage.db import Database
from tests.followup.conftest import INQUIRY, MODERATOR, ingest, oslo, task

ROOT = Path(__file__).resolve().parents[2]
COMPLAINT = "Det er heilt uforståeleg at gangvegen til skulen framleis ikkje er brøyta. Dårleg gjort!"


def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{database_url}"

[roles]
moderators = ["{MODERATOR}"]
team_leads = ["U0LEAD"]

[[pages]]
platform = "facebook"
id = "100"
name = "Kinn kommune"
channel = "C0KINN"
access_token_env = "KINN_TOKEN"

[[pages]]
platform = "instagram"
id = "200"
name = "Kinn byggesak"
channel = "C0BYGG"
access_token_env = "BYGG_TOKEN"
team_leads = ["U0BYLEAD"]
records_office_email = "byggesak@kinn.kommune.no"
""",
        encoding="utf-8",
    )
    return path


def kommentarvakt(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "SLACK_BOT_TOKEN"}
    environment["PYTHONPATH"] = str(ROOT)
    environment.pop("KOMMENTARVAKT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def overdue(services: Services) -> dict[str, int]:
    """Two overdue tasks (one assigned), written in May 2026: overdue whenever the test runs later."""
    complaint = await ingest(
        services, "c1", COMPLAINT, created=oslo(2026, 5, 11, 10), category=Category.NEGATIVE
    )
    inquiry = await ingest(
        services,
        "c2",
        INQUIRY,
        created=oslo(2026, 5, 11, 12),
        author_id="fb-per",
        author_name="Per Hansen",
        category=Category.CASE_INQUIRY,
    )
    assert complaint and inquiry
    await services.tasks.assign(complaint, MODERATOR)
    return {"complaint": complaint, "inquiry": inquiry}


async def test_digest_print_shows_the_overdue_tasks(
    overdue: dict[str, int], db: Database, tmp_path: Path
) -> None:
    result = kommentarvakt("digest", "--print", "--config", str(config_file(tmp_path, db.url)))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Oversikt over forfalne oppgåver – ")
    assert "2 forfalne" in out and "Kinn kommune (Facebook) – 2 forfalne" in out
    assert f"@{MODERATOR}" in out and "Ikkje tildelt" in out
    assert "FORFALEN Negativ <https://www.facebook.com/100_1?comment_id=c1>" in out
    assert f"(oppgåve {overdue['complaint']})" in out and f"(oppgåve {overdue['inquiry']})" in out
    assert "frist måndag 11.05. kl. 14:00" in out
    assert "byggesøknaden min" in out


async def test_digest_send_without_a_token_queues_for_the_running_bot(
    overdue: dict[str, int], db: Database, tmp_path: Path
) -> None:
    result = kommentarvakt("digest", "--send", "--config", str(config_file(tmp_path, db.url)))

    assert result.returncode == 0, result.stderr
    assert "digest queued: 2 overdue" in result.stdout and "SLACK_BOT_TOKEN is not set" in result.stdout
    assert (
        "2 channels" not in result.stdout and "1 channels" in result.stdout
    )  # only Kinn's channel has tasks


async def test_audit_export_and_erase(overdue: dict[str, int], db: Database, tmp_path: Path) -> None:
    config = str(config_file(tmp_path, db.url))

    exported = kommentarvakt(
        "audit", "export", "--since", "2026-01-01", "--format", "csv", "--config", config
    )
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert "guideline_clause" in rows[0]
    assert {(row["action"], row["task_id"]) for row in rows} >= {
        ("task_created", str(overdue["complaint"])),
        ("assigned", str(overdue["complaint"])),
    }

    erased = kommentarvakt("erase", "--author-id", "fb-per", "--config", config)
    assert erased.returncode == 0, erased.stderr
    summary = json.loads(erased.stdout)
    assert summary["comments"] == 1 and summary["tasks_closed"] == 1
    row = await task(db, overdue["inquiry"])
    assert row.status == "closed" and row.comment.text is None and row.comment.author_name is None
    assert (await task(db, overdue["complaint"])).comment.text == COMPLAINT

    as_json = kommentarvakt(
        "audit", "export", "--since", "2026-01-01", "--format", "json", "--config", config
    )
    events = json.loads(as_json.stdout)
    [erasure] = [event for event in events if event["action"] == "erased"]
    assert erasure["actor"] == "cli" and "fb-per" not in json.dumps(erasure)


async def test_purge_prints_a_summary(overdue: dict[str, int], db: Database, tmp_path: Path) -> None:
    result = kommentarvakt("purge", "--config", str(config_file(tmp_path, db.url)))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["comments_redacted"] == 0  # nothing is closed and old enough


def test_a_bad_date_is_refused_with_status_2(tmp_path: Path, sqlite_url: str) -> None:
    result = kommentarvakt(
        "audit", "export", "--since", "gårsdagen", "--config", str(config_file(tmp_path, sqlite_url))
    )
    assert result.returncode == 2 and "--since" in result.stderr
