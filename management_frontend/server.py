"""Builds the management frontend's aiohttp app and runs it.

Start-up, in order:

1. Create the Redis state store (connections open lazily) and ping Redis
   once, only to log whether it is reachable: the frontend starts and serves
   (``/admin/ping``, ``/ready`` false, 503 for admin calls) even while Redis
   is down, and recovers by itself when it comes back.
2. Start the Redis watcher (``health.watch_redis``: capped exponential
   backoff while Redis is down, logging changes only) under the app's
   :class:`~clipper_service.supervisor.TaskSupervisor`, which logs a crash
   with its traceback, makes ``/ready`` 503 with the reason and restarts it
   with backoff.
3. Bind the HTTP listener and log one line saying where it listens, and
   whether the admin API requires a token.

Shutdown (SIGTERM/SIGINT), in order:

1. Stop accepting connections.
2. Let in-flight requests finish, for at most ``shutdown_timeout_s``.
3. Stop the supervised loops (the Redis watcher), then close the Redis connections.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware

from clipper_service.supervisor import TaskSupervisor
from management_frontend.auth import token_middleware
from management_frontend.dashboard import add_dashboard_routes
from management_frontend.health import watch_redis
from management_frontend.http import SERVICE_KEY, SUPERVISOR_KEY, add_routes, error_middleware
from management_frontend.service import ManagementService
from management_frontend.settings import Settings, tls_context
from management_frontend.state import RedisStateStore

logger = logging.getLogger("clipper.management_frontend")
access_logger = logging.getLogger("clipper.management_frontend.access")

SETTINGS_KEY = web.AppKey("settings", Settings)
WATCHER = "redis-watcher"


async def _state_store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Owns the Redis store: checked at start-up, closed last at shutdown."""
    settings = app[SETTINGS_KEY]
    store = app[SERVICE_KEY].store
    try:
        await store.ping()
        logger.info("Redis at %s is reachable", settings.redis_address)
    except Exception as e:  # logged by the store; serving goes on regardless
        logger.warning("starting without Redis (%s); admin calls answer 503 until it is back", e)
    supervisor = app[SUPERVISOR_KEY]
    supervisor.start(WATCHER, functools.partial(watch_redis, store))
    try:
        yield
    finally:
        await supervisor.close()
        await store.close()


def build_app(settings: Settings) -> web.Application:
    """The admin API application.

    The Redis store is created here (it connects lazily, on first use) and
    closed by the app's cleanup context.
    """
    middlewares: list[Middleware] = [error_middleware]
    if settings.admin_token:
        middlewares.append(token_middleware(settings.admin_token))
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS_KEY] = settings
    app[SERVICE_KEY] = ManagementService(RedisStateStore(settings))
    app[SUPERVISOR_KEY] = TaskSupervisor("management frontend", logger)
    app.cleanup_ctx.append(_state_store_ctx)
    add_routes(app)
    add_dashboard_routes(app, settings.query_frontend_url)
    return app


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set, or until SIGTERM/SIGINT if ``stop`` is None."""
    own_signals = stop is None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if own_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        build_app(settings),
        access_log=access_logger,
        shutdown_timeout=settings.shutdown_timeout_s,
    )
    await runner.setup()
    try:
        tls = tls_context(settings.tls_cert, settings.tls_key) if settings.tls_cert else None
        site = web.TCPSite(
            runner, settings.host, settings.port, shutdown_timeout=settings.shutdown_timeout_s, ssl_context=tls
        )
        await site.start()
        bound = [addr for addr in runner.addresses if isinstance(addr, tuple)]
        port = bound[0][1] if bound else settings.port
        logger.info(
            "Management frontend listening on %s://%s:%d (Redis at %s); admin API %s",
            "https" if tls else "http",
            settings.host,
            port,
            settings.redis_address,
            "requires a token" if settings.admin_token else "is open (no admin token set)",
        )
        if not settings.admin_token and settings.host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning(
                "The admin API listens on %s without a token: anyone who reaches it can deploy "
                "code. Set CLIPPER_ADMIN_TOKEN (or CLIPPER_ADMIN_TOKEN_FILE), or bind 127.0.0.1.",
                settings.host,
            )
        await stop.wait()
        logger.info("Management frontend shutting down")
    finally:
        await runner.cleanup()
        if own_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    logger.info("Management frontend stopped")
