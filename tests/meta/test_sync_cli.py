"""`python -m bot sync` as a subprocess against the fake Graph API running in a thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.slack_api import FakeSlackAPI
from tests.meta.conftest import FB_PAGE_ID, FB_TOKEN, FB_TOKEN_ENV, IG_TOKEN, IG_TOKEN_ENV, IG_USER_ID

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    fake = FakeGraphAPI()
    fake.add_page(FB_PAGE_ID, "Kinn kommune", token=FB_TOKEN)
    fake.add_ig_user(IG_USER_ID, "kinnkommune", token=IG_TOKEN)
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture
def config_file(tmp_path: Path, graph: FakeGraphAPI) -> Path:
    return write_config(tmp_path, graph)


def write_config(tmp_path: Path, graph: FakeGraphAPI, slack: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{tmp_path / "kommentarvakt.db"}"

[meta]
graph_api_url = "{graph.base_url}"
max_retries = 1

[slack]
bot_token_env = "TEST_SLACK_BOT_TOKEN_UNSET"
admin_channel = "CADMIN"
{slack}

[[pages]]
platform = "facebook"
id = "{FB_PAGE_ID}"
name = "Kinn kommune"
channel = "CFB"
access_token_env = "{FB_TOKEN_ENV}"

[[pages]]
platform = "instagram"
id = "{IG_USER_ID}"
name = "Kinn kommune på Instagram"
channel = "CIG"
access_token_env = "{IG_TOKEN_ENV}"
""",
        encoding="utf-8",
    )
    return path


def run_sync(
    config: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "TEST_SLACK_BOT_TOKEN_UNSET"}
    environment.update({FB_TOKEN_ENV: FB_TOKEN, IG_TOKEN_ENV: IG_TOKEN, "PYTHONPATH": str(REPO)})
    environment.update(env or {})
    for key, value in list(environment.items()):
        if value == "":
            del environment[key]
    return subprocess.run(
        [sys.executable, "-m", "bot", "sync", "--config", str(config), *extra],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def summary_of(process: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(process.stdout)


def page_summary(summary: dict[str, Any], platform: str) -> dict[str, Any]:
    return next(page for page in summary["pages"] if page["platform"] == platform)


def seed(graph: FakeGraphAPI) -> None:
    now = int(time.time())
    post_id = graph.add_post(FB_PAGE_ID, "Symjehallen opnar 1. september.", created_time=now - 7200)
    first = graph.add_comment(post_id, "Kva kostar eit årskort?", created_time=now - 3600)
    graph.add_comment(first, "Lurer på det same", from_id="777", created_time=now - 3000)
    graph.add_comment(
        post_id, "Takk for info!", from_id=FB_PAGE_ID, from_name="Kinn kommune", created_time=now - 60
    )
    media_id = graph.add_media(IG_USER_ID, "Biblioteket", timestamp=now - 7200)
    graph.add_ig_comment(media_id, "Kor lenge er det ope?", timestamp=now - 600)


def test_sync_stores_new_comments_and_a_second_run_finds_nothing_new(
    graph: FakeGraphAPI, config_file: Path
) -> None:
    seed(graph)
    first = run_sync(config_file)
    assert first.returncode == 0, first.stderr
    summary = summary_of(first)
    facebook, instagram = page_summary(summary, "facebook"), page_summary(summary, "instagram")
    assert (facebook["new_comments"], facebook["tasks"], facebook["from_page"]) == (3, 2, 1)
    assert (instagram["new_comments"], instagram["tasks"]) == (1, 1)
    assert summary["failed_pages"] == []
    assert summary["slack"]["waiting"] == 3 and "TEST_SLACK_BOT_TOKEN_UNSET" in summary["slack"]["note"]

    graph.reset_requests()
    second = run_sync(config_file)
    assert second.returncode == 0, second.stderr
    again = summary_of(second)
    assert again["totals"]["new_comments"] == 0 and again["totals"]["tasks"] == 0
    assert page_summary(again, "facebook")["calls"] == 1 and page_summary(again, "instagram")["calls"] == 1
    assert graph.call_count == 2


def test_a_missing_token_variable_exits_2_naming_the_key(graph: FakeGraphAPI, config_file: Path) -> None:
    process = run_sync(config_file, env={FB_TOKEN_ENV: ""})
    assert process.returncode == 2
    assert "pages.0.access_token_env" in process.stderr and FB_TOKEN_ENV in process.stderr
    assert graph.call_count == 0


def test_a_failing_page_exits_1_and_the_other_page_is_synced(graph: FakeGraphAPI, config_file: Path) -> None:
    seed(graph)
    graph.expire_token(FB_TOKEN, subcode=467)
    process = run_sync(config_file)
    assert process.returncode == 1
    summary = summary_of(process)
    assert summary["failed_pages"] == [f"facebook/{FB_PAGE_ID}"]
    assert page_summary(summary, "instagram")["new_comments"] == 1
    assert FB_TOKEN not in process.stdout and FB_TOKEN not in process.stderr


def test_backfill_reaches_old_comments_and_shows_progress(graph: FakeGraphAPI, config_file: Path) -> None:
    now = int(time.time())
    post_id = graph.add_post(FB_PAGE_ID, "Gammalt innlegg", created_time=now - 9 * 86400)
    graph.add_comment(post_id, "Gammal kommentar", created_time=now - 8 * 86400)
    plain = run_sync(config_file)
    assert page_summary(summary_of(plain), "facebook")["new_comments"] == 0
    backfill = run_sync(config_file, "--backfill-days", "10")
    assert backfill.returncode == 0, backfill.stderr
    assert page_summary(summary_of(backfill), "facebook")["new_comments"] == 1
    assert "Kinn kommune" in backfill.stderr  # the progress bar names each page


def test_new_tasks_are_posted_to_slack_once_when_a_bot_token_is_set(
    graph: FakeGraphAPI, tmp_path: Path
) -> None:
    seed(graph)
    slack = FakeSlackAPI()
    slack.start_in_thread()
    try:
        config = write_config(
            tmp_path, graph, f'api_url = "{slack.base_url}"\nbot_token_env = "TEST_SLACK_TOKEN"'
        )
        config.write_text(config.read_text().replace('bot_token_env = "TEST_SLACK_BOT_TOKEN_UNSET"\n', ""))
        process = run_sync(config, env={"TEST_SLACK_TOKEN": "xoxb-test-sync-token"})
        assert process.returncode == 0, process.stderr
        summary = summary_of(process)
        assert summary["slack"]["posted"] == 3 and summary["slack"]["waiting"] == 0
        channels = sorted(call.body["channel"] for call in slack.calls("chat.postMessage"))
        assert channels == ["CFB", "CFB", "CIG"]
        again = run_sync(config, env={"TEST_SLACK_TOKEN": "xoxb-test-sync-token"})
        assert summary_of(again)["slack"]["posted"] == 0
        assert len(slack.calls("chat.postMessage")) == 3
    finally:
        slack.stop_thread()
