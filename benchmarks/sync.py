"""Benchmark of the Meta connectors against the local fake Graph API (real HTTP, real database).

    python benchmarks/sync.py [--database-url URL] [--comments N] [--posts P] [--webhooks K] [--json]

Prints:
- Graph API calls per sync for quiet pages (goal: exactly 1 per page, Facebook and Instagram);
- Graph API calls for N new comments spread over P posts, and for N comments on one post
  (goal: about one call per 100 comments plus one per active post);
- comments ingested per second end to end (fetch, store, classify, task, queued Slack message);
- webhook delivery → task stored latency p50/p95 (goal p95 ≤ 200 ms on loopback), POSTing signed
  webhooks to the real aiohttp route with the inbox processor running.
Without --database-url a temporary SQLite file is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.http_server import bound_port, build_web_app, serve  # noqa: E402
from bot.meta.component import MetaComponent  # noqa: E402
from storage.migrations import upgrade_async  # noqa: E402
from storage.models import CommentRow, TaskRow  # noqa: E402
from tests.fakes.graph_api import FakeGraphAPI, sign, webhook_body  # noqa: E402

APP_SECRET = "benchmark-app-secret"
QUIET_FACEBOOK_PAGES = 5
QUIET_INSTAGRAM_ACCOUNTS = 2


def page_entry(platform: str, page_id: str, number: int) -> dict[str, Any]:
    env = f"BENCH_TOKEN_{number}"
    os.environ[env] = f"EAAbenchmarktoken{number:04d}xxxxxxxxxxxx"
    return {
        "platform": platform,
        "id": page_id,
        "name": f"Side {number}",
        "channel": f"C{number:04d}",
        "access_token_env": env,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def quiet_pages(fake: FakeGraphAPI, database_url: str) -> dict[str, Any]:
    """Pages with history but nothing new since the last sync."""
    now = int(time.time())
    pages = []
    for number in range(QUIET_FACEBOOK_PAGES):
        page_id = f"{500 + number}"
        entry = page_entry("facebook", page_id, number)
        fake.add_page(page_id, entry["name"], token=os.environ[entry["access_token_env"]])
        for post_number in range(30):  # a post every 20 minutes, each with a few comments
            posted = now - 20 * 3600 + post_number * 1200
            post_id = fake.add_post(page_id, f"Innlegg {post_number}", created_time=posted)
            for comment_number in range(5):
                fake.add_comment(
                    post_id, f"Kommentar {comment_number}", created_time=posted + 60 * comment_number
                )
        pages.append(entry)
    for number in range(QUIET_INSTAGRAM_ACCOUNTS):
        user_id = f"1784140000009{number:04d}"
        entry = page_entry("instagram", user_id, 100 + number)
        fake.add_ig_user(user_id, f"konto{number}", token=os.environ[entry["access_token_env"]])
        for media_number in range(20):
            media_id = fake.add_media(
                user_id, f"Bilete {media_number}", timestamp=now - 20 * 3600 + media_number
            )
            for comment_number in range(60):
                fake.add_ig_comment(
                    media_id, f"Fint {comment_number}", timestamp=now - 19 * 3600 + comment_number
                )
        pages.append(entry)
    settings = bench_settings(database_url, fake, pages)
    services = build_services(settings)
    meta = MetaComponent(services)
    try:
        await meta.syncer().sync_all()
        fake.reset_requests()
        results = await meta.syncer().sync_all()
    finally:
        await meta.close()
        await services.db.close()
    return {
        "pages": len(results),
        "calls_per_page": {f"{r.platform}/{r.id}": r.calls for r in results},
        "max_calls_per_page": max(r.calls for r in results),
        "goal": "exactly 1 per page",
    }


async def new_comments(fake: FakeGraphAPI, database_url: str, total: int, posts: int) -> dict[str, Any]:
    """One sync that finds `total` new comments over `posts` posts, and then over a single post."""
    now = int(time.time())
    spread_page = page_entry("facebook", "900", 900)
    single_page = page_entry("facebook", "901", 901)
    for entry in (spread_page, single_page):
        fake.add_page(entry["id"], entry["name"], token=os.environ[entry["access_token_env"]])
    post_ids = [fake.add_post("900", f"Innlegg {n}", created_time=now - 7200) for n in range(posts)]
    for number in range(total):
        fake.add_comment(
            post_ids[number % posts],
            f"Når opnar symjehallen att? Spørsmål nummer {number}",
            from_id=f"7{number}",
            created_time=now - 3600 + number % 3000,
        )
    lone_post = fake.add_post("901", "Eitt innlegg", created_time=now - 7200)
    for number in range(total):
        fake.add_comment(
            lone_post, f"Kommentar {number} om brøytinga", created_time=now - 3600 + number % 3000
        )
    settings = bench_settings(database_url, fake, [spread_page, single_page])
    services = build_services(settings)
    meta = MetaComponent(services)
    try:
        started = time.perf_counter()
        spread = await meta.syncer().sync_page(settings.pages[0])
        elapsed_s = time.perf_counter() - started
        single = await meta.syncer().sync_page(settings.pages[1])
    finally:
        await meta.close()
        await services.db.close()
    return {
        "comments": total,
        "posts": posts,
        "calls_spread_over_posts": spread.calls,
        "calls_on_one_post": single.calls,
        "goal_one_post": f"about {total // 100 + 1} (one per 100 comments plus one)",
        "new_comments_stored": spread.new_comments,
        "tasks": spread.tasks,
        "ingest_comments_per_s": round(spread.new_comments / elapsed_s, 1),
        "ingest_seconds": round(elapsed_s, 2),
    }


async def webhook_latency(
    fake: FakeGraphAPI, database_url: str, deliveries: int, per_second: float
) -> dict[str, Any]:
    """Signed webhooks POSTed to the real route; time from sending to the task row's creation."""
    os.environ["BENCH_META_APP_SECRET"] = APP_SECRET
    entry = page_entry("facebook", "950", 950)
    fake.add_page("950", entry["name"], token=os.environ[entry["access_token_env"]])
    posts = [
        fake.add_post("950", f"Innlegg om vegarbeid {n}", created_time=int(time.time()) - 600)
        for n in range(10)
    ]
    settings = bench_settings(database_url, fake, [entry], app_secret_env="BENCH_META_APP_SECRET")
    services = build_services(settings)
    meta = MetaComponent(services)
    runner = await serve(build_web_app(meta.routes(), {}), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}/webhooks/meta"
    await meta.start()
    sent_at: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(timeout=10) as http:

            async def deliver(number: int) -> None:
                comment_id = fake.add_comment(
                    posts[number % len(posts)], f"Kor lenge er vegen stengd? ({number})"
                )
                body = webhook_body(fake.webhook_payload_for(comment_id))
                sent_at[comment_id] = time.time()
                response = await http.post(
                    url, content=body, headers={"X-Hub-Signature-256": sign(APP_SECRET, body)}
                )
                response.raise_for_status()

            pending = []
            for number in range(deliveries):
                pending.append(asyncio.create_task(deliver(number)))
                await asyncio.sleep(1 / per_second)
            await asyncio.gather(*pending)
        stored = await wait_for_tasks(services, deliveries)
    finally:
        await meta.stop()
        await runner.cleanup()
        await services.db.close()
    latencies_ms = [
        (created.timestamp() - sent_at[external_id]) * 1000 for external_id, created in stored.items()
    ]
    return {
        "deliveries": deliveries,
        "per_second": per_second,
        "tasks_stored": len(stored),
        "p50_ms": round(percentile(latencies_ms, 0.50), 1),
        "p95_ms": round(percentile(latencies_ms, 0.95), 1),
        "max_ms": round(max(latencies_ms), 1),
        "goal": "p95 <= 200 ms",
    }


