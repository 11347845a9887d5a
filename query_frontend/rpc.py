"""The RPC service: the replica registry and the batch round trips of Clipper's RPC v3.

Replicas announce themselves with a new-container message and join their
model version's queue (:class:`query_frontend.model_queues.ModelQueues`),
which hands each idle replica one batch at a time through
:meth:`RpcService.send_batch`. Each in-flight batch is keyed by message id
on its replica, so a replica's death fails exactly its own queries. Answers
complete the pending predictions in the cache directly; then the queue
learns from the batch and gives the replica its next one.

Liveness (disconnections, silence, hung batches) is
:mod:`query_frontend.replica_liveness`; admission with a registration
secret is :mod:`query_frontend.rpc_admission`; the socket and its
edge-triggered read path are :mod:`query_frontend.rpc_socket`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Protocol

from clipper_protocol import rpc as wire
from query_frontend.batching import Task
from query_frontend.cache import PredictionCache
from query_frontend.errors import ModelFailed, QueryFailed, ReplicaLost
from query_frontend.model_queues import ModelQueues
from query_frontend.replicas import InFlightBatch, Replica, parse_output, remember
from query_frontend.rpc_admission import Admission
from query_frontend.rpc_socket import RouterSocket

log = logging.getLogger("clipper.query_frontend.rpc")

KEEP_ALIVE = wire.encode_frontend_heartbeat(wire.HeartbeatType.KEEP_ALIVE)
REQUEST_METADATA = wire.encode_frontend_heartbeat(wire.HeartbeatType.REQUEST_CONTAINER_METADATA)


class ReplicaRecordSink(Protocol):
    """Where connections and disconnections are recorded (Redis DB 3)."""

    def replica_connected(self, replica: Replica) -> None: ...

    def replica_disconnected(self, replica: Replica) -> None: ...


class RpcService:
    """Replica registry, heartbeats and batch round trips over one ROUTER socket."""

    def __init__(
        self,
        host: str,
        port: int,
        queues: ModelQueues,
        cache: PredictionCache,
        records: ReplicaRecordSink,
        rpc_secret: str = "",
        is_registered: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.socket = RouterSocket(host, port, self._handle)
        self.queues = queues
        self.cache = cache
        self.records = records
        self.admission = Admission(rpc_secret, is_registered)
        self.replicas: dict[bytes, Replica] = {}
        # Containers of deleted model versions: heard, never re-registered.
        self._retired: dict[bytes, None] = {}
        # Identities whose connection is known closed: their leftover queued
        # messages must not register them again.
        self._gone: dict[bytes, None] = {}
        self._connection_ids = itertools.count()
        self._msg_ids = itertools.count()

    @property
    def port(self) -> int:
        return self.socket.port

    def start(self) -> None:
        """Bind the ROUTER (raises ZMQError, e.g. port taken, with nothing left open)."""
        self.socket.bind()

    def close(self) -> None:
        """Take every replica out of rotation (their records are withdrawn), then close the socket."""
        for replica in list(self.replicas.values()):
            self.remove(replica, "the query frontend is shutting down")
        self.socket.close()

    # ------------------------------------------------------------ batches

    def send_batch(self, replica: Replica, tasks: list[Task]) -> bool:
        """Send ``tasks`` to ``replica``; False if it is unreachable (and now removed)."""
        msg_id = next(self._msg_ids) & 0xFFFFFFFF
        frames = wire.encode_prediction_request(msg_id, replica.input_type, [t.input for t in tasks])
        replica.inflight = InFlightBatch(msg_id, tasks, time.monotonic())
        if not self.socket.send(replica.identity, frames):
            replica.inflight = None
            self.remove(replica, "its connection is gone", gone=True)
            return False
        return True

    def _handle_response(self, replica: Replica, msg: wire.PredictionResponse, now: float) -> None:
        batch = replica.inflight
        if batch is None or batch.msg_id != msg.msg_id:
            log.warning("Replica %s answered unknown message %d; ignoring", replica.label, msg.msg_id)
            return
        replica.inflight = None
        if replica.quarantined:
            replica.quarantined = False
            log.warning("Replica %s answered again; back in rotation", replica.label)
        tasks = batch.tasks
        if len(msg.outputs) == len(tasks) and wire.is_shutting_down_response(msg.outputs):
            self._replica_stopping(replica, tasks)
            return
        failures = 0
        if len(msg.outputs) != len(tasks):
            log.error("Replica %s returned %d outputs for a batch of %d", replica.label, len(msg.outputs), len(tasks))
            self.fail_tasks(tasks, ModelFailed(f"the replica returned {len(msg.outputs)} output(s) for a batch "
                                               f"of {len(tasks)} input(s)"))
            failures = len(tasks)
        else:
            complete = self.cache.complete
            for task, raw in zip(tasks, msg.outputs):
                reason = wire.parse_error_output(raw)
                if reason is None:
                    complete(task.entry, parse_output(raw))
                else:
                    log.warning("Model %s failed on an input: %s", replica.label, reason)
                    self.cache.fail(task.entry, ModelFailed(reason))
                    failures += 1
        self.queues.batch_answered(replica, len(tasks), now - batch.sent_at, failures)

    def _replica_stopping(self, replica: Replica, tasks: list[Task]) -> None:
        """A stopping replica refused a batch: retire its connection, give the batch to another replica.

        Its heartbeats go on while it drains; retired, the connection is
        never registered again (a restarted container opens a new one).
        """
        self.remove(replica, "it is stopping (its batch goes to another replica)")
        remember(self._retired, replica.identity)
        if replica.queue is not None:
            replica.queue.requeue(tasks)

    def fail_tasks(self, tasks: list[Task], error: QueryFailed) -> None:
        for task in tasks:
            self.cache.fail(task.entry, error)

    # ------------------------------------------------------------ messages

    def _handle(self, frames: list[bytes]) -> None:
        identity = frames[0]
        if identity in self._gone:
            return  # queued before its connection closed
        try:
            msg = wire.decode_container_message(frames[1:])
        except wire.RpcProtocolError as e:
            log.warning("Dropping a malformed RPC message: %s", e)
            return
        now = time.monotonic()
        replica = self.replicas.get(identity)
        if replica is not None:
            replica.last_seen = now
        if isinstance(msg, wire.PredictionResponse):
            if replica is not None:
                self._handle_response(replica, msg, now)
        elif self.admission.rejected(identity):
            return  # never answered, never routed to
        elif isinstance(msg, wire.ContainerHeartbeat):
            if replica is not None or identity in self._retired:
                self.socket.send(identity, KEEP_ALIVE)
            else:
                self.socket.send(identity, self.admission.metadata_request(identity))
        elif replica is None and identity not in self._retired:
            self._register(identity, msg, now)
        # A known replica re-announcing itself answers a liveness probe.

    def _register(self, identity: bytes, msg: wire.NewContainer, now: float) -> None:
        if msg.rpc_version != wire.RPC_VERSION:
            log.error(
                "Refusing container %s:%s: it speaks RPC version %s, this frontend speaks %d",
                msg.model_name, msg.model_version, msg.rpc_version or "(none)", wire.RPC_VERSION,
            )
            return
        if not self.admission.admit(identity, msg):
            return
        replica = Replica(
            identity=identity,
            model_name=msg.model_name,
            model_version=msg.model_version,
            connection_id=next(self._connection_ids),
            input_type=msg.input_type,
            last_seen=now,
            link=self,
        )
        self.replicas[identity] = replica
        replica.queue = self.queues.queue_for(msg.model_name, msg.model_version)
        log.info("Model replica %s connected (input type %s)", replica.label, msg.input_type.canonical_name)
        self.records.replica_connected(replica)
        replica.queue.add_replica(replica)

    # ------------------------------------------------------------ removal

    def remove(self, replica: Replica, reason: str, gone: bool = False) -> None:
        """Take ``replica`` out of rotation; its in-flight queries fail with ReplicaLost."""
        if gone:
            remember(self._gone, replica.identity)
        if self.replicas.get(replica.identity) is not replica:
            return
        del self.replicas[replica.identity]
        replica.alive = False
        log.warning("Model replica %s removed from rotation: %s", replica.label, reason)
        if replica.queue is not None:
            replica.queue.remove_replica(replica)
        batch, replica.inflight = replica.inflight, None
        if batch is not None:
            self.fail_tasks(batch.tasks, ReplicaLost())
        self.records.replica_disconnected(replica)

    def remove_model_replicas(self, model_name: str, model_version: str, reason: str) -> None:
        """Take every replica of a model version out of rotation, for good."""
        for replica in list(self.replicas.values()):
            if replica.model_name == model_name and replica.model_version == model_version:
                self.remove(replica, reason)
                remember(self._retired, replica.identity)
