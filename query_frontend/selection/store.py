"""The learned selection states: an in-memory copy for queries, persisted through Redis.

Queries read :meth:`SelectionStore.state`, a dict lookup, never a Redis
round trip. Feedback writes through: :meth:`SelectionStore.record` stores
the change of each state field (its persistence adds them with
``HINCRBYFLOAT``), and the totals that come back, which include other
frontends' feedback, become the new in-memory copy. Other frontends' writes
arrive through :meth:`reload_key` (DB 1 keyspace notifications) and
:meth:`reload_app` (the periodic resync), both driven by the Redis follower.
The Redis access itself is :mod:`query_frontend.redis_state.selection_state`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from clipper_protocol import selection_schema as ss
from query_frontend.selection.base import PolicyState, SelectionPolicy

StateKey = tuple[str, int, str]  # (app, uid, policy name)


class StatePersistence(Protocol):
    """Where learned states are kept (Redis DB 1)."""

    async def add(self, key: StateKey, deltas: Mapping[str, float]) -> list[float] | None: ...

    async def read(self, redis_key: str) -> dict[str, float]: ...

    def scan(self, app: str, policy_name: str) -> AsyncIterator[tuple[StateKey, dict[str, float]]]: ...


class SelectionStore:
    """Learned states by (app, uid, policy); persisted once a persistence is attached."""

    def __init__(self) -> None:
        self._fields: dict[StateKey, dict[str, float]] = {}
        self._states: dict[StateKey, PolicyState] = {}
        self._persistence: StatePersistence | None = None

    def attach(self, persistence: StatePersistence) -> None:
        """Persist to (and refresh from) ``persistence``."""
        self._persistence = persistence

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
        """Persist ``after - before``; False if it could not be saved.

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
        if self._persistence is None:
            for f, d in deltas.items():
                current[f] = current.get(f, 0.0) + d
            self._set(key, current)
            return True
        totals = await self._persistence.add(key, deltas)
        if totals is None:
            return False
        current.update(zip(deltas, totals))
        self._set(key, current)
        return True

    async def reload_key(self, redis_key: str) -> None:
        """Re-read one learned-state hash after a keyspace notification."""
        parsed = ss.parse_state_key(redis_key)
        if parsed is None or self._persistence is None:
            return
        self._set(parsed, await self._persistence.read(redis_key))

    async def reload_app(self, app: str, policy_name: str) -> None:
        """Re-read every user's state of an app's policy (on (re)connect and resync)."""
        if self._persistence is None or policy_name == ss.DEFAULT_POLICY:
            return
        seen = set()
        async for parsed, fields in self._persistence.scan(app, policy_name):
            seen.add(parsed)
            self._set(parsed, fields)
        # States deleted in Redis (a policy reset) are forgotten here too.
        for key in [k for k in self._fields if k[0] == app and k[2] == policy_name and k not in seen]:
            self._set(key, {})

    def forget_app(self, app: str) -> None:
        for key in [k for k in self._fields if k[0] == app]:
            del self._fields[key]
        for key in [k for k in self._states if k[0] == app]:
            del self._states[key]