async def inbox_capacity(fake: FakeGraphAPI, database_url: str, deliveries: int) -> dict[str, Any]:
    """A burst of signed webhooks sent as fast as possible: how many become tasks per second."""
    os.environ["BENCH_META_APP_SECRET"] = APP_SECRET
    entry = page_entry("facebook", "960", 960)
    fake.add_page("960", entry["name"], token=os.environ[entry["access_token_env"]])
    posts = [
        fake.add_post("960", f"Innlegg om skulen {n}", created_time=int(time.time()) - 600) for n in range(10)
    ]
    bodies = []
    for number in range(deliveries):
        comment_id = fake.add_comment(posts[number % len(posts)], f"Kvifor vert skulen lagd ned? ({number})")
        bodies.append(webhook_body(fake.webhook_payload_for(comment_id)))
    settings = bench_settings(database_url, fake, [entry], app_secret_env="BENCH_META_APP_SECRET")
    services = build_services(settings)
    meta = MetaComponent(services)
    runner = await serve(build_web_app(meta.routes(), {}), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}/webhooks/meta"
    await meta.start()
    gate = asyncio.Semaphore(20)
    try:
        async with httpx.AsyncClient(timeout=30) as http:

            async def deliver(body: bytes) -> None:
                async with gate:
                    response = await http.post(
                        url, content=body, headers={"X-Hub-Signature-256": sign(APP_SECRET, body)}
                    )
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(deliver(body) for body in bodies))
            acknowledged_s = time.perf_counter() - started
            stored = await wait_for_tasks(services, deliveries, poll_s=0.02)
            elapsed_s = time.perf_counter() - started
    finally:
        await meta.stop()
        await runner.cleanup()
        await services.db.close()
    return {
        "deliveries": deliveries,
        "all_acknowledged_s": round(acknowledged_s, 2),
        "tasks_stored": len(stored),
        "tasks_per_s": round(len(stored) / elapsed_s, 1),
    }


