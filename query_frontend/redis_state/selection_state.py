"""The learned selection states in Redis (DB 1 hashes ``<app>:<uid>:<policy>``).

Feedback adds the change of each field with ``HINCRBYFLOAT`` in one
``MULTI`` block, so feedback from several frontends adds up exactly; the
totals Redis returns become the in-memory copy
(:class:`query_frontend.selection.store.SelectionStore`). While Redis is
away, feedback fails at once instead of trying to connect.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import redis.exceptions

from clipper_protocol import redis_schema as rs
from clipper_protocol import selection_schema as ss
from query_frontend.redis_state.connector import CONNECTION_ERRORS, RedisConnector

log = logging.getLogger("clipper.query_frontend.selection")

StateKey = tuple[str, int, str]
"""(app, uid, policy name)."""


class SelectionStateRedis:
    """Reads and increments of learned states."""

    def __init__(self, connector: RedisConnector) -> None:
        self.connector = connector

    async def add(self, key: StateKey, deltas: Mapping[str, float]) -> list[float] | None:
        """Add ``deltas`` to the state's fields; the new totals, or None if Redis could not take them."""
        if not self.connector.connected.is_set():
            log.warning("Could not record feedback for %s (uid %d) in Redis: %s", key[0], key[1],
                        self.connector.last_error or "redis unreachable")
            return None
        redis_key = ss.state_key(*key)
        try:
            async with self.connector.db(rs.RedisDB.STATE).pipeline(transaction=True) as pipe:
                for f, d in deltas.items():
                    pipe.hincrbyfloat(redis_key, f, d)
                totals = await pipe.execute()
        except CONNECTION_ERRORS as e:
            self.connector.lost(e)
            log.warning("Could not record feedback for %s (uid %d) in Redis: %s", key[0], key[1], e)
            return None
        except redis.exceptions.RedisError as e:
            log.warning("Could not record feedback for %s (uid %d) in Redis: %s", key[0], key[1], e)
            return None
        return [float(t) for t in totals]

    async def read(self, redis_key: str) -> dict[str, float]:
        """One state's fields (raises the connection's errors: called while following Redis)."""
        return _floats(await self.connector.db(rs.RedisDB.STATE).hgetall(redis_key))

    async def scan(self, app: str, policy_name: str) -> AsyncIterator[tuple[StateKey, dict[str, float]]]:
        """Every user's state of an app's policy."""
        db = self.connector.db(rs.RedisDB.STATE)
        async for redis_key in db.scan_iter(match=ss.state_key_pattern(app, policy_name), count=1000):
            parsed = ss.parse_state_key(str(redis_key))
            if parsed is None or parsed[0] != app:
                continue
            yield parsed, _floats(await db.hgetall(redis_key))


def _floats(raw: Mapping[Any, Any]) -> dict[str, float]:
    out = {}
    for k, v in raw.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            log.warning("Ignoring malformed selection-state field %r=%r", k, v)
    return out
