"""Timing faults against an open-loop run, on the load generator's clock.

A test picks the schedule's origin (event-loop time), starts the load with
``start_at=origin`` and, alongside, runs coroutines that sleep until a given
offset, inject a fault and watch the query frontend's ``/state``; every time
it records is seconds since the same origin as the load's records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp


class Timeline:
    """Offsets from one origin on the running event loop's clock."""

    def __init__(self, lead_s: float = 0.2) -> None:
        self.loop = asyncio.get_running_loop()
        self.origin = self.loop.time() + lead_s

    def now(self) -> float:
        return self.loop.time() - self.origin

    async def until(self, offset_s: float) -> None:
        delay = self.origin + offset_s - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


class StateWatcher:
    """Polls the query frontend harness's ``/state`` (shared client session)."""

    def __init__(self, url: str, timeline: Timeline) -> None:
        self.url = url
        self.timeline = timeline
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def close(self) -> None:
        await self._session.close()

    async def get(self) -> dict[str, Any]:
        async with self._session.get(self.url) as resp:
            result: dict[str, Any] = await resp.json()
            return result

    async def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float, what: str,
                   interval_s: float = 0.02) -> float:
        """Poll until ``predicate(state)``; the offset at which it first held."""
        deadline = self.timeline.now() + timeout_s
        while True:
            state = await self.get()
            if predicate(state):
                return self.timeline.now()
            if self.timeline.now() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}: {state}")
            await asyncio.sleep(interval_s)

    async def sample(self, until_offset_s: float, interval_s: float = 0.05) -> list[tuple[float, dict[str, Any]]]:
        """States polled every ``interval_s`` until ``until_offset_s``, with their offsets."""
        samples = []
        while self.timeline.now() < until_offset_s:
            samples.append((self.timeline.now(), await self.get()))
            await asyncio.sleep(interval_s)
        return samples


def replicas_of(state: dict[str, Any], model: str, version: str | None = None) -> list[dict[str, Any]]:
    return [r for r in state["replicas"] if r["model"] == model and (version is None or r["version"] == version)]
