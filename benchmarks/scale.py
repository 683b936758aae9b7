"""Scale on PostgreSQL: one sync cycle over 3,560 pages, two replicas against a burst of new comments, and
webhook → Slack message latency. Real HTTP, real processes, the local fakes.

    python benchmarks/scale.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
                               [--pages 3560] [--graph-latency-s 0.1] [--comments 20000]
                               [--burst-pages 100] [--latency-samples 300] [--skip-sync] [--skip-burst]
                               [--json]

It creates its own database next to the one in --database-url (and drops it afterwards) and prints:

1. Sync cycle: 356 municipalities × 10 pages (3,560 quiet Facebook pages) in the fake Graph API (its own
   process, each answer delayed by --graph-latency-s, like the real API's round trip). The in-process
   PageSyncer (the code `kommentarvakt run` polls with) syncs every page twice; the second (steady) cycle
   is the figure: wall time and Graph calls (goals: ≤ 60 s on 2 cores, 1 call per quiet page). It then
   repeats the cycle with more pages in flight at once, to show what the concurrency limit costs.
2. Two replicas: two `python -m bot run` processes on the database; --comments new comments arrive as
   signed webhooks, spread over both; the figures are how fast they are stored as tasks and posted to
   (the fake) Slack, and the duplicates: tasks per comment and task messages per task (goal: none).
3. Webhook → Slack message: --latency-samples webhooks at 10 a second once the burst has drained; the
   time from the POST to the fake Slack receiving the task message, p50 / p95 / max.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.meta.component import MetaComponent  # noqa: E402
from storage.migrations import upgrade_async  # noqa: E402
from storage.models import OutboxMessage, TaskRow  # noqa: E402
from tests.fakes.graph_api import feed_change_payload, webhook_body  # noqa: E402
from tests.reliability.conftest import Stack, task_posts  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MUNICIPALITIES = 356
PAGES_PER_MUNICIPALITY = 10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------- database


async def _admin(base_url: str, sql: str) -> None:
    url = make_url(base_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def own_database(base_url: str) -> AsyncIterator[str]:
    """A new, migrated database beside `base_url`'s, dropped afterwards."""
    if not base_url.startswith("postgresql+asyncpg://"):
        raise SystemExit(
            "benchmarks/scale.py measures PostgreSQL: pass --database-url postgresql+asyncpg://..."
        )
    name = f"kv_scale_{uuid.uuid4().hex[:10]}"
    await _admin(base_url, f'CREATE DATABASE "{name}"')
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------ 1. the sync cycle


@contextlib.contextmanager
def graph_api_process(seed: dict[str, Any], latency_s: float) -> Any:
    """The fake Graph API in its own process (so it does not share the syncer's CPU and GIL)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(seed, handle)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.graph_api",
            "--seed-file",
            handle.name,
            "--latency",
            str(latency_s),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("FAKE_GRAPH_API_URL="):
            raise RuntimeError(f"the fake Graph API did not start: {line!r}")
        yield line.split("=", 1)[1]
    finally:
        process.terminate()
        process.wait(10)
        os.unlink(handle.name)


async def graph_calls(base_url: str, *, reset: bool = False) -> int:
    async with httpx.AsyncClient(timeout=60) as client:
        if reset:
            await client.post(f"{base_url}/__fake__/call", json={"method": "reset_requests"})
            return 0
        return len((await client.get(f"{base_url}/__fake__/requests")).json())


async def sync_cycle(database_url: str, pages: int, latency_s: float) -> dict[str, Any]:
    now = int(time.time())
    entries, seed_pages = [], []
    for number in range(pages):
        page_id = str(100_000 + number)
        token = f"EAAscale{number:05d}" + "x" * 24
        env = f"SCALE_PAGE_TOKEN_{number}"
        os.environ[env] = token
        municipality = number // PAGES_PER_MUNICIPALITY
        entries.append(
            {
                "platform": "facebook",
                "id": page_id,
                "name": f"Kommune {municipality} side {number % PAGES_PER_MUNICIPALITY}",
                "channel": f"C{municipality:05d}",
                "access_token_env": env,
            }
        )
        old_post = {"message": "Opningstider i sommar", "created_time": now - 3 * 86_400, "comments": []}
        seed_pages.append({"id": page_id, "name": entries[-1]["name"], "token": token, "posts": [old_post]})
    with graph_api_process({"pages": seed_pages}, latency_s) as graph_url:
        settings = Settings.model_validate(
            {
                "database": {"url": database_url, "pool_size": 10},
                "meta": {"graph_api_url": graph_url, "timeout_s": 30},
                "pages": entries,
            }
        )
        services = build_services(settings)
        meta = MetaComponent(services)
        cycles: list[dict[str, Any]] = []
        try:
            default = settings.meta.sync_concurrency
            for label, concurrency in (("first", default), ("steady", default), ("steady, 4 in flight", 4)):
                await graph_calls(graph_url, reset=True)
                started = time.perf_counter()
                results = await meta.syncer().sync_all(concurrency=concurrency)
                elapsed_s = time.perf_counter() - started
                calls = await graph_calls(graph_url)
                cycles.append(
                    {
                        "cycle": label,
                        "concurrency": concurrency,
                        "wall_s": round(elapsed_s, 1),
                        "graph_calls": calls,
                        "calls_per_page": round(calls / pages, 3),
                        "pages_failed": sum(1 for result in results if result.failed),
                        "pages_per_s": round(pages / elapsed_s, 1),
                    }
                )
        finally:
            await meta.close()
            await services.db.close()
    return {
        "pages": pages,
        "graph_latency_s": latency_s,
        "cycles": cycles,
        "goal": "steady cycle ≤ 60 s on 2 cores with the default concurrency, 1 Graph call per quiet page",
    }


# -------------------------------------------------------------------------------------- 2. two replicas


async def wait_for(check: Any, timeout_s: float, what: str) -> float:
    """Seconds until `check()` is true (raises after `timeout_s`)."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


