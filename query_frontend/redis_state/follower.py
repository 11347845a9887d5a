"""Keeps the in-memory configuration in step with Redis.

On every (re)connection it enables keyspace notifications, subscribes, reads
a full snapshot and has the replica records rewritten; notifications then
apply single changes within milliseconds, and a periodic snapshot catches
anything a dropped notification missed. While Redis is unreachable the
frontend keeps serving from its last snapshot.
"""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions

from clipper_protocol.redis_schema import RedisDB
from query_frontend.config import ClusterConfig
from query_frontend.redis_state.config_reader import WATCHED_DBS, ConfigReader
from query_frontend.redis_state.connector import CONNECTION_ERRORS, RedisConnector
from query_frontend.redis_state.replica_records import ReplicaRecords
from query_frontend.redis_state.writer import RedisWriter

log = logging.getLogger("clipper.query_frontend.config")


class ConfigSync:
    """Follows Redis into a :class:`ClusterConfig` (:meth:`follow` is a supervised loop)."""

    def __init__(
        self,
        config: ClusterConfig,
        connector: RedisConnector,
        reader: ConfigReader,
        writer: RedisWriter,
        records: ReplicaRecords,
        resync_interval_s: float = 10.0,
    ) -> None:
        self.config = config
        self.connector = connector
        self.reader = reader
        self.writer = writer
        self.records = records
        self.resync_interval_s = resync_interval_s
        self.ready = asyncio.Event()
        """Set while following Redis (a snapshot is loaded and notifications flow)."""

    @property
    def last_error(self) -> str | None:
        return None if self.ready.is_set() else self.connector.last_error

    async def follow(self) -> None:
        while True:
            await self.connector.wait_connected()
            try:
                await self._follow_once()
            except CONNECTION_ERRORS as e:
                self.ready.clear()
                self.connector.lost(e)
            except redis.exceptions.RedisError as e:
                self.ready.clear()
                log.warning("Redis refused a read while following the configuration (%s); retrying", e)
                await asyncio.sleep(1.0)  # a pause before retrying, not a timeout
            except BaseException:
                self.ready.clear()
                raise

    async def _follow_once(self) -> None:
        try:
            await self.connector.db(RedisDB.APPLICATIONS).config_set("notify-keyspace-events", "AKE")
        except CONNECTION_ERRORS:
            raise
        except redis.exceptions.RedisError as e:
            # Managed Redis may refuse CONFIG; periodic snapshots still work.
            log.warning("Could not enable keyspace notifications (%s); relying on snapshots", e)
        pubsub = self.connector.notifications.pubsub()
        try:
            await pubsub.psubscribe(*(f"__keyspace@{int(db)}__:*" for db in WATCHED_DBS))
            await self.reader.resync()
            self.writer.enqueue("rewrite_replica_records", self.records.rewrite)
            if not self.ready.is_set():
                log.info("Configuration loaded from Redis at %s:%d: %d applications, %d model versions",
                         self.connector.host, self.connector.port, len(self.config.apps), len(self.config.models))
            self.config.loaded = True
            self.ready.set()
            loop = asyncio.get_running_loop()
            next_resync = loop.time() + self.resync_interval_s
            while True:
                timeout = max(0.0, next_resync - loop.time())
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
                if msg is not None:
                    try:
                        await self.reader.apply(msg["channel"])
                    except (KeyError, ValueError, TypeError, UnicodeError) as e:
                        # A record written by something other than the management
                        # frontend must not stop us following Redis.
                        log.warning("Ignoring a malformed record behind %r: %r", msg["channel"], e)
                if loop.time() >= next_resync:
                    await self.reader.resync()
                    next_resync = loop.time() + self.resync_interval_s
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
