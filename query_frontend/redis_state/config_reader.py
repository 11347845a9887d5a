"""Reads the cluster configuration from Redis into a :class:`ClusterConfig`.

:meth:`ConfigReader.resync` reads a full snapshot of applications (DB 5),
links (DB 7), models (DB 2) and current versions (DB 6) and replaces the
in-memory view; :meth:`ConfigReader.apply` re-reads what one keyspace
notification names. Model versions the management frontend marked deleted
(no ``valid`` field) are finalized here, as the original's frontend does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from clipper_protocol import redis_schema as rs
from clipper_protocol import selection_schema as ss
from clipper_protocol.input_types import InvalidInputType
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.redis_state.connector import RedisConnector

log = logging.getLogger("clipper.query_frontend.config")

WATCHED_DBS = (rs.RedisDB.STATE, rs.RedisDB.MODELS, rs.RedisDB.APPLICATIONS, rs.RedisDB.METADATA,
               rs.RedisDB.APP_MODEL_LINKS)
"""DBs followed through notifications (DB 1 too: other frontends' feedback changes learned states)."""


class ConfigReader:
    """Snapshot and single-key reads of the configuration."""

    def __init__(
        self,
        config: ClusterConfig,
        connector: RedisConnector,
        on_model_removed: Callable[[str, str], None],
        on_model_changed: Callable[[rs.ModelRecord], None],
        on_app_added: Callable[[AppConfig], None],
    ) -> None:
        self.config = config
        self.connector = connector
        self._on_model_removed = on_model_removed
        self._on_model_changed = on_model_changed
        self._on_app_added = on_app_added
        self.snapshots_started = 0
        self.snapshots_completed = 0
        self._changes = 0  # notifications and snapshots applied: a read racing one of them is older

    def _db(self, db: rs.RedisDB) -> aioredis.Redis:
        return self.connector.db(db)

    async def apply(self, channel: str) -> None:
        """Re-read what a keyspace notification (``__keyspace@<db>__:<key>``) names."""
        self._changes += 1
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
        """Read the whole configuration and replace the in-memory view.

        ``snapshots_started`` and ``snapshots_completed`` count the reads: a
        snapshot that started after a write has seen it once it completed.
        """
        self.snapshots_started += 1
        self._changes += 1
        await self._read_snapshot()
        self.snapshots_completed += 1

    async def _read_snapshot(self) -> None:
        apps_db, links_db = self._db(rs.RedisDB.APPLICATIONS), self._db(rs.RedisDB.APP_MODEL_LINKS)
        models_db, meta_db = self._db(rs.RedisDB.MODELS), self._db(rs.RedisDB.METADATA)
        app_names = [k async for k in apps_db.scan_iter(count=1000)]
        model_keys = [k async for k in models_db.scan_iter(count=1000)]
        version_keys = [k async for k in meta_db.scan_iter(match=rs.CURRENT_MODEL_VERSION_PREFIX + "*", count=1000)]
        apps: dict[str, AppConfig] = {}
        for name in app_names:
            app = await self._read_app(name)
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
            self._on_app_added(apps[name])
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

    async def _read_app(self, name: str) -> AppConfig | None:
        raw = await self._db(rs.RedisDB.APPLICATIONS).hgetall(name)
        if not raw:
            return None
        links = await self._db(rs.RedisDB.APP_MODEL_LINKS).smembers(name)
        try:
            return AppConfig.from_record(
                rs.ApplicationRecord.from_hash(name, raw), [str(m) for m in links],
                _text_or_none(raw.get(ss.PARAMS_FIELD)),
            )
        except (KeyError, ValueError, InvalidInputType) as e:
            log.warning("Ignoring malformed application %r: %s", name, e)
            return None

    async def refresh_app(self, name: str) -> None:
        """Read application ``name`` now, for a query that named it before its notification arrived.

        (A client may register or link and query at once.) What it read is
        dropped if a notification or snapshot was applied meanwhile: that
        one is at least as new.
        """
        before = self._changes
        app = await self._read_app(name)
        if self._changes == before:
            await self._install_app(name, app)

    async def _reload_app(self, name: str) -> None:
        await self._install_app(name, await self._read_app(name))

    async def _install_app(self, name: str, app: AppConfig | None) -> None:
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
            self._on_app_added(app)
        elif old.linked_models != app.linked_models:
            log.info("Application %s now links %s", name, app.linked_models)

    async def _reload_current_version(self, model_name: str) -> None:
        version = await self._db(rs.RedisDB.METADATA).get(rs.current_version_key(model_name))
        if version is None:
            self.config.current_versions.pop(model_name, None)
        elif self.config.current_versions.get(model_name) != version:
            self.config.current_versions[model_name] = str(version)
            log.info("Model %s now serves version %s", model_name, version)

    async def _reload_model(self, name: str, version: str) -> None:
        raw = await self._db(rs.RedisDB.MODELS).hgetall(rs.model_key(name, version))
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
        containers = self._db(rs.RedisDB.CONTAINERS)
        keys = [k async for k in containers.scan_iter(match=rs.container_pattern(name, version))]
        if keys:
            await containers.delete(*keys)
        await self._db(rs.RedisDB.MODELS).delete(rs.model_key(name, version))
        self.config.models.pop((name, version), None)
        self._on_model_removed(name, version)


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
