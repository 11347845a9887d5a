"""The frontend's Redis clients and the one reconnection backoff they share.

No client retries or reconnects by itself (redis-py's own retries would
each back off on their own, with jitter). While Redis is unreachable only
the connector tries it, with one capped exponential backoff; everything
else waits for :meth:`RedisConnector.wait_connected` (or, on the query path,
fails fast), and reports a lost connection with :meth:`RedisConnector.lost`.
So attempts are regular and bounded, and the frontend is ready again within
about ``REDIS_RETRY_CAP_S`` of Redis coming back.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from clipper_protocol.redis_schema import RedisDB

log = logging.getLogger("clipper.query_frontend.config")

REDIS_RETRY_CAP_S = 1.0
"""Cap of the exponential backoff between Redis reconnection attempts."""
REDIS_RETRY_INITIAL_S = 0.1
LOG_EVERY_ATTEMPTS = 15
"""While Redis stays away, one log line per this many attempts (~15 s at the cap)."""

REDIS_CLIENT_NAME = "clipper-query-frontend"
"""What the frontend's connections are called in Redis's ``CLIENT LIST``."""

CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
"""What a lost connection raises (anything else from Redis is a refused command)."""

DATABASES = (RedisDB.STATE, RedisDB.MODELS, RedisDB.CONTAINERS, RedisDB.RESOURCES, RedisDB.APPLICATIONS,
             RedisDB.METADATA, RedisDB.APP_MODEL_LINKS)


class RedisConnector:
    """One client per database, a notification client, and the connection state."""

    def __init__(self, host: str, port: int, password: str = "") -> None:
        self.host = host
        self.port = port
        no_retry = Retry(NoBackoff(), 0)
        self._clients = {
            db: aioredis.Redis(
                host=host, port=port, db=int(db), password=password or None, socket_connect_timeout=2,
                socket_timeout=5, decode_responses=True, encoding_errors="replace", retry=no_retry,
                client_name=REDIS_CLIENT_NAME,
            )
            for db in DATABASES
        }
        # Subscriptions live on a client of their own (no command timeout). It
        # never reconnects by itself: redis-py would silently re-subscribe
        # after a Redis restart, skipping the CONFIG SET (Redis does not
        # persist it) and the snapshot re-read that must follow every
        # reconnection.
        self.notifications = aioredis.Redis(
            host=host, port=port, db=int(RedisDB.APPLICATIONS), password=password or None, socket_connect_timeout=2,
            decode_responses=True, encoding_errors="replace", retry=no_retry, client_name=REDIS_CLIENT_NAME,
        )
        self.connected = asyncio.Event()
        self._lost = asyncio.Event()
        self.last_error: str | None = f"redis unreachable: still connecting to {host}:{port}"
        self.attempts = 0
        """Connection attempts made while Redis was unreachable."""

    def db(self, db: RedisDB) -> aioredis.Redis:
        return self._clients[db]

    async def wait_connected(self) -> None:
        await self.connected.wait()

    def lost(self, error: BaseException) -> None:
        """A command failed for want of a connection: stop using Redis until the connector is back."""
        if self.connected.is_set():
            log.warning("Redis at %s:%d is unreachable (%s); serving from the last snapshot, retrying",
                        self.host, self.port, error)
            self.connected.clear()
        self.last_error = f"redis unreachable: {error}"
        self._lost.set()

    async def run(self) -> None:
        """Connect, and reconnect whenever a user reports the connection lost (a supervised loop)."""
        backoff = REDIS_RETRY_INITIAL_S
        failures = 0
        while True:
            if self.connected.is_set():
                await self._lost.wait()
                self._lost.clear()
                if self.connected.is_set():
                    continue
                # The command that failed was this outage's first attempt.
                backoff, failures = REDIS_RETRY_INITIAL_S, 1
                await asyncio.sleep(backoff)  # the backoff itself, not a timeout
                backoff = min(backoff * 2, REDIS_RETRY_CAP_S)
            try:
                await self._clients[RedisDB.APPLICATIONS].ping()
            except CONNECTION_ERRORS as e:
                self.attempts += 1
                if failures % LOG_EVERY_ATTEMPTS == 0:
                    log.warning("Redis at %s:%d is unreachable (%s); serving from the last snapshot, retrying",
                                self.host, self.port, e)
                failures += 1
                self.last_error = f"redis unreachable: {e}"
                await asyncio.sleep(backoff)  # the backoff itself, not a timeout
                backoff = min(backoff * 2, REDIS_RETRY_CAP_S)
                continue
            except redis.exceptions.RedisError as e:
                # Reachable but refusing (e.g. wrong password): keep trying, slowly.
                if failures % LOG_EVERY_ATTEMPTS == 0:
                    log.error("Redis at %s:%d refuses this frontend: %s", self.host, self.port, e)
                failures += 1
                self.last_error = f"redis refuses this frontend: {e}"
                await asyncio.sleep(REDIS_RETRY_CAP_S)
                continue
            self._lost.clear()
            backoff, failures = REDIS_RETRY_INITIAL_S, 0
            self.last_error = None
            self.connected.set()

    async def close(self) -> None:
        self.connected.clear()
        for client in self._clients.values():
            await client.aclose()
        await self.notifications.aclose()
