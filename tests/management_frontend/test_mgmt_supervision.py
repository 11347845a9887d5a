"""The management frontend's background loop (the Redis watcher) runs supervised:
a crash is logged with its traceback, /ready answers 503 naming it until the
loop runs again, and the loop is restarted with backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from management_frontend import server

REASON = "redis-watcher crashed: RuntimeError: injected watcher failure"


async def _ready_until(admin: Any, status: int, deadline_s: float = 10.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        reply = await admin.get("/ready")
        if reply.status == status or time.monotonic() > deadline:
            return reply
        await asyncio.sleep(0.02)


async def test_watcher_crash_is_logged_reported_and_restarted(make_settings, admin_factory, monkeypatch,
                                                              caplog) -> None:
    real_watch = server.watch_redis
    failing = True
    runs = 0

    async def flaky_watch(store: Any) -> None:
        nonlocal runs
        runs += 1
        if failing:
            raise RuntimeError("injected watcher failure")
        await real_watch(store)

    monkeypatch.setattr(server, "watch_redis", flaky_watch)
    with caplog.at_level(logging.WARNING, logger="clipper.management_frontend"):
        admin = await admin_factory(make_settings())
        reply = await _ready_until(admin, 503)
        assert (reply.status, json.loads(reply.text)) == (503, {"ready": False, "reason": REASON})
        # Admin calls do not depend on the watcher.
        assert (await admin.add_app("a")).status == 200
        # It keeps being restarted while it keeps crashing, and /ready stays 503.
        await asyncio.sleep(0.5)
        assert runs >= 2
        assert json.loads((await admin.get("/ready")).text)["reason"] == REASON

        failing = False
        reply = await _ready_until(admin, 200)
        assert (reply.status, json.loads(reply.text)) == (200, {"ready": True})

    crashes = [r for r in caplog.records if "redis-watcher crashed; restarting it in" in r.getMessage()]
    assert crashes and all(r.exc_info is not None for r in crashes)
    assert any("redis-watcher restarted" in r.getMessage() for r in caplog.records)


async def test_watcher_is_stopped_at_shutdown(make_settings, admin_factory, monkeypatch) -> None:
    stopped = asyncio.Event()

    async def watch(store: Any) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    monkeypatch.setattr(server, "watch_redis", watch)
    admin = await admin_factory(make_settings())
    assert (await admin.get("/ready")).status == 200
    await admin.http.close()
    assert stopped.is_set()
