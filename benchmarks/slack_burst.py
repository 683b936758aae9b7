"""A viral post: thousands of comments in a minute, and Slack allows about one message per second.

    python benchmarks/slack_burst.py [--comments 5000] [--database-url postgresql+asyncpg://...]

Stores the comments through Ingestor.ingest_many into a real database (a temporary SQLite file unless
--database-url is given) while the outbox worker drains the Slack lane against the fake Slack Web API
with a per-channel rate policy (1 message/s plus a small burst, answering 429 with Retry-After beyond
that). It prints:

* time to store every comment (goal ≤ 10 s) and to the first task message in Slack (goal ≤ 2 s);
* messages per second in the channel while draining at Slack's real rate, 429s received, and 429s
  that were not handled (a message lost or failed: goal 0);
* whether urgent comments and case inquiries went out before everything else;
* how many messages grouping saved. At one message a second a burst takes many minutes to drain, so
  after --window-s seconds at the real rate the rest is drained with the fake (and our pacing) sped
  up by --catch-up-speed; the catch-up phase shows the grouping and that nothing is lost, while the
  rate figures come from the real-rate window only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain import Comment  # noqa: E402
from bot.ingest import Incoming  # noqa: E402
from bot.outbox import LanePace, OutboxWorker  # noqa: E402
from storage.migrations import upgrade_async  # noqa: E402
from storage.models import OutboxMessage, TaskRow  # noqa: E402
from tests.fakes.slack_api import ChannelRateLimit, FakeSlackAPI  # noqa: E402

CHANNEL = "C0VIRAL001"
PAGE = {
    "platform": "facebook",
    "id": "9001",
    "name": "Kinn kommune",
    "channel": CHANNEL,
    "access_token_env": "X",
}
POST_ID = "9001_1"
POST_TEXT = "Symjehallen i Florø opnar igjen 1. september klokka 10 etter rehabiliteringa. Velkomne!"
# A viral post draws mostly praise and neutral remarks; the rest is what moderators must see first.
DEFAULT_MIX = {"praise": 0.40, "neutral": 0.30, "negative": 0.17, "factual_error": 0.06, "case_inquiry": 0.07}


def load_texts() -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = {}
    for path in (ROOT / "data" / "dev.jsonl", ROOT / "examples" / "comments.jsonl"):
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            label = record.get("label") or "neutral"
            by_label.setdefault(label, []).append(record["text"])
    return by_label


def make_comments(count: int, seconds: float, rng: random.Random) -> list[Comment]:
    texts = load_texts()
    labels = [label for label in DEFAULT_MIX if texts.get(label)]
    weights = [DEFAULT_MIX[label] for label in labels]
    start = datetime.now(UTC) - timedelta(seconds=seconds)
    comments = []
    for number in range(count):
        label = rng.choices(labels, weights)[0]
        comments.append(
            Comment(
                text=rng.choice(texts[label]),
                post_text=POST_TEXT,
                id=f"{POST_ID}_{number}",
                platform="facebook",
                author_name=f"Person {number}",
                author_id=f"author-{number}",
                created_time=start + timedelta(seconds=seconds * number / count),
                post_id=POST_ID,
                page_id=PAGE["id"],
            )
        )
    return comments


async def outbox_counts(services: Any) -> Counter[str]:
    async with services.db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                OutboxMessage.kind, OutboxMessage.status
            )
        )
        return Counter({f"{kind}:{status}": count for kind, status, count in rows.all()})


async def posting_order(services: Any, fake: FakeSlackAPI) -> list[tuple[float, int, list[int]]]:
    """(when, best task priority, task ids) of every top-level message, in the order Slack got them."""
    async with services.db.session() as session:
        rows = await session.execute(
            select(TaskRow.slack_ts, TaskRow.priority, TaskRow.id).where(TaskRow.slack_ts.is_not(None))
        )
        by_ts: dict[str, tuple[int, list[int]]] = {}
        for ts, priority, task_id in rows.all():
            best, ids = by_ts.get(ts, (priority, []))
            by_ts[ts] = (min(best, priority), [*ids, task_id])
    order = []
    for call in fake.calls("chat.postMessage", ok=True):
        if call.body.get("thread_ts"):
            continue
        priority, ids = by_ts.get(str(call.response.get("ts")), (9, []))
        order.append((call.at, priority, ids))
    return order


def queue_jumps(order: list[tuple[float, int, list[int]]], known_at: dict[int, float]) -> int:
    """Lower-priority messages posted while an urgent comment or case inquiry was stored and waiting.

    A task counts as waiting from its batch's commit (plus the worker's poll interval); what was not
    stored yet cannot be waited for.
    """
    posted_at = {task_id: at for at, priority, ids in order if priority <= 1 for task_id in ids}
    waiting = sorted(
        (known_at[task_id] + 0.5, at) for task_id, at in posted_at.items() if task_id in known_at
    )
    jumps = 0
    for at, priority, _ids in order:
        if priority > 1 and any(known < at < posted for known, posted in waiting):
            jumps += 1
    return jumps


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("SLACK_BOT_TOKEN", "xoxb-benchmark")
    os.environ.setdefault("SLACK_SIGNING_SECRET", "benchmark-signing-secret")
    rng = random.Random(args.seed)
    temporary = None
    database_url = args.database_url
    if not database_url:
        temporary = tempfile.TemporaryDirectory()
        database_url = f"sqlite+aiosqlite:///{temporary.name}/burst.db"
    await upgrade_async(database_url)

    policy = ChannelRateLimit(per_second=1.0, burst=args.burst)
    fake = FakeSlackAPI(channel_rate_limit=policy)
    await fake.start()
    settings = Settings.model_validate(
        {
            "database": {"url": database_url, "pool_size": 10},
            "slack": {
                "mode": "http",
                "api_url": fake.base_url,
                "messages_per_second": args.messages_per_second,
                "group_after": 5,
            },
            "pages": [PAGE],
            "roles": {"moderators": ["U0MOD"]},
            "classifier": {"model_path": args.model_path},
        }
    )
    from handlers.component import SlackComponent

    services = build_services(settings)
    component = SlackComponent(services)
    worker = OutboxWorker(
        services.db,
        component.outbox_handlers(),
        paces=[LanePace("slack:", 1.0 / settings.slack.messages_per_second)],
    )
    services.wake_outbox = worker.wake
    comments = make_comments(args.comments, args.spread_s, rng)
    incoming = [
        Incoming(comment, page=settings.pages[0], post_permalink="https://www.facebook.com/9001_1")
        for comment in comments
    ]

    started = time.monotonic()
    started_wall = time.time()
    known_at: dict[int, float] = {}  # task id -> when its batch was committed (wall clock)
    worker_task = asyncio.create_task(worker.run())
    for offset in range(0, len(incoming), args.batch):
        summary = await services.ingestor.ingest_many(incoming[offset : offset + args.batch])
        committed = time.time()
        known_at.update(dict.fromkeys(summary.task_ids, committed))
        worker.wake()
        if args.gap_s:
            await asyncio.sleep(args.gap_s)
    stored_s = time.monotonic() - started

    stored_wall = time.time()
    first_post = await fake.wait_for("chat.postMessage", ok=True, timeout=60)
    first_message_s = first_post[0].at - started_wall
    during_ingest = len([c for c in fake.calls("chat.postMessage", ok=True) if c.at <= stored_wall])

    # Drain at Slack's real rate for the window once everything is stored.
    window_start = max(stored_wall, first_post[0].at)
    window_end = window_start + args.window_s
    await asyncio.sleep(max(0.0, window_end - time.time()))
    window_posts = [c for c in fake.calls("chat.postMessage", ok=True) if window_start <= c.at <= window_end]
    window_429 = fake.rate_limited_count
    rate = len(window_posts) / args.window_s

    # Catch up: Slack and our pacing sped up alike, so the order and grouping play out in minutes.
    fake.set_channel_rate_limit(ChannelRateLimit(per_second=args.catch_up_speed, burst=args.burst))
    worker.paces = [LanePace("slack:", 1.0 / args.catch_up_speed)]
    deadline = time.monotonic() + args.catch_up_timeout_s
    while time.monotonic() < deadline:
        counts = await outbox_counts(services)
        if not counts.get("slack.post_task:pending") and not counts.get("slack.update_task:pending"):
            break
        await asyncio.sleep(0.5)
    worker.stop()
    await worker_task

    counts = await outbox_counts(services)
    order = await posting_order(services, fake)
    top = sum(1 for _at, priority, _ids in order if priority <= 1)
    jumped = queue_jumps(order, known_at)
    async with services.db.session() as session:
        tasks = (await session.execute(select(func.count()).select_from(TaskRow))).scalar_one()
        unposted = (
            await session.execute(select(func.count()).select_from(TaskRow).where(TaskRow.slack_ts.is_(None)))
        ).scalar_one()
        failed_rate = (
            await session.execute(
                select(func.count()).where(
                    OutboxMessage.status == "failed", OutboxMessage.last_error.like("%rate%")
                )
            )
        ).scalar_one()
    stats = component.sender.stats
    result = {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "comments": len(comments),
        "tasks": tasks,
        "store_all_s": round(stored_s, 2),
        "first_message_s": round(first_message_s, 2),
        "messages_while_storing": during_ingest,
        "window_s": args.window_s,
        "window_messages": len(window_posts),
        "messages_per_second_per_channel": round(rate, 2),
        "429_received_in_window": window_429,
        "429_received_total": fake.rate_limited_count,
        "429_handled_as_retry_later": stats.get("ratelimited", 0),
        "429_unhandled": failed_rate + max(0, fake.rate_limited_count - stats.get("ratelimited", 0)),
        "urgent_and_case_inquiry_first": jumped == 0,
        "urgent_and_case_inquiry_messages": top,
        "lower_priority_posted_while_urgent_waited": jumped,
        "task_messages": stats.get("task_messages", 0),
        "group_messages": stats.get("group_messages", 0),
        "messages_saved_by_grouping": stats.get("messages_saved", 0),
        "tasks_without_a_message": unposted,
        "outbox": dict(counts),
    }
    await component.stop()
    await services.db.close()
    await fake.stop()
    if temporary is not None:
        temporary.cleanup()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comments", type=int, default=5000)
    parser.add_argument("--spread-s", type=float, default=60.0, help="the comments were written within this")
    parser.add_argument("--batch", type=int, default=50, help="comments per ingest_many call")
    parser.add_argument(
        "--gap-s",
        type=float,
        default=0.05,
        help="pause between batches, as between Graph API pages or webhook deliveries (0: a tight loop)",
    )
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--burst", type=int, default=3, help="messages Slack lets through at once")
    parser.add_argument(
        "--messages-per-second",
        type=float,
        default=1.0,
        help="our pace per channel ([slack] messages_per_second); above 1 Slack answers 429s",
    )
    parser.add_argument("--window-s", type=float, default=30.0, help="seconds drained at Slack's real rate")
    parser.add_argument("--catch-up-speed", type=float, default=50.0, help="rate for draining the rest")
    parser.add_argument("--catch-up-timeout-s", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model-path", default="", help="a trained classifier (default: the packaged one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    goals = {"store_all_s": 10.0, "first_message_s": 2.0}
    for key, value in result.items():
        goal = f"   (goal ≤ {goals[key]})" if key in goals else ""
        print(f"{key:36} {value}{goal}")


if __name__ == "__main__":
    main()
