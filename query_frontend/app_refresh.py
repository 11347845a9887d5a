"""Reads an application from Redis when a query names one this frontend does not know yet (or that links none).

The configuration follows Redis through keyspace notifications, within
milliseconds; a client that registers an application (or links a model)
and queries at once can still get there first, and would get a 404 or a
"No connected models" default for an application that exists. On that
path only, the frontend reads the application itself before answering.
Each name is read at most once per ``min_interval_s`` and all names at
most ``max_reads_per_s`` times a second, and a read that Redis does not
answer within ``timeout_s`` is given up (the answer is then what the
configuration says): unknown names cost Redis little and no query waits on
an unreachable Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.exceptions

from clipper_protocol.names import is_valid_deploy_name
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.redis_state.config_reader import ConfigReader

log = logging.getLogger("clipper.query_frontend.config")


class AppRefresher:
    """``await refresh(name)``: the application after one read-through, or None."""

    def __init__(self, config: ClusterConfig, reader: ConfigReader, min_interval_s: float = 0.01,
                 max_reads_per_s: float = 200.0, timeout_s: float = 0.1, max_names: int = 1024) -> None:
        self.config = config
        self.reader = reader
        self.min_interval_s = min_interval_s
        self.max_reads_per_s = max_reads_per_s
        self.timeout_s = timeout_s
        self.max_names = max_names
        self._last_read: dict[str, float] = {}
        self._budget = max_reads_per_s  # a token bucket holding at most one second of reads
        self._budget_at = time.monotonic()

    def _take_read(self, now: float) -> bool:
        self._budget = min(self.max_reads_per_s, self._budget + (now - self._budget_at) * self.max_reads_per_s)
        self._budget_at = now
        if self._budget < 1.0:
            return False
        self._budget -= 1.0
        return True

    async def refresh(self, name: str) -> AppConfig | None:
        if is_valid_deploy_name(name):
            now = time.monotonic()
            last = self._last_read.get(name)
            if (last is None or now - last >= self.min_interval_s) and self._take_read(now):
                if len(self._last_read) >= self.max_names:
                    self._last_read.clear()  # bounded: many unknown names just restart the count
                self._last_read[name] = now
                try:
                    await asyncio.wait_for(self.reader.refresh_app(name), self.timeout_s)
                except (TimeoutError, OSError, redis.exceptions.RedisError) as e:
                    log.debug("Could not read application %s from Redis: %r", name, e)
        return self.config.apps.get(name)
