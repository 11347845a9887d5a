"""Replica liveness: who leaves rotation, and when.

A replica leaves rotation when its TCP connection drops (detected at once
through the socket monitor and a mandatory-routing probe) or when it has
been silent longer than the activity timeout (a frozen or wedged process),
checked every tenth of that timeout. A replica that holds one batch far
past its SLO (a hung model) keeps its connection but gets no new batch
until it answers: that batch's queries are released at once, and the
queue's pull-based dispatch never hands a busy replica more work. Queued
queries whose deadline passed leave their queue on every check, even when
no replica is free. Both loops run under the frontend's TaskSupervisor.
"""

from __future__ import annotations

import asyncio
import logging
import time

from query_frontend.batching import ModelQueue
from query_frontend.errors import QueryExpired
from query_frontend.replicas import Replica
from query_frontend.rpc import KEEP_ALIVE, REQUEST_METADATA, RpcService

log = logging.getLogger("clipper.query_frontend.rpc")

STUCK_BATCH_MIN_S = 1.0
"""A batch unanswered for max(this, 5 x its SLO) marks its replica as hung."""
STUCK_BATCH_SLO_FACTOR = 5.0


class ReplicaLiveness:
    """The two liveness loops of an :class:`RpcService`."""

    def __init__(self, rpc: RpcService, activity_timeout_s: float, probe_interval_s: float) -> None:
        self.rpc = rpc
        self.activity_timeout_s = activity_timeout_s
        self.probe_interval_s = probe_interval_s

    async def watch_disconnections(self) -> None:
        """Drop the replicas whose connection closed, at each disconnection the socket reports."""
        while True:
            await self.rpc.socket.disconnection()
            self._probe_connections()
            # The ROUTER may still hold the pipe for a moment; look again.
            await asyncio.sleep(0.05)
            self._probe_connections()

    def _probe_connections(self) -> None:
        """Drop replicas whose connection is gone (mandatory routing fails)."""
        for replica in list(self.rpc.replicas.values()):
            if not self.rpc.socket.send(replica.identity, KEEP_ALIVE):
                self.rpc.remove(replica, "its connection closed", gone=True)

    async def watch_silence(self) -> None:
        """Probe quiet replicas, drop silent ones, quarantine hung ones, expire queued queries."""
        # A tenth of the timeout: a frozen replica is declared dead at most 10 % late.
        interval = max(0.05, min(self.probe_interval_s, self.activity_timeout_s / 10))
        while True:
            await asyncio.sleep(interval)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        rpc = self.rpc
        # Unread messages may be a "silent" replica's: after a stall of this
        # process, read them before declaring anyone dead (bounded, so a
        # frozen replica still goes under sustained overload).
        backlog = rpc.socket.input_waiting()
        rpc.socket.schedule_read()
        queues: set[ModelQueue] = set()
        for replica in list(rpc.replicas.values()):
            silent = now - replica.last_seen
            if silent > self.activity_timeout_s and not (backlog and silent < 2 * self.activity_timeout_s):
                rpc.remove(replica, f"it was silent for {silent:.1f} s")
                continue
            if silent > self.probe_interval_s:
                # Any container answers this with its metadata: a ping that
                # original containers understand too.
                if not rpc.socket.send(replica.identity, REQUEST_METADATA):
                    rpc.remove(replica, "its connection closed", gone=True)
                    continue
            self._check_stuck(replica, now)
            if replica.queue is not None:
                queues.add(replica.queue)
        for queue in queues:
            queue.drop_expired(now)

    def _check_stuck(self, replica: Replica, now: float) -> None:
        """Quarantine a replica whose batch is far past its SLO (a hung model)."""
        batch = replica.inflight
        if batch is None or replica.quarantined:
            return
        slo_s = max((t.slo_s for t in batch.tasks), default=0.0)
        waited = now - batch.sent_at
        if waited <= max(STUCK_BATCH_MIN_S, STUCK_BATCH_SLO_FACTOR * slo_s):
            return
        replica.quarantined = True
        log.warning("Replica %s has not answered a batch of %d for %.1f s; no new batch goes to it until it does",
                    replica.label, len(batch.tasks), waited)
        # Its queries answered with the default long ago; release their entries.
        self.rpc.fail_tasks(batch.tasks, QueryExpired())
