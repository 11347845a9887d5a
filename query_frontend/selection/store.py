"""The learned selection state: an in-memory copy for queries, Redis for feedback.

Queries read :meth:`SelectionStore.state` — a dict lookup, never a Redis
round trip. Feedback writes through: :meth:`SelectionStore.record` adds the
change of each state field with ``HINCRBYFLOAT`` in one ``MULTI`` block,
and the totals Redis returns (which include other frontends' feedback)
become the new in-memory copy. Other frontends' writes arrive through DB 1
keyspace notifications (:meth:`reload_key`) and the periodic resync
(:meth:`reload_app`), both driven by ``ConfigSync``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from clipper_protocol import selection_schema as ss
from query_frontend.selection.base import PolicyState, SelectionPolicy

log = logging.getLogger("clipper.query_frontend.selection")

StateKey = tuple[str, int, str]  # (app, uid, policy name)


class SelectionStore:
    """Learned states by (app, uid, policy); Redis-backed once a client is attached."""

    def __init__(self) -> None:
        self._fields: dict[StateKey, dict[str, float]] = {}
        self._states: dict[StateKey, PolicyState] = {}
        self._client: aioredis.Redis | None = None

    def attach(self, client: aioredis.Redis) -> None:
        """Persist to (and refresh from) Redis DB 1 through ``client``."""
        self._client = client

    def state(self, app: str, uid: int, policy: SelectionPolicy) -> PolicyState:  # type: ignore[type-arg]
        """The state queries use now; the policy's initial state if none is known."""
        key = (app, uid, policy.name)
        state = self._states.get(key)
        if state is None:
            state = policy.state_from_fields(self._fields.get(key, {}))
            self._states[key] = state
        return state

    def fields(self, app: str, uid: int, policy_name: str) -> dict[str, float]:
        """The raw fields of a state (for inspection and tests)."""
        return dict(self._fields.get((app, uid, policy_name), {}))

    def _set(self, key: StateKey, fields: dict[str, float]) -> None:
        self._fields[key] = fields
        # Rebuilt lazily by the policy that reads it (the policy parses fields).
        self._states.pop(key, None)

    async def record(
        self,
        app: str,
        uid: int,
        policy: SelectionPolicy,  # type: ignore[type-arg]
        before: PolicyState,
        after: PolicyState,
    ) -> bool:
        """Persist ``after - before``; False if Redis could not take it.

        Only the difference is written, as increments, so feedback computed
        from a slightly stale copy still adds up exactly with everyone else's.
        """
        old = before.to_fields()
        deltas = {f: v - old.get(f, 0.0) for f, v in after.to_fields().items()}
        deltas = {f: d for f, d in deltas.items() if d != 0.0}
        key = (app, uid, policy.name)
        current = dict(self._fields.get(key, {}))
        if not deltas:
            return True
        if self._client is None:
            for f, d in deltas.items():
                current[f] = current.get(f, 0.0) + d
            self._set(key, current)
            return True
        redis_key = ss.state_key(app, uid, policy.name)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for f, d in deltas.items():
                    pipe.hincrbyfloat(redis_key, f, d)
                totals = await pipe.execute()
        except (RedisError, OSError) as e:
            log.warning("Could not record feedback for %s (uid %d) in Redis: %s", app, uid, e)
            return False
        current.update(zip(deltas, (float(t) for t in totals)))
        self._set(key, current)
        return True

    async def reload_key(self, redis_key: str) -> None:
        """Re-read one learned-state hash after a keyspace notification."""
        parsed = ss.parse_state_key(redis_key)
        if parsed is None or self._client is None:
            return
        raw = await self._client.hgetall(redis_key)
        self._set(parsed, _floats(raw))

    async def reload_app(self, app: str, policy_name: str) -> None:
        """Re-read every user's state of an app's policy (on (re)connect and resync)."""
        if self._client is None or policy_name == ss.DEFAULT_POLICY:
            return
        seen = set()
        async for redis_key in self._client.scan_iter(match=ss.state_key_pattern(app, policy_name), count=1000):
            parsed = ss.parse_state_key(str(redis_key))
            if parsed is None or parsed[0] != app:
                continue
            seen.add(parsed)
            self._set(parsed, _floats(await self._client.hgetall(redis_key)))
        # States deleted in Redis (a policy reset) are forgotten here too.
        for key in [k for k in self._fields if k[0] == app and k[2] == policy_name and k not in seen]:
            self._set(key, {})

    def forget_app(self, app: str) -> None:
        for key in [k for k in self._fields if k[0] == app]:
            del self._fields[key]
        for key in [k for k in self._states if k[0] == app]:
            del self._states[key]


def _floats(raw: Mapping[Any, Any]) -> dict[str, float]:
    out = {}
    for k, v in raw.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            log.warning("Ignoring malformed selection-state field %r=%r", k, v)
    return out
