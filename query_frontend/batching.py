"""Per-model queues (the adaptive batch size is :mod:`query_frontend.batch_size`).

One :class:`ModelQueue` per model version holds the queries waiting for it,
ordered by deadline, and the replicas serving it. A replica carries at most
one batch at a time (pull-based load balancing, as the original): a batch is
sent the moment a replica is idle and work is waiting, so an idle system adds
no waiting at all; under load, queries accumulate while replicas are busy and
the next batch takes as many as the batch-size controller allows.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from query_frontend.batch_size import BatchSizeController as BatchSizeController  # re-exported
from query_frontend.cache import PendingPrediction
from query_frontend.drain_rate import DrainRate
from query_frontend.errors import QueryExpired

log = logging.getLogger("clipper.query_frontend.batching")

EXPIRY_MARGIN_S = 0.002
"""A task with less time than this left is expired, not sent: loopback
transit and the container's wake-up take about that long, so it would reach
the model after its deadline, when every query awaiting it has its default."""


BURST_GAP_S = 0.0005
"""Delayed batching ends once no query has arrived for this long: the burst
of queries released by the last batch's answers is in."""


@dataclass(slots=True, eq=False)
class Task:
    """One input to evaluate, on behalf of every query awaiting ``entry``."""

    entry: PendingPrediction
    input: bytes
    slo_s: float
    enqueued_at: float = field(default_factory=time.monotonic)


class ReplicaLike(Protocol):
    alive: bool


# Takes the replica the queue handed out (the RPC layer's Replica).
SendBatch = Callable[[Any, list[Task]], bool]
FailEntry = Callable[[PendingPrediction, BaseException], None]


