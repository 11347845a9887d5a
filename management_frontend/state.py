"""All of the management frontend's Redis access.

The layout is the original's (:mod:`clipper_protocol.redis_schema`): apps in
DB 5, models in DB 2, current versions in DB 6, links in DB 7, containers in
DB 3 (read only here; the query frontend writes them) and selection state in
DB 1. Every mutation is one Lua script (:mod:`management_frontend.scripts`),
so its checks and writes are atomic; reads use one client per database.

Connectivity problems become :class:`StoreUnavailableError` (503) quickly:
short connect/command timeouts and a single retry, which also quietly
replaces pooled connections that died with a Redis restart. Redis answering
with an error becomes :class:`StoreError`.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from clipper_protocol.constants import ITEM_DELIMITER, ITEM_PART_CONCATENATOR
from clipper_protocol.redis_schema import (
    APP_POLICY_FIELD,
    ApplicationRecord,
    ContainerRecord,
    ModelRecord,
    RedisDB,
    container_key,
    current_version_key,
    model_key,
    model_versions_pattern,
    state_key,
)
from clipper_protocol import selection_schema as ss
from management_frontend.errors import StoreError, StoreUnavailableError
from management_frontend.scripts import Mutation, ScriptOutcome, ScriptRunner
from management_frontend.settings import Settings

logger = logging.getLogger("clipper.management_frontend.state")

P = ParamSpec("P")
T = TypeVar("T")

_SCAN_COUNT = 1000


def _guard(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Translate redis-py errors of a store method into the store's errors."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        store: RedisStateStore = args[0]  # type: ignore[assignment]
        try:
            result = await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            store._mark_unreachable(e)
            raise StoreUnavailableError(store.address, _reason(e)) from None
        except RedisError as e:
            store._mark_reachable()
            raise StoreError(f"Redis error in {method.__name__}: {e}") from e
        store._mark_reachable()
        return result

    return wrapper


def _reason(error: BaseException) -> str:
    text = str(error).strip().rstrip(".")
    if isinstance(error, RedisTimeoutError) and not text:
        text = "timed out"
    return text or type(error).__name__


class RedisStateStore:
    """The cluster's configuration in Redis, as the admin API sees it."""

    def __init__(self, settings: Settings) -> None:
        self.address = settings.redis_address
        self._clients: dict[RedisDB, aioredis.Redis] = {}
        for db in (
            RedisDB.STATE,
            RedisDB.MODELS,
            RedisDB.CONTAINERS,
            RedisDB.APPLICATIONS,
            RedisDB.METADATA,
            RedisDB.APP_MODEL_LINKS,
        ):
            pool = aioredis.BlockingConnectionPool(
                host=settings.redis_ip,
                port=settings.redis_port,
                password=settings.redis_password or None,
                db=int(db),
                decode_responses=True,
                # Bytes that are not UTF-8 (corrupt or hostile values) are
                # read as U+FFFD: such a record is ignored or shown, never a 500.
                encoding_errors="replace",
                socket_connect_timeout=settings.redis_timeout_s,
                socket_timeout=settings.redis_timeout_s,
                # One retry, no backoff: replaces a connection killed by a
                # Redis restart without stretching the time to a 503.
                retry=Retry(NoBackoff(), 1),
                max_connections=settings.redis_max_connections,
                timeout=settings.redis_timeout_s,
            )
            self._clients[db] = aioredis.Redis.from_pool(pool)
        # Scripts select their databases themselves; any client can run them.
        self._scripts = ScriptRunner(self._clients[RedisDB.APPLICATIONS])
        self._reachable: bool | None = None

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    # -- reachability, logged on change only ---------------------------------

    def _mark_unreachable(self, error: BaseException) -> None:
        if self._reachable is not False:
            logger.warning("Redis at %s is unreachable: %s", self.address, _reason(error))
        self._reachable = False

    def _mark_reachable(self) -> None:
        if self._reachable is False:
            logger.info("Redis at %s is reachable again", self.address)
        self._reachable = True

    @_guard
    async def ping(self) -> None:
        await self._clients[RedisDB.APPLICATIONS].ping()

    # -- applications (DB 5), links (DB 7), selection state (DB 1) ----------

    @_guard
    async def add_application(self, app: ApplicationRecord) -> ScriptOutcome:
        """``OK``, or ``EXISTS`` if an app of that name is registered."""
        fields = [x for pair in app.to_hash().items() for x in pair]
        return await self._scripts.run(Mutation.ADD_APPLICATION, [app.name], fields)

    @_guard
    async def delete_application(self, name: str) -> ScriptOutcome:
        """Delete the app, its links and its selection state: ``OK`` or ``MISSING``."""
        learned = [ss.state_key_pattern(name, policy) for policy in ss.POLICIES if policy != ss.DEFAULT_POLICY]
        return await self._scripts.run(Mutation.DELETE_APPLICATION, [name, name, state_key(name, 0)], learned)

    @_guard
    async def get_application(self, name: str) -> ApplicationRecord | None:
        raw = await self._clients[RedisDB.APPLICATIONS].hgetall(name)
        return _application(name, raw)

    @_guard
    async def list_application_names(self) -> list[str]:
        return await self._scan(RedisDB.APPLICATIONS)

    @_guard
    async def list_applications(self) -> list[tuple[ApplicationRecord, list[str]]]:
        """Every app with its linked models, in name order."""
        names = await self._scan(RedisDB.APPLICATIONS)
        async with self._clients[RedisDB.APPLICATIONS].pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(name)
            hashes = await pipe.execute()
        async with self._clients[RedisDB.APP_MODEL_LINKS].pipeline(transaction=False) as pipe:
            for name in names:
                pipe.smembers(name)
            links = await pipe.execute()
        result = []
        for name, raw, linked in zip(names, hashes, links):
            app = _application(name, raw)
            if app is not None:  # deleted between the scan and the read
                result.append((app, sorted(str(m) for m in linked)))
        return result

    @_guard
    async def get_linked_models(self, app_name: str) -> list[str]:
        return sorted(str(m) for m in await self._clients[RedisDB.APP_MODEL_LINKS].smembers(app_name))

    @_guard
    async def add_model_link(self, app_name: str, model_names: Sequence[str]) -> ScriptOutcome:
        """Link models to an app after every check (see ``scripts.ADD_MODEL_LINKS``): one
        model under the default policy, as the original; several under another policy."""
        return await self._scripts.run(Mutation.ADD_MODEL_LINKS, [app_name, app_name], list(model_names))

    @_guard
    async def remove_model_links(self, app_name: str, model_names: Sequence[str]) -> ScriptOutcome:
        """``OK``, ``NO_APP``, or ``NOT_LINKED <model>`` (then nothing is removed)."""
        return await self._scripts.run(Mutation.REMOVE_MODEL_LINKS, [app_name, app_name], list(model_names))

    @_guard
    async def get_selection_state(self, app_name: str, uid: int) -> str | None:
        value = await self._clients[RedisDB.STATE].get(state_key(app_name, uid))
        return None if value is None else str(value)

    @_guard
    async def set_selection_policy(self, app_name: str, policy: str, params_json: str) -> ScriptOutcome:
        """``OK <old policy>``, ``NO_APP`` or ``TOO_MANY_LINKS <n>`` (see ``scripts.SET_SELECTION_POLICY``)."""
        return await self._scripts.run(
            Mutation.SET_SELECTION_POLICY,
            [app_name, app_name],
            [policy, params_json, ss.state_key_pattern(app_name, policy)],
        )

    @_guard
    async def get_selection(self, app_name: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """The app's hash and the learned state (uid 0) of its policy; None if there is no such app."""
        raw = _strings(await self._clients[RedisDB.APPLICATIONS].hgetall(app_name))
        if not raw:
            return None
        policy = raw.get(APP_POLICY_FIELD, ss.DEFAULT_POLICY)
        state = _strings(await self._clients[RedisDB.STATE].hgetall(ss.state_key(app_name, 0, policy)))
        return raw, state

    # -- models (DB 2) and current versions (DB 6) ----------------------------

    @_guard
    async def add_model(self, model: ModelRecord) -> ScriptOutcome:
        """Add a version and make it current: ``OK``, ``EXISTS`` or ``CONFLICT <app> <type>``."""
        fields = [x for pair in model.to_hash().items() for x in pair]
        return await self._scripts.run(
            Mutation.ADD_MODEL,
            [model_key(model.model_name, model.model_version), current_version_key(model.model_name)],
            [model.model_name, model.model_version, model.input_type, *fields],
        )

    @_guard
    async def set_model_version(self, name: str, version: str) -> ScriptOutcome:
        """``OK``, ``NO_MODEL``, ``NO_VERSION``, ``INVALID`` or ``CONFLICT <app> <type> <type>``."""
        return await self._scripts.run(
            Mutation.SET_MODEL_VERSION,
            [model_key(name, version), current_version_key(name)],
            [name, version, model_versions_pattern(name)],
        )

    @_guard
    async def delete_model_version(self, name: str, version: str) -> ScriptOutcome:
        """Remove the ``valid`` field: ``OK``, ``MISSING`` or ``INVALID``."""
        return await self._scripts.run(Mutation.DELETE_MODEL_VERSION, [model_key(name, version)], [])

    @_guard
    async def get_model(self, name: str, version: str) -> ModelRecord | None:
        raw = await self._clients[RedisDB.MODELS].hgetall(model_key(name, version))
        return _model(model_key(name, version), raw)

    @_guard
    async def list_model_keys(self) -> list[str]:
        """``<name>:<version>`` of every model version, in order."""
        return await self._scan(RedisDB.MODELS)

    @_guard
    async def list_models(self) -> list[ModelRecord]:
        keys = await self._scan(RedisDB.MODELS)
        async with self._clients[RedisDB.MODELS].pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            hashes = await pipe.execute()
        return [m for key, raw in zip(keys, hashes) if (m := _model(key, raw)) is not None]

    @_guard
    async def get_current_versions(self, names: Sequence[str]) -> dict[str, str | None]:
        unique = sorted(set(names))
        if not unique:
            return {}
        values = await self._clients[RedisDB.METADATA].mget(
            [current_version_key(n) for n in unique]
        )
        return {n: None if v is None else str(v) for n, v in zip(unique, values)}

    # -- containers (DB 3, written by the query frontend) ---------------------

    @_guard
    async def list_container_keys(self) -> list[str]:
        return await self._scan(RedisDB.CONTAINERS)

    @_guard
    async def list_containers(self) -> list[ContainerRecord]:
        keys = await self._scan(RedisDB.CONTAINERS)
        async with self._clients[RedisDB.CONTAINERS].pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            hashes = await pipe.execute()
        return [c for key, raw in zip(keys, hashes) if (c := _container(key, raw)) is not None]

    @_guard
    async def get_container(self, name: str, version: str, replica_id: int) -> ContainerRecord | None:
        key = container_key(name, version, replica_id)
        return _container(key, await self._clients[RedisDB.CONTAINERS].hgetall(key))

    # -- helpers ----------------------------------------------------------------

    async def _scan(self, db: RedisDB) -> list[str]:
        # SCAN rather than the original's KEYS: same result, no long block of Redis.
        keys = {str(k) async for k in self._clients[db].scan_iter(count=_SCAN_COUNT)}
        return sorted(keys)


def _strings(raw: dict[Any, Any]) -> dict[str, str]:
    # The clients decode responses: keys and values are already str.
    return {str(k): str(v) for k, v in raw.items()}


def _application(name: str, raw: dict[Any, Any]) -> ApplicationRecord | None:
    if not raw:
        return None
    try:
        return ApplicationRecord.from_hash(name, raw)
    except (KeyError, ValueError) as e:
        logger.warning("ignoring malformed application %r in Redis: %s", name, e)
        return None


def _model(key: str, raw: dict[Any, Any]) -> ModelRecord | None:
    if not raw:
        return None
    try:
        return ModelRecord.from_hash(raw)
    except (KeyError, ValueError) as e:
        logger.warning("ignoring malformed model %r in Redis: %s", key, e)
        return None


def _container(key: str, raw: dict[Any, Any]) -> ContainerRecord | None:
    if not raw:
        return None
    try:
        return ContainerRecord.from_hash(raw)
    except (KeyError, ValueError) as e:
        logger.warning("ignoring malformed container %r in Redis: %s", key, e)
        return None


def container_id_from_key(key: str) -> str | None:
    """``<name>:<version>:<replica>`` for a DB 3 key ``<name>,<version>,<replica>``."""
    parts = key.split(ITEM_DELIMITER)
    if len(parts) != 3:
        return None
    return ITEM_PART_CONCATENATOR.join(parts)


def decode_selection_state(raw: str) -> str:
    """The default output held in a DB 1 state value ``{"y_hat": ...}``."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, dict) and isinstance(value.get("y_hat"), str):
        return str(value["y_hat"])
    return raw
