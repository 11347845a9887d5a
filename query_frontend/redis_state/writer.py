"""The one task that writes to Redis, in order, waiting out outages.

Writes are queued (bounded; a full queue drops the write with a warning)
and run one at a time: the DB 1 state of each new application and the DB 3
records of connecting and disconnecting replicas. A write that meets a lost
connection waits for the connector and runs again; one Redis refuses is
logged and dropped. :meth:`RedisWriter.flush` lets shutdown wait until the
queued writes are in Redis before the clients close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.exceptions

from clipper_protocol import redis_schema as rs
from query_frontend.redis_state.connector import CONNECTION_ERRORS, RedisConnector

log = logging.getLogger("clipper.query_frontend.config")

Write = Callable[[], Awaitable[None]]
MAX_QUEUED_WRITES = 10000


class RedisWriter:
    """Queued writes to Redis and the loop that performs them."""

    def __init__(self, connector: RedisConnector) -> None:
        self.connector = connector
        self._queue: asyncio.Queue[tuple[str, Write]] = asyncio.Queue(maxsize=MAX_QUEUED_WRITES)

    def enqueue(self, what: str, write: Write) -> None:
        try:
            self._queue.put_nowait((what, write))
        except asyncio.QueueFull:
            log.warning("Redis write queue is full; dropping %s", what)

    def set_state(self, app_name: str, default_output: str) -> None:
        """The original's DB 1 selection state ``{"y_hat": <default output>}`` of a new application."""
        async def write() -> None:
            await self.connector.db(rs.RedisDB.STATE).set(rs.state_key(app_name),
                                                          rs.selection_state_value(default_output))

        self.enqueue("set_state", write)

    async def run(self) -> None:
        """Perform the queued writes in order (a supervised loop)."""
        while True:
            what, write = await self._queue.get()
            try:
                while True:
                    await self.connector.wait_connected()
                    try:
                        await write()
                        break
                    except CONNECTION_ERRORS as e:
                        self.connector.lost(e)
                    except redis.exceptions.RedisError as e:
                        log.warning("Redis refused %s: %s", what, e)
                        break
            finally:
                self._queue.task_done()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every queued write is done; False if Redis is away or it took longer."""
        if not self.connector.connected.is_set():
            return self._queue.empty()
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
            return True
        except TimeoutError:
            log.warning("%d writes to Redis were still queued at shutdown", self._queue.qsize())
            return False