class ModelQueue:
    """Queries waiting for one model version, and the replicas that serve it."""

    def __init__(
        self,
        model_name: str,
        model_version: str,
        send_batch: SendBatch,
        controller: BatchSizeController,
        max_queue_size: int,
        fail_entry: FailEntry,
        batch_wait_max_s: float = 0.0,
        batch_wait_fraction: float = 0.2,
    ) -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.controller = controller
        self.max_queue_size = max_queue_size
        self._send_batch = send_batch
        self._fail_entry = fail_entry
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = itertools.count()
        self._replicas: set[ReplicaLike] = set()
        self._idle: deque[ReplicaLike] = deque()
        self.batch_wait_max_s = batch_wait_max_s
        self.batch_wait_fraction = batch_wait_fraction
        self._wait_handle: asyncio.TimerHandle | None = None
        self._wait_done = False
        self._wait_until = 0.0
        self._wait_started = 0.0
        self._last_arrival = 0.0
        self.peak_length = 0
        """The longest the queue has been (a high-water mark for metrics and tests)."""
        self.drain_rate = DrainRate()
        """How fast its queries are answered (for a shed query's Retry-After)."""

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def num_replicas(self) -> int:
        return len(self._replicas)

    def add_replica(self, replica: ReplicaLike) -> None:
        if replica not in self._replicas:
            self._replicas.add(replica)
            self.replica_idle(replica)

    def remove_replica(self, replica: ReplicaLike) -> None:
        self._replicas.discard(replica)
        try:
            self._idle.remove(replica)
        except ValueError:
            pass

    def enqueue(self, task: Task) -> bool:
        """Queue ``task`` and dispatch if a replica is free; False if the queue is full."""
        if len(self._heap) >= self.max_queue_size:
            self.drop_expired(time.monotonic())
            if len(self._heap) >= self.max_queue_size:
                return False
        heap = self._heap
        heapq.heappush(heap, (task.entry.deadline, next(self._seq), task))
        if self._wait_handle is not None and self._last_arrival < self._wait_started:
            # The first query of the burst the wait is for: from now on the
            # wait ends once the burst does (checked when the timer fires).
            self._wait_handle.cancel()
            self._arm_wait(min(self._wait_until, task.enqueued_at + BURST_GAP_S), task.enqueued_at)
        self._last_arrival = task.enqueued_at
        if len(heap) > self.peak_length:
            self.peak_length = len(heap)
        if self._idle:
            self._dispatch()
        return True

    def requeue(self, tasks: list[Task]) -> None:
        """Put back tasks that could not be sent (their replica vanished)."""
        for task in tasks:
            heapq.heappush(self._heap, (task.entry.deadline, next(self._seq), task))
        self.peak_length = max(self.peak_length, len(self._heap))
        self._dispatch()

    def replica_idle(self, replica: ReplicaLike) -> None:
        """``replica`` can take a batch (just registered, or just answered)."""
        if replica in self._replicas and replica.alive:
            self._idle.append(replica)
            self._dispatch()

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self._idle and self._heap:
            limit = self.controller.batch_size()
            if self._delay_batch(limit, now):
                return
            replica = self._idle.popleft()
            if not replica.alive:
                continue
            batch = self._take_batch(limit, now)
            self._wait_done = False
            if not batch:
                self._idle.appendleft(replica)
                return
            if not self._send_batch(replica, batch):
                # The replica is gone; its batch goes back for another one.
                for task in batch:
                    heapq.heappush(self._heap, (task.entry.deadline, next(self._seq), task))

    def _delay_batch(self, limit: int, now: float) -> bool:
        """Delayed batching (Clipper paper, 4.3.2): hold a short batch briefly.

        Under concurrent load with immediate dispatch, closed-loop clients
        split into cohorts that alternate on the replica, each a fraction of
        the batch the model could take. Waiting for the burst of arrivals to
        end (no new query for ``BURST_GAP_S``) merges them. The wait is at
        most ``batch_wait_max_s`` and ``batch_wait_fraction`` of the model's
        own batch latency (so a cheap model barely waits); with no arrival at
        all it lasts the whole bound. It happens only after
        a batch of several queries (a lone client never waits), and never
        eats into a task's deadline margin.
        """
        if self._wait_handle is not None:
            if len(self._heap) < limit:
                return True
            self._cancel_wait()
            return False
        if (self._wait_done or self.batch_wait_max_s <= 0 or len(self._heap) >= limit
                or self.controller.last_size <= 1):
            return False
        wait = min(self.batch_wait_max_s, self.batch_wait_fraction * self.controller.latency_ewma_s)
        until = min(now + wait, self._heap[0][0] - 2 * EXPIRY_MARGIN_S)
        if until - now < 1e-4:
            return False
        self._wait_started = now
        self._wait_until = until
        self._arm_wait(until, now)
        return True

    def _arm_wait(self, at: float, now: float) -> None:
        loop = asyncio.get_running_loop()
        self._wait_handle = loop.call_at(loop.time() + (at - now), self._wait_over)

    def _wait_over(self) -> None:
        now = time.monotonic()
        if now < self._wait_until:
            quiet_at = self._last_arrival + BURST_GAP_S
            if quiet_at > now:
                # Queries are still arriving: wait for the burst to end.
                self._arm_wait(min(self._wait_until, quiet_at), now)
                return
        self._wait_handle = None
        self._wait_done = True
        self._dispatch()

    def _cancel_wait(self) -> None:
        if self._wait_handle is not None:
            self._wait_handle.cancel()
            self._wait_handle = None

    def drop_expired(self, now: float) -> None:
        """Remove the tasks at the front of the queue whose deadline has passed.

        The heap is ordered by each task's deadline when queued; a deadline
        extended since (an identical query joined) puts the task back.
        """
        heap = self._heap
        cutoff = now + EXPIRY_MARGIN_S
        while heap and heap[0][0] <= cutoff:
            _, _, task = heapq.heappop(heap)
            entry = task.entry
            if entry.future.done():
                continue
            if entry.deadline > cutoff:
                heapq.heappush(heap, (entry.deadline, next(self._seq), task))
            else:
                self._fail_entry(entry, QueryExpired())

    def _take_batch(self, limit: int, now: float) -> list[Task]:
        batch: list[Task] = []
        heap = self._heap
        cutoff = now + EXPIRY_MARGIN_S
        while heap and len(batch) < limit:
            _, _, task = heapq.heappop(heap)
            entry = task.entry
            if entry.future.done():
                continue
            if entry.deadline <= cutoff:
                # Every query awaiting it has already answered with the
                # default: running it now would be wasted work.
                self._fail_entry(entry, QueryExpired())
                continue
            batch.append(task)
        return batch

    def fail_all(self, error: BaseException) -> None:
        """Fail every waiting task (the model version is being removed)."""
        self._cancel_wait()
        while self._heap:
            _, _, task = heapq.heappop(self._heap)
            self._fail_entry(task.entry, error)

