"""The RPC service: a ZeroMQ ROUTER speaking Clipper's RPC v3 to model replicas.

It owns the socket and the replica registry. Replicas announce themselves
with a new-container message, are added to their model version's queue, and
receive one batch at a time. Each in-flight batch is keyed by message id on
its replica, so a replica's death fails exactly its own queries.

A replica leaves rotation when its TCP connection drops (detected at once
through the socket monitor and a mandatory-routing probe) or when it has been
silent longer than the activity timeout (a frozen or wedged process).
A replica that holds one batch far past its SLO (a hung model) keeps its
connection but gets no new batch until it answers: that batch's queries are
released at once, and the queue's pull-based dispatch never hands a busy
replica more work.

With a registration secret, a container must prove it knows the secret
(``clipper_protocol.rpc.registration_proof`` over a per-connection nonce)
and claim a model version the management frontend registered; otherwise it
is never admitted and never routed a query.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

import orjson
import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from clipper_protocol import rpc as wire
from clipper_protocol.input_types import InputType
from query_frontend.tasks import cancel_and_wait
from query_frontend.batching import ModelQueue, Task
from query_frontend.cache import ModelOutput
from query_frontend.errors import ModelFailed, QueryExpired, ReplicaLost

log = logging.getLogger("clipper.query_frontend.rpc")

_KEEP_ALIVE = wire.encode_frontend_heartbeat(wire.HeartbeatType.KEEP_ALIVE)
_REQUEST_METADATA = wire.encode_frontend_heartbeat(wire.HeartbeatType.REQUEST_CONTAINER_METADATA)

STUCK_BATCH_MIN_S = 1.0
"""A batch unanswered for max(this, 5 x its SLO) marks its replica as hung."""
STUCK_BATCH_SLO_FACTOR = 5.0
_DRAIN_PER_WAKEUP = 256
"""Messages handled per call of the input reader before yielding to the loop."""
_MAX_REMEMBERED = 10000
"""Bound on remembered identities (retired, rejected) and logged rejections."""


@dataclass(slots=True)
class InFlightBatch:
    msg_id: int
    tasks: list[Task]
    sent_at: float


@dataclass(slots=True, eq=False)
class Replica:
    """A connected model container."""

    identity: bytes
    model_name: str
    model_version: str
    replica_id: int
    connection_id: int
    input_type: InputType
    last_seen: float
    queue: ModelQueue | None = None
    inflight: InFlightBatch | None = None
    alive: bool = True
    quarantined: bool = False
    """Holds a batch far past its SLO; gets no new batch until it answers."""

    @property
    def label(self) -> str:
        return f"{self.model_name}:{self.model_version}:{self.replica_id}"


def parse_output(raw: bytes) -> ModelOutput:
    """A model's string output, embedded as JSON when it is a valid document."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw.decode("utf-8", errors="replace")
    return ModelOutput(raw, value)


