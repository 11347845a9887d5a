"""Keeps the in-memory configuration in step with Redis.

On every (re)connection it reads a full snapshot of applications (DB 5),
links (DB 7), models (DB 2) and current versions (DB 6); keyspace
notifications then apply single changes within milliseconds, and a periodic
snapshot catches anything a dropped notification missed. While Redis is
unreachable the frontend keeps serving from its last snapshot.

It also writes what the query frontend owns: the selection state of each
application (DB 1) and the record of each connected replica (DB 3).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from clipper_protocol import redis_schema as rs
from clipper_protocol import selection_schema as ss
from clipper_protocol.input_types import InvalidInputType
from query_frontend.tasks import cancel_and_wait
from query_frontend.config import AppConfig, ClusterConfig

log = logging.getLogger("clipper.query_frontend.config")

REDIS_RETRY_CAP_S = 1.0
"""Cap of the exponential backoff between Redis reconnection attempts: once
Redis is back, the frontend is ready again within about this long."""

_DBS = (rs.RedisDB.STATE, rs.RedisDB.MODELS, rs.RedisDB.CONTAINERS, rs.RedisDB.APPLICATIONS,
        rs.RedisDB.METADATA, rs.RedisDB.APP_MODEL_LINKS)
# DB 1 too: other frontends' feedback changes the learned selection states.
_WATCHED = (rs.RedisDB.STATE, rs.RedisDB.MODELS, rs.RedisDB.APPLICATIONS, rs.RedisDB.METADATA,
            rs.RedisDB.APP_MODEL_LINKS)


class ConfigSync:
    """Follows Redis into a :class:`ClusterConfig`; owns its background tasks."""

    def __init__(
        self,
        config: ClusterConfig,
        redis_host: str,
        redis_port: int,
        on_model_removed: Callable[[str, str], None],
        on_model_changed: Callable[[rs.ModelRecord], None],
        connected_replicas: Callable[[], list[rs.ContainerRecord]],
        resync_interval_s: float = 10.0,
        redis_password: str = "",
    ) -> None:
        self.config = config
        self.redis_host = redis_host
        self.redis_port = redis_port
        self._on_model_removed = on_model_removed
        self._on_model_changed = on_model_changed
        self._connected_replicas = connected_replicas
        self._wiped_replica_records = False
        self.resync_interval_s = resync_interval_s
        self.ready = asyncio.Event()
        self.last_error: str | None = f"redis unreachable: still connecting to {redis_host}:{redis_port}"
        self._clients = {
            db: aioredis.Redis(
                host=redis_host, port=redis_port, db=int(db), password=redis_password or None,
                socket_connect_timeout=2, socket_timeout=5, decode_responses=True,
                encoding_errors="replace",
            )
            for db in _DBS
        }
        # Notifications get a client of their own that never reconnects by
        # itself: redis-py would silently re-subscribe after a Redis restart,
        # skipping the CONFIG SET (Redis does not persist it) and the snapshot
        # re-read that must follow every reconnection.
        self._notifications = aioredis.Redis(
            host=redis_host, port=redis_port, db=int(rs.RedisDB.APPLICATIONS), password=redis_password or None,
            socket_connect_timeout=2, decode_responses=True, encoding_errors="replace",
            retry=Retry(NoBackoff(), 0),
        )
        config.selection.attach(self._clients[rs.RedisDB.STATE])
        self._writes: asyncio.Queue[tuple[str, tuple]] = asyncio.Queue(maxsize=10000)
        self._tasks: list[asyncio.Task[None]] = []

    def db(self, db: rs.RedisDB) -> aioredis.Redis:
        return self._clients[db]

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow_loop(), name="config-follow"),
            asyncio.create_task(self._write_loop(), name="config-writes"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for client in self._clients.values():
            await client.aclose()
        await self._notifications.aclose()

    # ------------------------------------------------------------ following

    async def _follow_loop(self) -> None:
        backoff = 0.1
        failures = 0
        while True:
            try:
                await self._follow_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as e:
                if self.ready.is_set():
                    failures, backoff = 0, 0.1
                # One line when Redis goes away, then one every 15 attempts (~15 s at the cap).
                if failures % 15 == 0:
                    log.warning("Redis at %s:%d is unreachable (%s); serving from the last snapshot, retrying",
                                self.redis_host, self.redis_port, e)
                failures += 1
                self.ready.clear()
                self.last_error = f"redis unreachable: {e}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_CAP_S)

    async def _follow_once(self) -> None:
        base = self.db(rs.RedisDB.APPLICATIONS)
        try:
            await base.config_set("notify-keyspace-events", "AKE")
        except RedisError as e:
            # Managed Redis may refuse CONFIG; periodic snapshots still work.
            log.warning("Could not enable keyspace notifications (%s); relying on snapshots", e)
        pubsub = self._notifications.pubsub()
        try:
            await pubsub.psubscribe(*(f"__keyspace@{int(db)}__:*" for db in _WATCHED))
            await self.resync()
            await self._rewrite_replica_records()
            if not self.ready.is_set():
                log.info("Configuration loaded from Redis at %s:%d: %d applications, %d model versions",
                         self.redis_host, self.redis_port, len(self.config.apps), len(self.config.models))
            self.ready.set()
            self.last_error = None
            loop = asyncio.get_running_loop()
            next_resync = loop.time() + self.resync_interval_s
            while True:
                timeout = max(0.0, next_resync - loop.time())
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
                if msg is not None:
                    try:
                        await self._apply_event(msg["channel"], msg["data"])
                    except (KeyError, ValueError, TypeError, UnicodeError) as e:
                        # A record written by something other than the management
                        # frontend must not stop us following Redis.
                        log.warning("Ignoring a malformed record behind %r: %r", msg["channel"], e)
                if loop.time() >= next_resync:
                    await self.resync()
                    next_resync = loop.time() + self.resync_interval_s
        finally:
            await pubsub.aclose()

    async def _apply_event(self, channel: str, event: str) -> None:
        # channel: "__keyspace@<db>__:<key>"
        head, _, key = channel.partition(":")
        db = int(head[len("__keyspace@"):-2])
        if db == rs.RedisDB.APPLICATIONS or db == rs.RedisDB.APP_MODEL_LINKS:
            await self._reload_app(key)
        elif db == rs.RedisDB.METADATA and key.startswith(rs.CURRENT_MODEL_VERSION_PREFIX):
            await self._reload_current_version(key[len(rs.CURRENT_MODEL_VERSION_PREFIX):])
        elif db == rs.RedisDB.MODELS:
            name, sep, version = key.rpartition(":")
            if sep:
                await self._reload_model(name, version)
        elif db == rs.RedisDB.STATE:
            await self.config.selection.reload_key(key)

    async def resync(self) -> None:
        """Read the whole configuration and replace the in-memory view."""
        apps_db = self.db(rs.RedisDB.APPLICATIONS)
        links_db = self.db(rs.RedisDB.APP_MODEL_LINKS)
        models_db = self.db(rs.RedisDB.MODELS)
        meta_db = self.db(rs.RedisDB.METADATA)
        app_names = [k async for k in apps_db.scan_iter(count=1000)]
        model_keys = [k async for k in models_db.scan_iter(count=1000)]
        version_keys = [k async for k in meta_db.scan_iter(match=rs.CURRENT_MODEL_VERSION_PREFIX + "*", count=1000)]
        apps: dict[str, AppConfig] = {}
        for name in app_names:
            app = await self._read_app(name, apps_db, links_db)
            if app is not None:
                apps[name] = app.keep_selector_of(self.config.apps.get(name))
                await self.config.selection.reload_app(name, app.policy)
        models: dict[tuple[str, str], rs.ModelRecord] = {}
        for key in model_keys:
            raw = await models_db.hgetall(key)
            if raw:
                try:
                    rec = rs.ModelRecord.from_hash(raw)
                except (KeyError, ValueError):
                    log.warning("Ignoring malformed model record %r", key)
                    continue
                models[(rec.model_name, rec.model_version)] = rec
        versions: dict[str, str] = {}
        for key in version_keys:
            value = await meta_db.get(key)
            if value is not None:
                versions[key[len(rs.CURRENT_MODEL_VERSION_PREFIX):]] = str(value)
        cfg = self.config
        for name in set(cfg.apps) - set(apps):
            log.info("Application %s was deleted", name)
            cfg.selection.forget_app(name)
        for name in set(apps) - set(cfg.apps):
            log.info("Application %s is now served at /%s/predict", name, name)
            self._write_state(apps[name])
        cfg.apps = apps
        cfg.current_versions = versions
        old_models = cfg.models
        valid = {k: r for k, r in models.items() if r.valid}
        cfg.models = valid
        for key, rec in valid.items():
            if old_models.get(key) != rec:
                self._on_model_changed(rec)
        for key, rec in models.items():
            if not rec.valid:
                await self._finalize_model_deletion(*key)
        for key in set(old_models) - set(models):
            self._on_model_removed(*key)

    async def _read_app(self, name: str, apps_db: aioredis.Redis, links_db: aioredis.Redis) -> AppConfig | None:
        raw = await apps_db.hgetall(name)
        if not raw:
            return None
        links = await links_db.smembers(name)
        try:
            return AppConfig.from_record(
                rs.ApplicationRecord.from_hash(name, raw), [str(m) for m in links], _text_or_none(raw.get(ss.PARAMS_FIELD))
            )
        except (KeyError, ValueError, InvalidInputType) as e:
            log.warning("Ignoring malformed application %r: %s", name, e)
            return None

    async def _reload_app(self, name: str) -> None:
        app = await self._read_app(name, self.db(rs.RedisDB.APPLICATIONS), self.db(rs.RedisDB.APP_MODEL_LINKS))
        old = self.config.apps.get(name)
        if app is None:
            if self.config.apps.pop(name, None) is not None:
                log.info("Application %s was deleted", name)
                self.config.selection.forget_app(name)
            return
        self.config.apps[name] = app.keep_selector_of(old)
        if old is None or old.policy != app.policy:
            if app.selector is not None:
                log.info("Application %s selects models with %s", name, app.policy)
            await self.config.selection.reload_app(name, app.policy)
        if old is None:
            log.info("Application %s is now served at /%s/predict", name, name)
            self._write_state(app)
        elif old.linked_models != app.linked_models:
            log.info("Application %s now links %s", name, app.linked_models)

    async def _reload_current_version(self, model_name: str) -> None:
        version = await self.db(rs.RedisDB.METADATA).get(rs.current_version_key(model_name))
        if version is None:
            self.config.current_versions.pop(model_name, None)
        elif self.config.current_versions.get(model_name) != version:
            self.config.current_versions[model_name] = str(version)
            log.info("Model %s now serves version %s", model_name, version)

    async def _reload_model(self, name: str, version: str) -> None:
        raw = await self.db(rs.RedisDB.MODELS).hgetall(rs.model_key(name, version))
        key = (name, version)
        if not raw:
            if self.config.models.pop(key, None) is not None:
                self._on_model_removed(name, version)
            return
        rec = rs.ModelRecord.from_hash(raw)
        if rec.valid:
            if self.config.models.get(key) != rec:
                self.config.models[key] = rec
                self._on_model_changed(rec)
        else:
            await self._finalize_model_deletion(name, version)

    async def _finalize_model_deletion(self, name: str, version: str) -> None:
        """Finish ``delete_versioned_model``: the management frontend only marks it invalid."""
        log.info("Removing model %s:%s", name, version)
        containers = self.db(rs.RedisDB.CONTAINERS)
        keys = [k async for k in containers.scan_iter(match=rs.container_pattern(name, version))]
        if keys:
            await containers.delete(*keys)
        await self.db(rs.RedisDB.MODELS).delete(rs.model_key(name, version))
        self.config.models.pop((name, version), None)
        self._on_model_removed(name, version)

    # ------------------------------------------------------------ writing

    async def _rewrite_replica_records(self) -> None:
        """Make DB 3 list exactly the replicas connected to this frontend.

        Records left by an earlier run of the frontend describe connections
        that no longer exist, so the first connection clears them; every
        (re)connection writes the live ones, which may have been missed while
        Redis was away.
        """
        containers = self.db(rs.RedisDB.CONTAINERS)
        if not self._wiped_replica_records:
            stale = [k async for k in containers.scan_iter(count=1000)]
            if stale:
                await containers.delete(*stale)
            self._wiped_replica_records = True
        for rec in self._connected_replicas():
            await self._write("record_replica", (rec,))

    def _write_state(self, app: AppConfig) -> None:
        self._enqueue_write("set_state", (app.name, app.default_output))

    def record_replica(self, rec: rs.ContainerRecord) -> None:
        self._enqueue_write("record_replica", (rec,))

    def forget_replica(self, name: str, version: str, replica_id: int) -> None:
        self._enqueue_write("forget_replica", (name, version, replica_id))

    def _enqueue_write(self, op: str, args: tuple) -> None:
        try:
            self._writes.put_nowait((op, args))
        except asyncio.QueueFull:
            log.warning("Redis write queue is full; dropping %s", op)

    async def _write_loop(self) -> None:
        while True:
            op, args = await self._writes.get()
            for attempt in range(5):
                try:
                    await self._write(op, args)
                    break
                except (RedisError, OSError) as e:
                    if attempt == 4:
                        log.warning("Could not write %s to Redis: %s", op, e)
                    else:
                        await asyncio.sleep(0.2 * (attempt + 1))

    async def _write(self, op: str, args: tuple) -> None:
        if op == "set_state":
            name, default_output = args
            await self.db(rs.RedisDB.STATE).set(rs.state_key(name), rs.selection_state_value(default_output))
        elif op == "record_replica":
            (rec,) = args
            mapping: dict[Any, Any] = rec.to_hash()
            await self.db(rs.RedisDB.CONTAINERS).hset(
                rs.container_key(rec.model_name, rec.model_version, rec.model_replica_id),
                mapping=mapping,
            )
        elif op == "forget_replica":
            name, version, replica_id = args
            await self.db(rs.RedisDB.CONTAINERS).delete(rs.container_key(name, version, replica_id))


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