async def wait_for_tasks(
    services: Any, expected: int, timeout_s: float = 120, poll_s: float = 0.2
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        async with services.db.session() as session:
            rows = (
                await session.execute(
                    select(CommentRow.external_id, TaskRow.created_at).join(
                        TaskRow, TaskRow.comment_id == CommentRow.id
                    )
                )
            ).all()
        if len(rows) >= expected or time.monotonic() > deadline:
            return {external_id: created for external_id, created in rows}
        await asyncio.sleep(poll_s)


def bench_settings(
    database_url: str, fake: FakeGraphAPI, pages: list[dict[str, Any]], **meta: Any
) -> Settings:
    return Settings(
        database={"url": database_url},
        meta={"graph_api_url": fake.base_url, **meta},
        pages=pages,
    )


async def fresh_database(url: str | None, directory: Path, name: str) -> str:
    database_url = url or f"sqlite+aiosqlite:///{directory / name}.db"
    await upgrade_async(database_url)
    return database_url


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    fake = FakeGraphAPI()
    fake.start_in_thread()
    report: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            if arguments.database_url:
                await truncate(arguments.database_url)
            report["quiet_pages"] = await quiet_pages(
                fake, await fresh_database(arguments.database_url, directory, "quiet")
            )
            if arguments.database_url:
                await truncate(arguments.database_url)
            report["new_comments"] = await new_comments(
                fake,
                await fresh_database(arguments.database_url, directory, "new"),
                arguments.comments,
                arguments.posts,
            )
            if arguments.database_url:
                await truncate(arguments.database_url)
            report["webhook_to_task"] = await webhook_latency(
                fake,
                await fresh_database(arguments.database_url, directory, "webhooks"),
                arguments.webhooks,
                arguments.webhook_rate,
            )
            if arguments.database_url:
                await truncate(arguments.database_url)
            report["inbox_capacity"] = await inbox_capacity(
                fake, await fresh_database(arguments.database_url, directory, "burst"), arguments.webhooks
            )
    finally:
        fake.stop_thread()
    return report


async def truncate(url: str) -> None:
    """Empty every table of a PostgreSQL benchmark database (never point this at real data)."""
    from sqlalchemy import text

    from storage.db import Database
    from storage.models import Base

    await upgrade_async(url)
    database = Database(url)
    try:
        async with database.session() as session:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await database.close()


def print_report(report: dict[str, Any]) -> None:
    quiet, new, hook = report["quiet_pages"], report["new_comments"], report["webhook_to_task"]
    print("Meta connectors benchmark (fake Graph API on loopback)")
    print(
        f"  quiet pages: {quiet['pages']} pages, Graph API calls per sync per page: "
        f"max {quiet['max_calls_per_page']} ({quiet['goal']})"
    )
    print(
        f"  {new['comments']} new comments over {new['posts']} posts: {new['calls_spread_over_posts']} "
        f"calls; on one post: {new['calls_on_one_post']} calls ({new['goal_one_post']})"
    )
    print(
        f"  ingest end to end: {new['ingest_comments_per_s']} comments/s "
        f"({new['new_comments_stored']} comments, {new['tasks']} tasks in {new['ingest_seconds']} s)"
    )
    print(
        f"  webhook → task stored: p50 {hook['p50_ms']} ms, p95 {hook['p95_ms']} ms, max {hook['max_ms']} ms "
        f"over {hook['deliveries']} deliveries at {hook['per_second']}/s ({hook['goal']})"
    )
    burst = report["inbox_capacity"]
    print(
        f"  webhook burst: {burst['deliveries']} deliveries all answered in {burst['all_acknowledged_s']} s; "
        f"{burst['tasks_per_s']} tasks stored per second"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL of a scratch database (emptied!)"
    )
    parser.add_argument("--comments", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=10)
    parser.add_argument("--webhooks", type=int, default=200, help="webhook deliveries to time")
    parser.add_argument("--webhook-rate", type=float, default=10.0, help="deliveries per second")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_report(result)
