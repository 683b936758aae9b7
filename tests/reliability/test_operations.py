"""Operations: /metrics after real traffic, JSON logs on every stderr line, /healthz that tells the truth."""

from __future__ import annotations

import json
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from storage.models import TaskRow
from tests.reliability.conftest import MODERATOR, Stack, page_replies, wait_until

LOG_FIELDS = {"time", "level", "logger", "message"}


def metric_samples(exposition: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


def metric(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there are none)."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    )


async def scrape(stack: Stack, base_url: str) -> list[tuple[str, dict[str, str], float]]:
    answer = await stack.http.get(base_url + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return metric_samples(answer.text)


async def test_metrics_logs_and_health_after_real_traffic(stack: Stack) -> None:
    """Comments in, tasks by state, deadline breaches, outbox depth, Graph and Slack errors and latencies."""
    first_page, second_page = stack.pages
    stack.add_comment(first_page)  # found by the sync at start
    bot = await stack.started_bot()
    await stack.wait_all_posted(tasks=1)
    status, report = await bot.health()
    assert status == 200 and report["ok"] is True, report

    # A webhook for a comment written ten days ago: its task is past its deadline at once.
    old_comment = stack.add_comment(second_page, age_s=int(timedelta(days=10).total_seconds()))
    stack.slack.set_down(True)  # Slack answers 503 for a moment: the task message waits in the outbox
    assert (await stack.deliver(bot, old_comment)).status_code == 200
    waiting = await wait_until(
        lambda: _outbox_waiting(stack, bot.base_url),
        timeout_s=20,
        what="a Slack message waiting in the outbox",
    )
    assert waiting >= 1
    stack.slack.set_down(False)
    await stack.wait_all_posted(tasks=2)

    # A transient Graph error on publishing: retried inside the client, the reply goes out once.
    [first_task] = [task_id for task_id in await stack.task_ids()][:1]
    stack.graph.fail_next(1, code=2, method="POST")
    assert (await stack.click(bot, "task_publish", str(first_task), MODERATOR)).status_code == 200
    await wait_until(
        lambda: sum(page_replies(stack.graph).values()) == 1,
        timeout_s=20,
        what="the published reply",
    )
    await wait_until(
        lambda: stack.count(TaskRow, TaskRow.status == "answered"), timeout_s=20, what="the task answered"
    )

    samples = await scrape(stack, bot.base_url)
    assert metric(samples, "kommentarvakt_comments_ingested_total", source="poll") >= 1
    assert metric(samples, "kommentarvakt_comments_ingested_total", source="webhook") >= 1
    assert metric(samples, "kommentarvakt_tasks", status="answered") == 1
    assert metric(samples, "kommentarvakt_tasks", status="open") >= 1
    assert metric(samples, "kommentarvakt_open_tasks_past_deadline") >= 1
    assert metric(samples, "kommentarvakt_graph_requests_total", outcome="ok") >= 2
    assert metric(samples, "kommentarvakt_graph_requests_total", outcome="TransientError") >= 1
    assert metric(samples, "kommentarvakt_graph_request_seconds_count") >= 3
    assert metric(samples, "kommentarvakt_slack_requests_total", method="chat.postMessage", outcome="ok") >= 2
    assert metric(samples, "kommentarvakt_slack_requests_total", outcome="server_error") >= 1
    assert metric(samples, "kommentarvakt_slack_request_seconds_count") >= 3
    assert metric(samples, "kommentarvakt_webhook_to_task_seconds_count") >= 1

    status, report = await bot.health()
    assert status == 200 and report["ok"] is True, report
    assert bot.terminate() == 0

    lines = bot.stderr_lines()
    assert len(lines) > 10  # --log-level INFO: the run said what it did
    for line in lines:
        entry = json.loads(line)  # every line of `run` is one JSON object
        assert isinstance(entry, dict) and entry.keys() >= LOG_FIELDS, line


async def _outbox_waiting(stack: Stack, base_url: str) -> float:
    samples = await scrape(stack, base_url)
    return metric(samples, "kommentarvakt_outbox_depth", kind="slack.post_task")
