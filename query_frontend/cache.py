"""The prediction cache: LRU over (model, version, input), bounded in bytes.

A miss creates a *pending* entry holding a future; identical queries that
arrive while it is pending wait on the same future, so one model evaluation
serves them all. Completed entries are evicted least-recently-used first
when the byte budget is exceeded; pending entries are never evicted (they are
not in the LRU order until they complete). Failures are never cached: a
failed entry is removed so the next identical query asks the model again.

Completed outputs are held as plain ``(raw, value)`` tuples, not as
:class:`ModelOutput` objects: the garbage collector stops tracking a tuple
of strings and numbers, so a cache of a hundred thousand entries adds
nothing to a full collection (as objects they made each one take 60–200 ms
under load, the frontend's worst latency tail).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

CacheKey = tuple[str, str, bytes]
_Held = tuple[bytes, object]
"""A completed output as the cache holds it: ``(raw, value)``."""

# Rough per-entry bookkeeping cost (dict slot, tuple, entry object), so that a
# cache of tiny outputs is still bounded by its byte budget.
_ENTRY_OVERHEAD_BYTES = 200


@dataclass(slots=True)
class ModelOutput:
    """A model's answer for one input: the raw string and its JSON value."""

    raw: bytes
    value: object


class PendingPrediction:
    """A prediction being computed; every identical query awaits ``future``."""

    __slots__ = ("key", "future", "deadline")

    def __init__(self, key: CacheKey, future: asyncio.Future[ModelOutput], deadline: float) -> None:
        self.key = key
        self.future = future
        # The latest deadline of any query waiting on it: the task stays
        # worth computing until then.
        self.deadline = deadline


class PredictionCache:
    """Byte-bounded LRU of completed outputs plus the pending ones."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = max(0, capacity_bytes)
        self._completed: OrderedDict[CacheKey, _Held] = OrderedDict()
        self._pending: dict[CacheKey, PendingPrediction] = {}
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._completed)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def get(self, key: CacheKey) -> ModelOutput | PendingPrediction | None:
        """A completed output (refreshing its recency), a pending entry, or None."""
        held = self._completed.get(key)
        if held is not None:
            self._completed.move_to_end(key)
            return ModelOutput(held[0], held[1])
        return self._pending.get(key)

    def start(self, key: CacheKey, deadline: float) -> PendingPrediction:
        """Register a pending prediction for ``key`` (which must be absent)."""
        fut: asyncio.Future[ModelOutput] = asyncio.get_running_loop().create_future()
        entry = PendingPrediction(key, fut, deadline)
        self._pending[key] = entry
        return entry

    def complete(self, entry: PendingPrediction, output: ModelOutput) -> None:
        """Resolve every waiter and keep the output, evicting LRU entries if needed."""
        if self._pending.get(entry.key) is entry:
            del self._pending[entry.key]
        if not entry.future.done():
            entry.future.set_result(output)
        cost = _cost(entry.key, output.raw)
        if cost > self.capacity_bytes or entry.key in self._completed:
            return
        self._completed[entry.key] = (output.raw, output.value)
        self.size_bytes += cost
        while self.size_bytes > self.capacity_bytes and self._completed:
            old_key, old = self._completed.popitem(last=False)
            self.size_bytes -= _cost(old_key, old[0])

    def fail(self, entry: PendingPrediction, error: BaseException) -> None:
        """Resolve every waiter with ``error`` and forget the entry."""
        if self._pending.get(entry.key) is entry:
            del self._pending[entry.key]
        if not entry.future.done():
            entry.future.set_exception(error)
            # Waiters that already gave up never retrieve it; don't warn.
            entry.future.exception()

    def clear_model(self, model_name: str, model_version: str) -> None:
        """Drop every completed output of one model version."""
        for key in [k for k in self._completed if k[0] == model_name and k[1] == model_version]:
            self.size_bytes -= _cost(key, self._completed.pop(key)[0])


def _cost(key: CacheKey, raw: bytes) -> int:
    return len(key[2]) + len(raw) + _ENTRY_OVERHEAD_BYTES