def comment_payload(stack: Stack, number: int, text: str) -> bytes:
    page = stack.pages[number % len(stack.pages)]
    comment_id = f"{page.post_id.split('_', 1)[-1]}_{9_000_000 + number}"
    payload = feed_change_payload(
        page.id,
        page.post_id,
        comment_id,
        message=text,
        from_id=f"77{number:07d}",
        from_name=f"Innbyggjar {number}",
        created_time=int(time.time()) - 30,
    )
    return webhook_body(payload)


async def send_all(stack: Stack, bodies: list[bytes], bots: list[Any], concurrency: int = 32) -> float:
    gate = asyncio.Semaphore(concurrency)
    failures = Counter[int]()

    async def one(number: int, body: bytes) -> None:
        async with gate:
            answer = await stack.post_webhook(bots[number % len(bots)], body)
            if answer.status_code != 200:
                failures[answer.status_code] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(number, body) for number, body in enumerate(bodies)))
    if failures:
        raise RuntimeError(f"webhooks refused: {dict(failures)}")
    return time.perf_counter() - started


async def replicas(database_url: str, comments: int, burst_pages: int, samples: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kommentarvakt-scale-"))
    stack = Stack(work, database_url, pages=burst_pages)
    try:
        bots = [stack.start_bot(name) for name in ("replica-a", "replica-b")]
        await asyncio.gather(*(bot.wait_serving(120) for bot in bots))
        bodies = [
            comment_payload(stack, n, f"Kva kostar årskortet i symjehallen? (spørsmål {n})")
            for n in range(comments)
        ]

        async def stored() -> bool:
            return await stack.count(TaskRow) >= comments

        async def posted() -> bool:
            return sum(1 for count in task_posts(stack.slack).values() if count) >= comments

        started = time.perf_counter()
        send_s = await send_all(stack, bodies, bots)
        stored_s = (time.perf_counter() - started) + await wait_for(stored, 3600, "every comment stored")
        posted_s = (time.perf_counter() - started) + await wait_for(posted, 3600, "every task posted")

        tasks_per_comment = await stack.tasks_by_comment()
        posts = task_posts(stack.slack)
        async with stack.db.session() as session:
            split = dict(
                (
                    await session.execute(
                        select(OutboxMessage.claimed_by, func.count())
                        .where(OutboxMessage.kind == "slack.post_task")
                        .group_by(OutboxMessage.claimed_by)
                    )
                ).all()
            )
        burst = {
            "comments": comments,
            "pages": burst_pages,
            "webhooks_sent_s": round(send_s, 1),
            "webhooks_per_s": round(comments / send_s, 1),
            "all_stored_s": round(stored_s, 1),
            "stored_per_s": round(comments / stored_s, 1),
            "all_posted_s": round(posted_s, 1),
            "posted_per_s": round(comments / posted_s, 1),
            "tasks": len(tasks_per_comment),
            "comments_with_more_than_one_task": sum(1 for n in tasks_per_comment.values() if n > 1),
            "tasks_with_more_than_one_message": sum(1 for n in posts.values() if n > 1),
            "task_messages_per_replica": sorted(split.values(), reverse=True),
        }
        latency = await webhook_to_slack(stack, bots, comments, samples)
        for bot in bots:
            bot.terminate()
        return {"burst": burst, "webhook_to_slack": latency}
    finally:
        await stack.close()


async def webhook_to_slack(stack: Stack, bots: list[Any], offset: int, samples: int) -> dict[str, Any]:
    """Time from a webhook POST to the fake Slack receiving the task message, at 10 webhooks a second."""
    sent_at: dict[str, float] = {}
    for number in range(offset, offset + samples):
        marker = f"(prøve {number})"
        body = comment_payload(stack, number, f"Når opnar biblioteket på laurdag? {marker}")
        sent_at[marker] = time.time()
        answer = await stack.post_webhook(bots[number % len(bots)], body)
        assert answer.status_code == 200, answer.text
        await asyncio.sleep(0.1)

    def arrivals() -> dict[str, float]:
        found: dict[str, float] = {}
        for call in stack.slack.calls("chat.postMessage", ok=True):
            text = json.dumps(call.body, ensure_ascii=False)
            for marker in sent_at:
                if marker in text and marker not in found:
                    found[marker] = call.at
        return found

    async def all_arrived() -> bool:
        return len(arrivals()) >= samples

    await wait_for(all_arrived, 300, "every sample in Slack")
    latencies = [arrived - sent_at[marker] for marker, arrived in arrivals().items()]
    return {
        "samples": samples,
        "p50_s": round(percentile(latencies, 0.5), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
    }


# ---------------------------------------------------------------------------------------------- main


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"cpus": os.cpu_count()}
    async with own_database(arguments.database_url) as database_url:
        if not arguments.skip_sync:
            figures["sync_cycle"] = await sync_cycle(database_url, arguments.pages, arguments.graph_latency_s)
    if not arguments.skip_burst:
        async with own_database(arguments.database_url) as database_url:
            figures["replicas"] = await replicas(
                database_url, arguments.comments, arguments.burst_pages, arguments.latency_samples
            )
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    print(f"cores: {figures['cpus']}")
    if "sync_cycle" in figures:
        sync = figures["sync_cycle"]
        print(
            f"\n1. Sync cycle over {sync['pages']} quiet pages (Graph round trip {sync['graph_latency_s']} s)"
        )
        for cycle in sync["cycles"]:
            print(
                f"   {cycle['cycle']:<22} {cycle['wall_s']:>7.1f} s  {cycle['graph_calls']:>6} calls "
                f"({cycle['calls_per_page']} per page, {cycle['pages_failed']} failed, "
                f"{cycle['pages_per_s']} pages/s, {cycle['concurrency']} in flight)"
            )
        print(f"   goal: {sync['goal']}")
    if "replicas" in figures:
        burst, latency = figures["replicas"]["burst"], figures["replicas"]["webhook_to_slack"]
        print(f"\n2. Two replicas, {burst['comments']} new comments as webhooks over {burst['pages']} pages")
        print(f"   webhooks accepted: {burst['webhooks_sent_s']} s ({burst['webhooks_per_s']}/s)")
        print(f"   all stored as tasks: {burst['all_stored_s']} s ({burst['stored_per_s']}/s)")
        print(f"   all posted to Slack: {burst['all_posted_s']} s ({burst['posted_per_s']}/s)")
        print(
            f"   duplicates: {burst['comments_with_more_than_one_task']} comments with >1 task, "
            f"{burst['tasks_with_more_than_one_message']} tasks with >1 message (goal 0, 0)"
        )
        print(f"   task messages per replica: {burst['task_messages_per_replica']}")
        print(
            f"\n3. Webhook → Slack message ({latency['samples']} at 10/s): p50 {latency['p50_s']} s, "
            f"p95 {latency['p95_s']} s, max {latency['max_s']} s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("KOMMENTARVAKT_TEST_POSTGRES_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--pages", type=int, default=MUNICIPALITIES * PAGES_PER_MUNICIPALITY)
    parser.add_argument("--graph-latency-s", type=float, default=0.1)
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--burst-pages", type=int, default=100)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else "", end="")
    if not args.json:
        print_figures(result)
