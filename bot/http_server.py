"""The one HTTP server: /slack/events, /webhooks/meta, /healthz, /metrics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot import metrics

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Clear 4xx answers for bad requests; an unexpected error is logged and answered with 500."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status >= 400 and error.content_type != "application/json":
            reason = error.text or error.reason
            return web.json_response({"error": reason}, status=error.status, headers=_allow(error))
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def _allow(error: web.HTTPException) -> dict[str, str]:
    return {"Allow": error.headers["Allow"]} if "Allow" in error.headers else {}


def build_web_app(
    routes: list[web.RouteDef],
    health_checks: dict[str, HealthCheck],
    refresh_metrics: Callable[[], Awaitable[None]] | None = None,
    *,
    max_body_bytes: int = 1_000_000,
) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes, middlewares=[errors_as_json])

    async def healthz(_request: web.Request) -> web.Response:
        report: dict[str, Any] = {}
        healthy = True
        for name, check in health_checks.items():
            try:
                result = await check()
            except Exception as error:  # a failing check is a finding, not a crash
                result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            report[name] = result
            healthy = healthy and bool(result.get("ok"))
        return web.json_response({"ok": healthy, **report}, status=200 if healthy else 503)

    async def metrics_endpoint(_request: web.Request) -> web.Response:
        if refresh_metrics is not None:
            try:
                await refresh_metrics()
            except Exception:
                log.warning("could not refresh gauges from the database", exc_info=True)
        body, content_type = metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics_endpoint), *routes])
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving; returns the runner (its sites tell the bound port)."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = site._server  # aiohttp keeps the asyncio server here
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("the HTTP server is not listening")