class RpcServer:
    """ROUTER socket, replica registry, heartbeats and batch round trips."""

    def __init__(
        self,
        host: str,
        port: int,
        get_queue: Callable[[str, str], ModelQueue],
        on_batch_done: Callable[[Replica, int, float], None],
        complete: Callable[[Task, ModelOutput], None],
        fail: Callable[[Task, BaseException], None],
        on_replica_added: Callable[[Replica], None],
        on_replica_removed: Callable[[Replica], None],
        activity_timeout_s: float = 30.0,
        probe_interval_s: float = 1.0,
        rpc_secret: str = "",
        is_registered: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._get_queue = get_queue
        self._on_batch_done = on_batch_done
        self._complete = complete
        self._fail = fail
        self._on_replica_added = on_replica_added
        self._on_replica_removed = on_replica_removed
        self.activity_timeout_s = activity_timeout_s
        self.probe_interval_s = probe_interval_s
        self.replicas: dict[bytes, Replica] = {}
        # Containers of deleted model versions: heard, never re-registered.
        self._retired: dict[bytes, None] = {}
        # Registration secret: containers without a valid proof are ignored
        # for good (per connection); nonces are derived from the identity
        # with a per-process key, so nothing is stored per challenge.
        self._secret = rpc_secret.encode()
        self._is_registered = is_registered
        self._nonce_key = os.urandom(32)
        self._rejected: dict[bytes, None] = {}
        self._logged_rejections: dict[tuple[str, str, str], None] = {}
        self._next_replica_id: dict[tuple[str, str], int] = {}
        self._connection_ids = itertools.count()
        self._msg_ids = itertools.count()
        self._ctx = zmq.asyncio.Context()
        self._sock: zmq.asyncio.Socket | None = None
        # Sends and receives go through a synchronous shadow of the same
        # socket: sends never block (NOBLOCK) and an unroutable identity must
        # raise at once. ZeroMQ's FD is edge-triggered and any operation may
        # consume the edge announcing input, so input is read by an FD reader
        # that drains until EAGAIN, and re-checked after every send.
        self._sender: zmq.Socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_scheduled = False
        self._fd = -1
        # Identities whose connection is known closed: their leftover queued
        # messages must not register them again.
        self._gone: dict[bytes, None] = {}
        self._monitor: zmq.asyncio.Socket | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100000)
        sock.setsockopt(zmq.RCVHWM, 100000)
        self._monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.bind(f"tcp://{self.host}:{self.port}")
        if self.port == 0:
            endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            self.port = int(endpoint.rsplit(":", 1)[1])
        self._sock = sock
        self._sender = zmq.Socket.shadow(sock.underlying)
        self._loop = asyncio.get_running_loop()
        fd = self._sender.getsockopt(zmq.FD)
        assert isinstance(fd, int)
        self._fd = fd
        self._loop.add_reader(fd, self._drain_input)
        log.info("RPC service listening on tcp://%s:%d", self.host, self.port)
        self._schedule_read()
        self._tasks = [
            asyncio.create_task(self._monitor_loop(), name="rpc-monitor"),
            asyncio.create_task(self._liveness_loop(), name="rpc-liveness"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._loop is not None and self._sender is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        for replica in list(self.replicas.values()):
            self._remove(replica, "the query frontend is shutting down")
        if self._sock is not None:
            self._sock.disable_monitor()
            self._sock.close(linger=0)
        if self._monitor is not None:
            self._monitor.close(linger=0)
        self._ctx.term()

    # ------------------------------------------------------------ sending

    def _send(self, identity: bytes, frames: list) -> bool:
        assert self._sender is not None
        try:
            self._sender.send_multipart([identity, *frames], flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.ZMQError as e:
            if e.errno in (zmq.EHOSTUNREACH, zmq.EAGAIN):
                return False
            raise
        finally:
            self._schedule_read()

    def send_batch(self, replica: Replica, tasks: list[Task]) -> bool:
        """Send ``tasks`` to ``replica``; False if it is unreachable (and now removed)."""
        msg_id = next(self._msg_ids) & 0xFFFFFFFF
        frames = wire.encode_prediction_request(msg_id, replica.input_type, [t.input for t in tasks])
        now = time.monotonic()
        replica.inflight = InFlightBatch(msg_id, tasks, now)
        if not self._send(replica.identity, frames):
            replica.inflight = None
            self._remove(replica, "its connection is gone", gone=True)
            return False
        return True

    # ------------------------------------------------------------ receiving

    def _schedule_read(self) -> None:
        """Drain input soon if any is waiting (an operation may have eaten the FD's edge)."""
        if self._read_scheduled or self._loop is None or self._sender is None:
            return
        events = self._sender.getsockopt(zmq.EVENTS)
        if isinstance(events, int) and events & zmq.POLLIN:
            self._read_scheduled = True
            self._loop.call_soon(self._drain_input)

    def _drain_input(self) -> None:
        """Handle the messages waiting, a bounded number per loop turn."""
        self._read_scheduled = False
        sync = self._sender
        if sync is None or self._loop is None:
            return
        for _ in range(_DRAIN_PER_WAKEUP):
            try:
                frames = sync.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._handle(frames)
            except Exception:
                log.exception("Failed to handle an RPC message; dropping it")
        self._schedule_read()  # more waiting: let other work run first

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
        elif identity in self._rejected:
            return  # never answered, never routed to
        elif isinstance(msg, wire.ContainerHeartbeat):
            if replica is not None or identity in self._retired:
                self._send(identity, _KEEP_ALIVE)
            elif self._secret:
                self._send(identity, wire.encode_frontend_heartbeat(
                    wire.HeartbeatType.REQUEST_CONTAINER_METADATA, self._nonce(identity)))
            else:
                self._send(identity, _REQUEST_METADATA)
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
        if self._secret and not self._admit(identity, msg):
            return
        key = (msg.model_name, msg.model_version)
        replica_id = self._next_replica_id.get(key, 0)
        self._next_replica_id[key] = replica_id + 1
        replica = Replica(
            identity=identity,
            model_name=msg.model_name,
            model_version=msg.model_version,
            replica_id=replica_id,
            connection_id=next(self._connection_ids),
            input_type=msg.input_type,
            last_seen=now,
        )
        self.replicas[identity] = replica
        replica.queue = self._get_queue(msg.model_name, msg.model_version)
        log.info("Model replica %s connected (input type %s)", replica.label, msg.input_type.canonical_name)
        self._on_replica_added(replica)
        replica.queue.add_replica(replica)

    def _nonce(self, identity: bytes) -> bytes:
        return hmac.new(self._nonce_key, identity, hashlib.sha256).digest()[:16]

    def _admit(self, identity: bytes, msg: wire.NewContainer) -> bool:
        """Check a container's proof and claim (registration secret on)."""
        if not wire.check_registration_proof(self._secret, self._nonce(identity), msg):
            # A wrong or missing proof will not improve: ignore this
            # connection for good (a ROUTER cannot close a peer's socket).
            _remember(self._rejected, identity)
            self._log_rejection(msg, "it did not prove it knows the RPC secret")
            return False
        if self._is_registered is not None and not self._is_registered(msg.model_name, msg.model_version):
            # Not blacklisted: the version may be registered a moment later
            # (deployers start replicas first); its next heartbeat re-asks.
            self._log_rejection(msg, "the management frontend has not registered that model version")
            return False
        return True

    def _log_rejection(self, msg: wire.NewContainer, reason: str) -> None:
        key = (msg.model_name, msg.model_version, reason)
        level = logging.DEBUG if key in self._logged_rejections else logging.WARNING
        _remember(self._logged_rejections, key)
        log.log(level, "Refusing a container claiming %s:%s: %s", msg.model_name, msg.model_version, reason)

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
        if len(msg.outputs) != len(tasks):
            log.error(
                "Replica %s returned %d outputs for a batch of %d",
                replica.label, len(msg.outputs), len(tasks),
            )
            error = ModelFailed()
            for task in tasks:
                self._fail(task, error)
        else:
            for task, raw in zip(tasks, msg.outputs):
                reason = wire.parse_error_output(raw)
                if reason is None:
                    self._complete(task, parse_output(raw))
                else:
                    log.warning("Model %s failed on an input: %s", replica.label, reason)
                    self._fail(task, ModelFailed())
        self._on_batch_done(replica, len(tasks), now - batch.sent_at)
        if replica.queue is not None:
            replica.queue.replica_idle(replica)

    # ------------------------------------------------------------ liveness

    async def _monitor_loop(self) -> None:
        assert self._monitor is not None
        while True:
            event = parse_monitor_message(await self._monitor.recv_multipart())
            if event["event"] == zmq.EVENT_DISCONNECTED:
                self._probe_connections()
                # The ROUTER may still hold the pipe for a moment; look again.
                await asyncio.sleep(0.05)
                self._probe_connections()

    def _probe_connections(self) -> None:
        """Drop replicas whose connection is gone (mandatory routing fails)."""
        for replica in list(self.replicas.values()):
            if not self._send(replica.identity, _KEEP_ALIVE):
                self._remove(replica, "its connection closed", gone=True)

    async def _liveness_loop(self) -> None:
        # A tenth of the timeout: a frozen replica is declared dead at most
        # 10 % late.
        interval = max(0.05, min(self.probe_interval_s, self.activity_timeout_s / 10))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            # Unread messages may be a "silent" replica's: after a stall of
            # this process, read them before declaring anyone dead (bounded,
            # so a frozen replica still goes under sustained overload).
            assert self._sender is not None
            events = self._sender.getsockopt(zmq.EVENTS)
            backlog = isinstance(events, int) and bool(events & zmq.POLLIN)
            self._schedule_read()
            queues = set()
            for replica in list(self.replicas.values()):
                silent = now - replica.last_seen
                if silent > self.activity_timeout_s and not (backlog and silent < 2 * self.activity_timeout_s):
                    self._remove(replica, f"it was silent for {silent:.1f} s")
                    continue
                if silent > self.probe_interval_s:
                    # Any container answers this with its metadata: a ping
                    # that original containers understand too.
                    if not self._send(replica.identity, _REQUEST_METADATA):
                        self._remove(replica, "its connection closed", gone=True)
                        continue
                self._check_stuck(replica, now)
                if replica.queue is not None:
                    queues.add(replica.queue)
            for queue in queues:
                # Expired queries leave the queue even when no replica is free.
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
        error = QueryExpired()
        for task in batch.tasks:
            self._fail(task, error)

    def _remove(self, replica: Replica, reason: str, gone: bool = False) -> None:
        if gone:
            _remember(self._gone, replica.identity)
        if self.replicas.get(replica.identity) is not replica:
            return
        del self.replicas[replica.identity]
        replica.alive = False
        log.warning("Model replica %s removed from rotation: %s", replica.label, reason)
        if replica.queue is not None:
            replica.queue.remove_replica(replica)
        batch, replica.inflight = replica.inflight, None
        if batch is not None:
            error = ReplicaLost()
            for task in batch.tasks:
                self._fail(task, error)
        self._on_replica_removed(replica)

    def remove_model_replicas(self, model_name: str, model_version: str, reason: str) -> None:
        """Take every replica of a model version out of rotation."""
        for replica in list(self.replicas.values()):
            if replica.model_name == model_name and replica.model_version == model_version:
                self._remove(replica, reason)
                _remember(self._retired, replica.identity)


def _remember(bounded: dict, key: object) -> None:
    """Add ``key`` to an insertion-ordered dict used as a bounded set."""
    bounded[key] = None
    while len(bounded) > _MAX_REMEMBERED:
        del bounded[next(iter(bounded))]
