"""An open-loop HTTP load generator: requests go out on a fixed schedule.

Request ``i`` is scheduled at ``start + i / rate`` whether or not earlier
ones have answered, and its latency is measured from that scheduled time, not
from when the client managed to send it: a stalled server cannot slow the
arrivals down and hide its own latency (no coordinated omission). Runs are
bounded both in requests and in seconds.

Each request body is built by a callable from its sequence number and its
scheduled wall-clock time, so inputs can be unique (no cache hits) and can
carry their send time for the model to see.

Each record also keeps its ``send_lag``: how late this client started the
request. The generator never waits for answers, so a send lag is the
client's own CPU starvation (on a 2-core machine it shares the CPUs with the
cluster); :attr:`Record.service_latency` leaves it out.

The client runs in the test process, whose heap grows with every test before
it (frameworks imported, clusters started): a full garbage collection there
takes tens of milliseconds, which would land on whichever answers were in
flight. A run therefore freezes the objects that exist when it starts
(:func:`gc.freeze`), so the collector only scans what the run itself made.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

BodyFactory = Callable[[int, float], dict[str, Any]]


@dataclass(slots=True)
class Record:
    """One request's outcome."""

    seq: int
    scheduled: float
    """Seconds since the run's start at which it was due."""
    latency: float
    """Seconds from ``scheduled`` to the full response (or the error)."""
    status: int
    """HTTP status; 0 for a connection error or client timeout."""
    default: bool | None = None
    explanation: str | None = None
    output: Any = None
    error: str | None = None
    send_lag: float = 0.0
    """Seconds from ``scheduled`` until this client started sending it."""

    @property
    def service_latency(self) -> float:
        """Latency from the moment the request started out (excludes client send lag)."""
        return self.latency - self.send_lag

    @property
    def done_at(self) -> float:
        """Seconds since the run's start at which the answer arrived."""
        return self.scheduled + self.latency

    @property
    def ok(self) -> bool:
        """HTTP 200 with either a model output or a default."""
        return self.status == 200 and self.default is not None


def doubles_body(seq: int, wall: float) -> dict[str, Any]:
    """A unique doubles input ``[seq, send wall-clock time]``."""
    return {"input": [float(seq), wall]}


@dataclass
class LoadResult:
    """Records of one run, in schedule order, and the run's wall-clock start."""

    records: list[Record]
    wall_start: float
    mono_start: float

    def window(self, t0: float, t1: float = float("inf")) -> list[Record]:
        """Records scheduled in ``[t0, t1)`` seconds after the start."""
        return [r for r in self.records if t0 <= r.scheduled < t1]

    def max_latency(self, records: Sequence[Record] | None = None) -> float:
        recs = self.records if records is None else records
        return max((r.latency for r in recs), default=0.0)

    def default_rate(self, t0: float = 0.0, t1: float = float("inf")) -> float:
        recs = self.window(t0, t1)
        return sum(1 for r in recs if r.default) / len(recs) if recs else 0.0

    def failures(self) -> list[Record]:
        """Requests that did not get HTTP 200 with an output or a default."""
        return [r for r in self.records if not r.ok]

    def defaults(self, explanation_contains: str = "") -> list[Record]:
        return [r for r in self.records if r.default and explanation_contains in (r.explanation or "")]

    def max_send_lag(self) -> float:
        return max((r.send_lag for r in self.records), default=0.0)

    def summary(self) -> str:
        n = len(self.records)
        return (f"{n} requests, {len(self.failures())} failed, {len(self.defaults())} defaults, "
                f"max latency {self.max_latency() * 1000:.1f} ms, max send lag {self.max_send_lag() * 1000:.1f} ms")


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the collector off the objects that exist now (the test process's history) for the block.

    No collection first: on a large heap it takes as long as the pause it avoids, and a caller's
    ``start_at`` is already fixed.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def run_open_loop(
    url: str,
    rate: float,
    duration_s: float,
    body: BodyFactory = doubles_body,
    max_requests: int | None = None,
    timeout_s: float = 5.0,
    on_tick: Callable[[float], None] | None = None,
    start_at: float | None = None,
) -> LoadResult:
    """POST ``body(i, wall)`` to ``url`` at ``rate`` per second for ``duration_s``.

    At most ``max_requests`` requests (default ``rate * duration_s``); the run
    then waits for every answer, each bounded by ``timeout_s``. ``on_tick`` is
    called with the elapsed time before each send (for test hooks).
    ``start_at`` (event-loop time) fixes the schedule's origin, so a test can
    time its faults on the same clock; by default it is 50 ms from now.
    """
    total = int(rate * duration_s) if max_requests is None else min(max_requests, int(rate * duration_s))
    records: list[Record | None] = [None] * total
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    loop = asyncio.get_running_loop()
    with frozen_heap():
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            mono_start = loop.time() + 0.05 if start_at is None else start_at
            wall_start = time.time() + (mono_start - loop.time())
            tasks: list[asyncio.Task[None]] = []
            for i in range(total):
                due = mono_start + i / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if on_tick is not None:
                    on_tick(loop.time() - mono_start)
                payload = orjson.dumps(body(i, wall_start + (due - mono_start)))
                tasks.append(asyncio.create_task(_one(session, url, payload, i, due, mono_start, records)))
            await asyncio.gather(*tasks)
    return LoadResult([r for r in records if r is not None], wall_start, mono_start)


async def burst(url: str, n: int, body: BodyFactory = doubles_body, timeout_s: float = 5.0,
                warm_url: str | None = None) -> LoadResult:
    """Send ``n`` requests at once (all scheduled at the same instant).

    One client process cannot put ``n`` requests on the wire at one instant:
    compare :attr:`Record.service_latency`, which starts when each request
    started out, with latency bounds.

    With ``warm_url``, ``n`` concurrent GETs to it first open ``n`` keep-alive
    connections, so the burst measures the server, not TCP handshakes.
    """
    records: list[Record | None] = [None] * n
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    with frozen_heap():
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if warm_url is not None:
                await asyncio.gather(*(_get(session, warm_url) for _ in range(n)))
            loop = asyncio.get_running_loop()
            mono_start = loop.time()
            wall_start = time.time()
            payloads = [orjson.dumps(body(i, wall_start)) for i in range(n)]
            await asyncio.gather(*(_one(session, url, p, i, mono_start, mono_start, records)
                                   for i, p in enumerate(payloads)))
    return LoadResult([r for r in records if r is not None], wall_start, mono_start)


async def _get(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(url) as resp:
        await resp.read()


async def _one(session: aiohttp.ClientSession, url: str, payload: bytes, seq: int, due: float,
               mono_start: float, records: list[Record | None]) -> None:
    loop = asyncio.get_running_loop()
    send_lag = loop.time() - due
    status = 0
    error: str | None = None
    doc: Any = None
    try:
        async with session.post(url, data=payload, headers={"Content-Type": "application/json"}) as resp:
            status = resp.status
            raw = await resp.read()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            error = f"non-JSON body: {raw[:100]!r}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        error = f"{type(e).__name__}: {e}"
    latency = loop.time() - due
    rec = Record(seq, due - mono_start, latency, status, error=error, send_lag=send_lag)
    if isinstance(doc, dict) and "default" in doc:
        rec.default = bool(doc["default"])
        rec.explanation = doc.get("default_explanation")
        rec.output = doc.get("output")
    elif isinstance(doc, dict):
        rec.error = error or f"unexpected body: {str(doc)[:200]}"
    records[seq] = rec
