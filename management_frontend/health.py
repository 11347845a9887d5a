"""Redis reachability watcher of the management frontend.

Admin calls never wait for it: each talks to Redis itself and answers 503
at once when Redis is gone. The watcher exists so that an outage with no
traffic is still noticed and logged, and so that recovery is logged as soon
as Redis is back: it pings with capped exponential backoff while Redis is
unreachable (one line when it goes, one when it returns, and a reminder at
most every ``REMINDER_S``), and at a calm interval while it is reachable.

It runs under the server's :class:`~clipper_service.supervisor.TaskSupervisor`:
an unexpected error ends the run, and the supervisor logs it with its
traceback, answers ``/ready`` 503 naming it, and restarts the watcher with
backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time

from management_frontend.errors import StoreUnavailableError
from management_frontend.state import RedisStateStore

logger = logging.getLogger("clipper.management_frontend.health")

#: Seconds between "still unreachable" reminders.
REMINDER_S = 30.0


async def watch_redis(
    store: RedisStateStore,
    first_retry_s: float = 0.05,
    max_retry_s: float = 1.0,
    healthy_interval_s: float = 5.0,
) -> None:
    """Ping Redis forever (until cancelled); the store logs each change of reachability."""
    delay = first_retry_s
    down_since: float | None = None
    last_reminder = 0.0
    while True:
        try:
            await store.ping()
        except StoreUnavailableError:
            now = time.monotonic()
            if down_since is None:
                down_since = last_reminder = now
            elif now - last_reminder >= REMINDER_S:
                logger.warning(
                    "Redis at %s still unreachable after %.0f s; retrying every %.1f s at most",
                    store.address,
                    now - down_since,
                    max_retry_s,
                )
                last_reminder = now
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_s)
            continue
        down_since, delay = None, first_retry_s
        await asyncio.sleep(healthy_interval_s)
