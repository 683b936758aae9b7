"""Prometheus metrics. Counters are updated where things happen; gauges are refreshed on each scrape."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select

from storage.db import Database
from storage.models import OutboxMessage, TaskRow

REGISTRY = CollectorRegistry()

COMMENTS_INGESTED = Counter(
    "kommentarvakt_comments_ingested_total", "New comments stored", ["platform", "source"], registry=REGISTRY
)
TASKS = Gauge("kommentarvakt_tasks", "Tasks by status", ["status"], registry=REGISTRY)
DEADLINE_BREACHES = Gauge(
    "kommentarvakt_open_tasks_past_deadline", "Open tasks whose deadline has passed", registry=REGISTRY
)
OUTBOX_DEPTH = Gauge("kommentarvakt_outbox_depth", "Pending outgoing calls", ["kind"], registry=REGISTRY)
GRAPH_REQUESTS = Counter(
    "kommentarvakt_graph_requests_total", "Graph API requests", ["outcome"], registry=REGISTRY
)
GRAPH_LATENCY = Histogram("kommentarvakt_graph_request_seconds", "Graph API request time", registry=REGISTRY)
SLACK_REQUESTS = Counter(
    "kommentarvakt_slack_requests_total", "Slack Web API calls", ["method", "outcome"], registry=REGISTRY
)
SLACK_LATENCY = Histogram("kommentarvakt_slack_request_seconds", "Slack Web API call time", registry=REGISTRY)
WEBHOOK_TO_TASK = Histogram(
    "kommentarvakt_webhook_to_task_seconds",
    "Time from webhook delivery to stored task",
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)


async def refresh_gauges(db: Database) -> None:
    """Read the current task and outbox state from the database into the gauges."""
    async with db.session() as session:
        by_status = (
            await session.execute(select(TaskRow.status, func.count()).group_by(TaskRow.status))
        ).all()
        overdue = (
            await session.execute(
                select(func.count()).where(TaskRow.status == "open", TaskRow.deadline_at < datetime.now(UTC))
            )
        ).scalar_one()
        depth = (
            await session.execute(
                select(OutboxMessage.kind, func.count())
                .where(OutboxMessage.status == "pending")
                .group_by(OutboxMessage.kind)
            )
        ).all()
    TASKS.clear()
    for status, count in by_status:
        TASKS.labels(status).set(count)
    DEADLINE_BREACHES.set(overdue)
    OUTBOX_DEPTH.clear()
    for kind, count in depth:
        OUTBOX_DEPTH.labels(kind).set(count)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
